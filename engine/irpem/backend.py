"""The transformers IRPEM backend: a causal LM under grammar-constrained decoding.

Every answer is decoded under an xgrammar grammar compiled from the registry's output
schema for the enabled set (one ``anyOf`` branch per intent, each string bounded by
``maxLength``), so whatever the model's quality, a *finished* answer always parses and names
an enabled intent with well-formed inputs: structural conformity is 1.0 by construction.

The one way an answer can still be broken is running out of tokens mid-JSON
(``max_new_tokens``; an untrained model can babble a 300-character prompt string). Then —
and if validation should ever fail anyway — ``propose`` logs a warning and returns the
fallback ``{"intent":"clarify","params":{},"response":<FALLBACK_RESPONSE>}``: the user is
asked to rephrase instead of receiving an error, and nothing is executed.

Speed: the system part of the prompt (instructions + catalog) is fixed per enabled set. Its
KV cache (a ``DynamicCache``) is computed once per enabled set (LRU of 8) and every call
starts from a deep copy of it (~10 ms for 570 tokens), so a turn only prefills the dialogue;
the prefix ids are tokenized apart from the rest, so they are a true prefix of every prompt. ``cache_prefix=False`` turns this off (benchmarks).
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.irpem.adapter import read_training_config
from engine.irpem.prompt import build_messages, canonical_json, encode_prompt, reserved_strings, system_prefix_ids
from engine.irpem.smollm2 import resolve_base
from engine.registry import MAX_LISTED_IMAGES, IntentError

if TYPE_CHECKING:
    from engine.config import IrpemSettings
    from engine.queue import DialogueTurn
    from engine.registry import Registry

log = logging.getLogger(__name__)

FALLBACK_RESPONSE = "Sorry, I didn't quite catch that. Could you say it another way?"
SAMPLE_TEMPERATURE = 0.8
SAMPLE_TOP_P = 0.95
_MAX_CACHED_SETS = 8
_MAX_CACHED_GRAMMARS = 64
# Linear layers that stay float32 under [irpem] quantize = "int8" (see _int8_linears)
_FLOAT_LINEARS = ("down_proj",)


def fallback_output() -> str:
    return json.dumps({"intent": "clarify", "params": {}, "response": FALLBACK_RESPONSE}, separators=(",", ":"))


@dataclass
class _EnabledState:
    """What is fixed for one enabled set: the grammar and the system prefix (ids + KV)."""

    intents: tuple[str, ...]
    grammar: Any
    prefix_ids: list[int]
    prefix_cache: Any = None


@dataclass
class ProposeStats:
    """Numbers of the last ``propose`` call (for benchmarks and logs)."""

    prompt_tokens: int = 0
    prefix_tokens: int = 0
    prefix_reused: bool = False
    new_tokens: int = 0
    finished: bool = True
    fallback: bool = False
    seconds: float = 0.0
    prefill_seconds: float = 0.0  # prompt prefill + first token
    decode_seconds: float = 0.0  # every later token
    extra: dict[str, Any] = field(default_factory=dict)


class _Clock:
    """A generate() streamer that only timestamps: the first ``put`` is the prompt, the
    second the first new token, each later one a decoding step."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def put(self, value: Any) -> None:
        self.stamps.append(time.perf_counter())

    def end(self) -> None:
        self.stamps.append(time.perf_counter())


