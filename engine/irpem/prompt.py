"""The IRPEM prompt: one home for how a dialogue is shown to the intent model.

The prompt is two chat messages:

* a **system message** — short instructions, the registry's catalog of the enabled intents
  and the output rules (mode "full"), or one instruction line without the catalog (mode
  "short", for adapters trained that way). It depends only on the enabled set, never on the dialogue, so it is
  a fixed prefix whose KV cache the backend computes once and reuses on every turn;
* a **user message** — the last ``max_turns`` turns as a transcript, with image numbers
  (``[attached image #3]`` for user uploads, ``[produced image #4]`` for bot outputs) and the
  current image number.

The model answers with one compact JSON object (see ``canonical_json``). Training and eval
build their prompts with the same functions (``build_messages`` + ``encode_prompt``), so the
tokens a trained adapter sees are exactly the ones it sees at inference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.queue import DialogueTurn
    from engine.registry import Registry

# Per-turn cap of the transcript: a 4000-character message would otherwise cost ~1000
# prompt tokens per turn on a CPU. The intent is almost always in the first sentences.
TURN_MAX_CHARS = 500

_INTRO = (
    "You are DialogDraw's intent parser. Read the conversation, pick the ONE intent that "
    "serves the user's last message, fill its params, and write a short friendly response."
)
_RULES = (
    "Rules:\n"
    "- Images are numbered #1, #2, ... in order of appearance (uploads and results alike).\n"
    '- "image" params name one, e.g. "#2"; leave them out to use the current image.\n'
    "- If the request is unclear, use clarify and ask in response.\n"
    '- Answer with one JSON object only: {"intent":...,"params":{...},"response":"..."}'
)


# The "short" prompt leaves the catalog out: ~60 tokens instead of ~600, which makes
# training and every uncached prefill on a CPU several times cheaper. Only a trained
# adapter knows the intents without the catalog; decoding still offers only the enabled
# ones, since the grammar is built from the enabled set either way.
_SHORT = (
    "You are DialogDraw's intent parser. Answer the user's last message with one JSON object "
    '{"intent":...,"params":{...},"response":"..."}. Images are #1, #2, ...; '
    'leave "image" out to use the current one; if the request is unclear, use clarify.'
)
PROMPT_MODES = ("full", "short")


def system_prompt(registry: Registry, enabled: list[str] | None = None, mode: str = "full") -> str:
    """The fixed system message for this enabled set (same text for every turn)."""
    if mode == "short":
        return _SHORT
    if mode != "full":
        raise ValueError(f"unknown IRPEM prompt mode {mode!r} (one of {', '.join(PROMPT_MODES)})")
    return f"{_INTRO}\nIntents:\n{registry.catalog_text(enabled)}\n{_RULES}"


def _clean(text: str, reserved: Iterable[str] = ()) -> str:
    """One line of user-controlled text: newlines folded (a message cannot fake a
    transcript line such as "Current image: #9"), control tokens of the tokenizer
    defused (a zero-width space after the first character), length capped."""
    for tok in reserved:
        if tok and tok in text:
            text = text.replace(tok, tok[0] + "\u200b" + tok[1:])
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > TURN_MAX_CHARS:
        text = text[: TURN_MAX_CHARS - 1].rstrip() + "…"
    return text


def render_dialogue(
    dialogue: Sequence[DialogueTurn],
    current_image: int | None,
    max_turns: int = 8,
    reserved: Iterable[str] = (),
) -> str:
    """The user message: the last ``max_turns`` turns and the current image number."""
    reserved = tuple(reserved)
    turns = list(dialogue)[-max_turns:] if max_turns > 0 else []
    lines = []
    if len(dialogue) > len(turns):
        lines.append("(earlier turns omitted)")
    for turn in turns:
        who = "User" if turn.role == "user" else "Assistant"
        text = _clean(turn.text, reserved)
        tag = "attached image" if turn.role == "user" else "produced image"
        marks = " ".join(f"[{tag} #{n}]" for n in turn.images)
        lines.append(f"{who}: {' '.join(p for p in (text, marks) if p)}")
    if current_image is None:
        lines.append("Current image: none yet")
    else:
        lines.append(f"Current image: #{current_image}")
    return "\n".join(lines)


def build_messages(
    registry: Registry,
    dialogue: Sequence[DialogueTurn],
    current_image: int | None,
    enabled: list[str] | None = None,
    *,
    max_turns: int = 8,
    reserved: Iterable[str] = (),
    mode: str = "full",
) -> list[dict[str, str]]:
    """Chat messages for one IRPEM call: [system (fixed per enabled set), user (dialogue)].
    ``mode`` is "full" (the catalog in the system message) or "short" (no catalog)."""
    return [
        {"role": "system", "content": system_prompt(registry, enabled, mode)},
        {"role": "user", "content": render_dialogue(dialogue, current_image, max_turns, reserved)},
    ]


def reserved_strings(tokenizer: Any) -> list[str]:
    """The tokenizer's special/added token strings, which user text must not smuggle in."""
    found = set(getattr(tokenizer, "all_special_tokens", []) or [])
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for added in decoder.values():
        content = getattr(added, "content", None)
        if content:
            found.add(content)
    return sorted(t for t in found if len(t) > 1)


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids of the prompt as (prefix, rest): ``prefix`` is the system message as the
    chat template renders it, ``rest`` the remainder up to the assistant's turn.

    The two parts are tokenized separately and concatenated, so ``prefix`` is a true prefix
    of the ids the model sees whatever the dialogue is (re-tokenizing the joined text could
    merge tokens across the boundary). If a chat template does not render the system
    message as a text prefix of the full prompt, ``prefix`` is empty (no cache reuse).
    """
    full = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=False)
    if not full.startswith(head):
        head = ""
    ids = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"] if s else []  # noqa: E731
    return list(ids(head)), list(ids(full[len(head) :]))


def system_prefix_ids(
    tokenizer: Any, registry: Registry, enabled: list[str] | None = None, mode: str = "short"
) -> list[int]:
    """The ids every prompt of this enabled set and mode starts with: what the backend
    prefills once and caches, and what ``train sft --shared-prefix`` runs once per step."""
    return encode_prompt(tokenizer, build_messages(registry, [], None, enabled, mode=mode))[0]


def canonical_json(output: dict[str, Any], registry: Registry | None = None) -> str:
    """An IRPEM output as the constrained decoder writes it: compact separators, keys in
    the order intent, params, response, and (given the registry) params in the order of the
    intent's input fields. Use it for training targets."""
    params = dict(output.get("params") or {})
    if registry is not None:
        try:
            order = list(registry.inputs_model(output["intent"]).model_fields)
        except KeyError:
            order = []
        params = {k: params[k] for k in order if k in params} | {k: v for k, v in params.items() if k not in order}
    ordered = {"intent": output["intent"], "params": params, "response": output.get("response", "")}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)