class TransformersIrpem:
    """IRPEM on a transformers causal LM (default: the packaged SmolLM2-135M-Instruct),
    optionally with a LoRA adapter (peft)."""

    def __init__(
        self,
        settings: IrpemSettings,
        registry: Registry,
        data_dir: str | Path,
        device: str = "cpu",
        *,
        cache_prefix: bool = True,
        dtype: str | None = None,
    ) -> None:
        import torch
        import xgrammar as xgr
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.settings = settings
        self.registry = registry
        self.device = torch.device(device)
        self.cache_prefix = cache_prefix
        if settings.threads:
            torch.set_num_threads(settings.threads)

        base = resolve_base(settings, Path(data_dir))
        if dtype is not None:  # e.g. "bfloat16": ~1.4x faster decoding on a CPU with avx512_bf16
            torch_dtype = getattr(torch, dtype)
        elif self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            torch_dtype = torch.bfloat16
        else:
            torch_dtype = torch.float32
        started = time.perf_counter()
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
        if settings.adapter:
            from peft import PeftModel

            # merged: inference then costs what the base costs, and int8 applies to the sum
            model = PeftModel.from_pretrained(model, settings.adapter).merge_and_unload()
        # an adapter is used with the prompt and dialogue window it was trained on, whatever
        # [irpem] prompt and dialogue_turns say
        trained = read_training_config(settings.adapter)
        self.prompt_mode = trained.get("prompt", settings.prompt)
        self.dialogue_turns = trained.get("dialogue_turns", settings.dialogue_turns)
        if self.prompt_mode != settings.prompt:
            log.info(
                "IRPEM adapter %s was trained with the %r prompt; using it (config says %r)",
                settings.adapter,
                self.prompt_mode,
                settings.prompt,
            )
        self.quantized = settings.quantize == "int8" and self.device.type == "cpu"
        if self.quantized:
            model = _int8_linears(model)
        self.model = model.to(self.device).eval()
        log.info(
            "IRPEM loaded: %s%s on %s%s (%.1f s)",
            base,
            f" + adapter {settings.adapter}" if settings.adapter else "",
            self.device,
            ", int8 linears" if self.quantized else "",
            time.perf_counter() - started,
        )

        gen_cfg = self.model.generation_config
        stop = set()
        for ids in (gen_cfg.eos_token_id, self.tokenizer.eos_token_id):
            if ids is None:
                continue
            stop.update(ids if isinstance(ids, (list, tuple)) else [ids])
        self.stop_token_ids = sorted(stop)
        self.pad_token_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_token_ids[0]
        )
        vocab_size = self.model.config.get_text_config().vocab_size
        info = xgr.TokenizerInfo.from_huggingface(
            self.tokenizer, vocab_size=vocab_size, stop_token_ids=self.stop_token_ids
        )
        self._compiler = xgr.GrammarCompiler(info)
        self._reserved = reserved_strings(self.tokenizer)
        self._states: OrderedDict[tuple[str, ...], _EnabledState] = OrderedDict()
        self._grammars: OrderedDict[tuple[tuple[str, ...], int, str | None], Any] = OrderedDict()
        self._lock = threading.RLock()
        self._head_ids: dict[str, list[int]] = {}
        self.last_stats = ProposeStats()

    # ----- per-enabled-set state -----

    def _state(self, enabled: list[str] | None) -> _EnabledState:
        key = tuple(self.registry.intents(enabled))
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            return state
        schema = _for_grammar(self.registry.output_schema(enabled, self.settings.response_max_chars))
        grammar = self._compiler.compile_json_schema(
            json.dumps(schema), any_whitespace=False, separators=(",", ":"), strict_mode=True
        )
        prefix_ids = system_prefix_ids(self.tokenizer, self.registry, enabled, self.prompt_mode)
        state = _EnabledState(key, grammar, prefix_ids)
        self._states[key] = state
        while len(self._states) > _MAX_CACHED_SETS:
            self._states.popitem(last=False)
        return state

    def _grammar(self, state: _EnabledState, enabled: list[str] | None, images: int, only: str | None = None) -> Any:
        """The grammar for this turn: only intents that can run with ``images`` images in
        the session, and only references to those images (and only the intent ``only``,
        if given). The prompt (and its cached prefix) is the same for every image count;
        only decoding narrows. Once the first compile is done, each new count compiles in
        well under 0.1 s."""
        if images > MAX_LISTED_IMAGES and only is None:
            return state.grammar
        key = (state.intents, images, only)
        grammar = self._grammars.get(key)
        if grammar is None:
            listed = images if images <= MAX_LISTED_IMAGES else None
            schema = _for_grammar(
                self.registry.output_schema(enabled, self.settings.response_max_chars, listed, only=only)
            )
            grammar = self._compiler.compile_json_schema(
                json.dumps(schema), any_whitespace=False, separators=(",", ":"), strict_mode=True
            )
            self._grammars[key] = grammar
            while len(self._grammars) > _MAX_CACHED_GRAMMARS:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(key)
        return grammar

    def _prefix_cache(self, state: _EnabledState) -> Any:
        import torch
        from transformers import DynamicCache

        if state.prefix_cache is None:
            cache = DynamicCache(config=self.model.config)
            ids = torch.tensor([state.prefix_ids], device=self.device)
            with torch.inference_mode():
                self.model(input_ids=ids, past_key_values=cache, use_cache=True)
            state.prefix_cache = cache
        return state.prefix_cache

    def warmup(self, enabled: list[str] | None = None) -> None:
        """Compile the grammar and prefill the system prefix for this enabled set now
        (the first grammar compile takes seconds) instead of on the first turn."""
        with self._lock:
            state = self._state(enabled)
            if self.cache_prefix and state.prefix_ids:
                self._prefix_cache(state)

    def prefix_token_count(self, enabled: list[str] | None = None) -> int:
        with self._lock:
            return len(self._state(enabled).prefix_ids)

    # ----- the IRPEM interface -----

    def propose(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
        *,
        sample: bool = False,
        seed: int | None = None,
        only: str | None = None,
    ) -> str:
        """The raw JSON answer for the dialogue's last turn: greedy by default, sampled
        (temperature 0.8, ``seed``) with ``sample=True``. Always valid for
        ``registry.validate(..., enabled)``; see the module doc for the clarify fallback.
        ``only`` restricts decoding to that one intent (the prompt is unchanged), to make
        the contrasting answer of a preference pair; IntentError if it cannot run here."""
        with self._lock:
            if only is None and not sample and self.settings.intent_choice == "scored":
                scores = self._intent_scores(dialogue, current_image, enabled)
                only = max(scores, key=scores.__getitem__) if scores else None
            return self._propose(dialogue, current_image, enabled, sample=sample, seed=seed, only=only)

    def propose_candidates(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
        *,
        n: int = 2,
        seed: int | None = None,
    ) -> list[str]:
        """``n`` sampled answers for an A/B choice. Tries up to ``n + 2`` samples to make
        them distinct; returns duplicates only if the model keeps agreeing with itself."""
        if n <= 0:
            return []
        base = 0 if seed is None else seed
        distinct: list[str] = []
        for i in range(n + 2):
            if len(distinct) == n:
                break
            out = self.propose(dialogue, current_image, enabled, sample=True, seed=base + i)
            if out not in distinct:
                distinct.append(out)
        return distinct + [distinct[-1]] * (n - len(distinct))

    def _prompt_ids(self, dialogue, current_image, enabled) -> tuple[_EnabledState, list[int], list[int]]:
        """The enabled set's state and the turn's prompt ids as (prefix, rest)."""
        state = self._state(enabled)
        messages = build_messages(
            self.registry,
            dialogue,
            current_image,
            enabled,
            max_turns=self.dialogue_turns,
            reserved=self._reserved,
            mode=self.prompt_mode,
        )
        prefix_ids, rest_ids = encode_prompt(self.tokenizer, messages)
        if prefix_ids != state.prefix_ids:  # cannot happen unless the template is unusual
            raise RuntimeError("IRPEM prompt prefix changed between calls")
        return state, prefix_ids, rest_ids

    def intent_scores(
        self,
        dialogue: Sequence[DialogueTurn],
        current_image: int | None,
        enabled: list[str] | None = None,
    ) -> dict[str, float]:
        """Log-probability that the answer starts ``{"intent":"<name>","`` for every intent
        that can run here (no grammar: the model's own preference among the names). Training
        uses it to find the intent the model would most likely confuse with the right one.
        One prefill of the prompt, then each name on a copy of its KV, one at a time: under
        int8 a batch shares one activation scale, which moved scores by nats."""
        with self._lock:
            return self._intent_scores(dialogue, current_image, enabled)

    def _intent_scores(self, dialogue, current_image, enabled) -> dict[str, float]:
        import torch
        from transformers import DynamicCache

        state, prefix_ids, rest_ids = self._prompt_ids(dialogue, current_image, enabled)
        offered = self.registry.intents(enabled, _image_count(dialogue, current_image) > 0)
        scores: dict[str, float] = {}
        with torch.inference_mode():
            if self.cache_prefix and prefix_ids:
                cache, prompt = copy.deepcopy(self._prefix_cache(state)), rest_ids
            else:
                cache, prompt = DynamicCache(config=self.model.config), prefix_ids + rest_ids
            first = (
                self.model(input_ids=torch.tensor([prompt], device=self.device), past_key_values=cache, use_cache=True)
                .logits[0, -1]
                .log_softmax(-1)
            )
            for intent in offered:
                head = self._answer_head_ids(intent)
                rest = self.model(
                    input_ids=torch.tensor([head[:-1]], device=self.device),
                    past_key_values=copy.deepcopy(cache),
                    use_cache=True,
                )
                logp = rest.logits[0].log_softmax(-1)
                scores[intent] = float(first[head[0]] + sum(logp[t - 1, head[t]] for t in range(1, len(head))))
        return scores

    def _answer_head_ids(self, intent: str) -> list[int]:
        """Token ids of a whole answer of ``intent`` up to the quote that opens "params": cut
        anywhere else, the last token is one that whole answers never contain ('",' where
        they have '","')."""
        if intent not in self._head_ids:
            answer = canonical_json({"intent": intent, "params": {}})
            self._head_ids[intent] = self.tokenizer(answer[: answer.index('"params"') + 1], add_special_tokens=False)[
                "input_ids"
            ]
        return self._head_ids[intent]

    def _propose(self, dialogue, current_image, enabled, *, sample, seed, only=None) -> str:
        import torch
        import xgrammar.contrib.hf as xgr_hf

        started = time.perf_counter()
        state, prefix_ids, rest_ids = self._prompt_ids(dialogue, current_image, enabled)
        ids = torch.tensor([prefix_ids + rest_ids], device=self.device)
        kwargs: dict[str, Any] = dict(
            attention_mask=torch.ones_like(ids),
            max_new_tokens=self.settings.max_new_tokens,
            repetition_penalty=self.settings.repetition_penalty,
            eos_token_id=self.stop_token_ids,
            pad_token_id=self.pad_token_id,
            # a fresh processor per call: it holds the grammar matcher's state
            logits_processor=[
                xgr_hf.LogitsProcessor(self._grammar(state, enabled, _image_count(dialogue, current_image), only))
            ],
        )
        if sample:
            kwargs.update(do_sample=True, temperature=SAMPLE_TEMPERATURE, top_p=SAMPLE_TOP_P, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        reuse = self.cache_prefix and len(prefix_ids) > 0
        if reuse:
            kwargs["past_key_values"] = copy.deepcopy(self._prefix_cache(state))

        clock = _Clock()
        kwargs["streamer"] = clock
        devices = []
        if self.device.type == "cuda":
            devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):
            if sample:
                torch.manual_seed(0 if seed is None else seed)
            generate_started = time.perf_counter()
            out = self.model.generate(ids, **kwargs)
        new = out[0, ids.shape[1] :].tolist()
        finished = bool(new) and new[-1] in self.stop_token_ids
        if finished:
            new = new[:-1]
        text = self.tokenizer.decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)

        fallback = False
        if not finished:
            log.warning(
                "IRPEM answer hit max_new_tokens=%d before the JSON closed; asking the user "
                "to rephrase instead (partial answer: %.200r)",
                self.settings.max_new_tokens,
                text,
            )
            fallback = True
        else:
            try:
                self.registry.validate(text, enabled)
            except IntentError as err:  # the grammar should make this impossible
                log.error("IRPEM answer failed validation despite the grammar (%s): %.300r", err, text)
                fallback = True
        if fallback:
            text = fallback_output()
        self.last_stats = ProposeStats(
            prompt_tokens=ids.shape[1],
            prefix_tokens=len(prefix_ids),
            prefix_reused=reuse,
            new_tokens=len(new) + int(finished),
            finished=finished,
            fallback=fallback,
            seconds=time.perf_counter() - started,
            prefill_seconds=(clock.stamps[1] if len(clock.stamps) > 2 else clock.stamps[-1]) - generate_started,
            decode_seconds=clock.stamps[-1] - clock.stamps[1] if len(clock.stamps) > 2 else 0.0,
        )
        return text


def _image_count(dialogue: Sequence[DialogueTurn], current_image: int | None) -> int:
    """Images are numbered 1..N in a session; N is the highest number the IRPEM can see."""
    return max([current_image or 0, *(n for turn in dialogue for n in turn.images)])


def _int8_linears(model: Any) -> Any:
    """Dynamic int8 quantization of the Linear layers (weights int8, activations quantized
    per call with one scale), except the MLP output projections (``_FLOAT_LINEARS``): their
    inputs carry a few channels up to ~150x the median one (SmolLM2), which one int8 scale
    cannot hold with the rest: quantizing them too cost the shipped adapter 0.027 intent
    accuracy. A LoRA adapter is merged into the base first, so it is quantized with it."""
    import warnings

    import torch

    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    quantized = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in _FLOAT_LINEARS
    }
    with warnings.catch_warnings():  # torch.ao's deprecation notice points at torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.eval(), quantized, dtype=torch.qint8)


def _for_grammar(schema: Any) -> Any:
    """The output schema as handed to xgrammar: a string with a ``pattern`` (image refs)
    loses its min/maxLength, which xgrammar ignores with a warning on every compile (the
    pattern bounds the length anyway; validation still checks both)."""
    if isinstance(schema, dict):
        out = {k: _for_grammar(v) for k, v in schema.items()}
        if out.get("type") == "string" and isinstance(out.get("pattern"), str):
            out.pop("minLength", None)
            out.pop("maxLength", None)
        return out
    if isinstance(schema, list):
        return [_for_grammar(v) for v in schema]
    return schema
