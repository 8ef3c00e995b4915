"""The rules of a drawing session, pure: no database, no queue, no Discord.

One definition each of: how images are numbered, which image is current, what undo and
revert do, what an A/B choice changes, what each button asks for (reroll, upscale,
variations, undo), what a correction from the "Neither" form means, who may act on a
session, and which limits hold for a turn. The bot's store persists the state these
functions compute; DrawnConvos' generator and the eval replay its gold labels with the
same functions, so what the intent model is trained on and what the bot does cannot drift
apart.

Images of a session are numbered ``#1, #2, ...`` in order of appearance, attachments and
outputs alike. The *history* holds the current image after each change of it (a new image,
an edit, an upload, a revert); its last entry is the current image. Undo reverses the last
change: it drops that entry and the one before becomes current, so a second undo goes one
step further back. Revert makes an earlier image current again, as a change of its own
(an undo after it returns to the image before the revert).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from engine.queue import DialogueTurn, JobRequest
from engine.registry import IntentError

if TYPE_CHECKING:
    from engine.config import Limits
    from engine.registry import Registry

NOTHING_TO_UNDO = "There is nothing to undo."
# Undo reaches this many changes back; older entries are dropped so a long session's state
# stays small (it is stored with the session).
HISTORY_LIMIT = 200
# The inputs a correction's words fill, in this order of preference.
TEXT_FIELDS = ("prompt", "instruction", "question", "text")
# Limits a server may set for itself (``/limits``); each is capped by the config's value,
# which is the operator's ceiling.
GUILD_LIMITS = ("per_user_concurrent_jobs", "per_user_daily_jobs", "max_attachment_bytes")

Action = Literal["reroll", "undo", "upscale", "vary"]
# The actions that run a pipeline of their own on the picture, by the kind they need.
ACTION_KINDS: dict[str, str] = {"upscale": "upscale", "vary": "variation"}


# ----- images: numbering, the current image, undo and revert -----


@dataclass(frozen=True)
class ImageState:
    """What a session knows of its images: how many are numbered, which is current, and
    the history undo walks back through (its last entry is ``current``)."""

    count: int = 0
    current: int | None = None
    history: tuple[int, ...] = ()

    def add(self, how_many: int = 1) -> tuple[ImageState, list[int]]:
        """Number ``how_many`` new images; the last becomes current. One change for undo,
        however many images it brings (a turn's attachments, a job's outputs)."""
        state, (numbers,) = self.add_shown([how_many])
        return state, numbers

    def add_shown(self, sizes: Sequence[int]) -> tuple[ImageState, list[list[int]]]:
        """Number the images of an A/B answer, candidate by candidate (A first): all get
        numbers, and A's last becomes current until a choice is made (``choose``)."""
        groups: list[list[int]] = []
        start = self.count + 1
        for size in sizes:
            groups.append(list(range(start, start + max(size, 0))))
            start += max(size, 0)
        state = replace(self, count=start - 1)
        if groups and groups[0]:
            state = state._moved_to(groups[0][-1])
        return state, groups

    def undo(self) -> Navigation:
        if len(self.history) < 2:
            return Navigation(self, NOTHING_TO_UNDO)
        history = self.history[:-1]
        return Navigation(replace(self, current=history[-1], history=history))

    def revert(self, ref: Any) -> Navigation:
        """Make image ``ref`` ("#n" or n) current again."""
        number = image_number(ref)
        if number is None or not 1 <= number <= self.count:
            shown = f"#{number}" if number is not None else repr(ref)
            return Navigation(self, f"There is no image {shown} in this conversation.")
        if number == self.current:
            return Navigation(self)
        return Navigation(self._moved_to(number))

    def apply(self, intent: dict[str, Any] | None) -> Navigation:
        """The effect of an answer that made no image: undo and revert move the current
        image; every other intent leaves it."""
        name = (intent or {}).get("intent")
        if name == "undo":
            return self.undo()
        if name == "revert":
            return self.revert((intent.get("params") or {}).get("image"))
        return Navigation(self)

    def choose(self, shown: Sequence[int], chosen: Sequence[int]) -> ImageState:
        """An A/B choice: the chosen candidate's last image takes the place of the one shown
        as current, unless the conversation has moved to another image since. It is the
        same change seen differently, so undo after it still goes to the image before."""
        if not chosen or self.current not in shown:
            return self
        history = (*self.history[:-1], chosen[-1]) if self.history else (chosen[-1],)
        return replace(self, current=chosen[-1], history=history)

    def _moved_to(self, number: int) -> ImageState:
        history = (*self.history, number)[-HISTORY_LIMIT:]
        return replace(self, current=number, history=history)


@dataclass(frozen=True)
class Navigation:
    """The state after undo/revert, and why nothing moved when it could not be done."""

    state: ImageState
    notice: str | None = None


def image_number(ref: Any) -> int | None:
    """The number of an image reference ("#3", "3" or 3); None if it is not one."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    if isinstance(ref, str) and ref.strip().lstrip("#").isdigit():
        return int(ref.strip().lstrip("#"))
    return None


def replay(turns: Iterable[tuple[str, list[int], dict[str, Any] | None]]) -> list[ImageState]:
    """The state before each assistant turn of a dialogue given as (role, images, intent)
    rows, in order: user turns add their attachments, assistant turns their outputs, and
    an assistant turn without outputs applies its intent (undo, revert). How DrawnConvos
    and the eval read a dialogue the way the bot would have lived it."""
    state = ImageState()
    before: list[ImageState] = []
    for role, images, intent in turns:
        if role == "assistant":
            before.append(state)
            if not images:
                state = state.apply(intent).state
        if images:
            state, numbers = state.add(len(images))
            if numbers != list(images):
                raise ValueError(f"images numbered {list(images)} where the session numbers {numbers}")
    return before


# ----- A/B candidates -----


@dataclass(frozen=True)
class Candidate:
    """One answer of an A/B turn as stored: the intent as executed, its reply, the numbers
    of its images, and the IRPEM's answer as written (what preference pairs learn from)."""

    intent: dict[str, Any]
    reply: str
    numbers: tuple[int, ...] = ()
    raw: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "reply": self.reply, "numbers": list(self.numbers), "raw": self.raw}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        return cls(d["intent"], d.get("reply", ""), tuple(d.get("numbers") or ()), d.get("raw"))


# ----- who may act, and within which limits -----


def may_act(owner_id: str, who_can_talk: str | None, user_id: str) -> bool:
    """Who may add turns to a session and use its edit buttons: its owner, or anyone when
    the server says so. Votes are open to everyone and do not ask."""
    return owner_id == user_id or who_can_talk == "anyone"


def effective_limits(limits: Limits, overrides: dict[str, Any] | None) -> Limits:
    """The config's limits with a server's own values, never above the config's."""
    changes = {
        key: min(int(value), getattr(limits, key))
        for key, value in (overrides or {}).items()
        if key in GUILD_LIMITS and value is not None
    }
    return limits.model_copy(update=changes)


def quota_refusal(active_jobs: int, recent_jobs: int, limits: Limits) -> str | None:
    """Why a user with ``active_jobs`` in progress and ``recent_jobs`` in the last 24 hours
    may not queue another, in plain words; None when they may."""
    if active_jobs >= limits.per_user_concurrent_jobs:
        return (
            f"You already have {active_jobs} request(s) in progress (the limit is "
            f"{limits.per_user_concurrent_jobs}); wait for one to finish."
        )
    if recent_jobs >= limits.per_user_daily_jobs:
        return (
            f"You have made {recent_jobs} requests in the last 24 hours, the most allowed here; please come back later."
        )
    return None


def message_refusal(text: str, limits: Limits) -> str | None:
    if len(text) > limits.max_message_chars:
        return (
            f"Your message is {len(text):,} characters long; the limit is "
            f"{limits.max_message_chars:,}. I kept it, but please say it more briefly."
        )
    return None


# ----- a turn's job -----


class ServerRules(Protocol):
    """What a server chose for itself (the store's guild settings row has these)."""

    enabled_pipelines: list[str] | None
    pipeline_overrides: dict[str, Any]
    limits: dict[str, Any]
    who_can_talk: str
    ab_probability: float


@dataclass(frozen=True)
class Ticket:
    """A turn that asks for a job, as the front end sent it: decided on (``admit``) in the
    transaction that stores the turn, on the counts that transaction reads."""

    seed: int
    ab_draw: float  # uniform in [0, 1): the turn is an A/B choice when below the probability
    limits: Limits  # the operator's; a server's own are applied on top
    forced_intent: dict[str, Any] | None = None
    ab_probability: float = 0.0  # outside a server (a terminal session)


@dataclass(frozen=True)
class JobOrder:
    """What a turn's job is to do, decided when the turn is stored. The rest of its request
    (the dialogue and images as the intent model will see them) is read once, when the
    job first runs, because the jobs before it in its session may still be running."""

    seed: int
    enabled: list[str] | None = None  # the pipelines offered (None: the config's)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # pipeline -> defaults
    forced_intent: dict[str, Any] | None = None  # buttons skip the intent model
    candidates: int = 1  # 2: an A/B choice

    def request(
        self,
        job_id: int,
        session_id: int,
        dialogue: list[DialogueTurn],
        image_refs: dict[int, str],
        current_image: int | None,
    ) -> JobRequest:
        return JobRequest(
            job_id=job_id,
            session_id=session_id,
            dialogue=dialogue,
            image_refs=image_refs,
            current_image=current_image,
            seed=self.seed,
            enabled=self.enabled,
            overrides=self.overrides,
            forced_intent=self.forced_intent,
            candidates=self.candidates,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobOrder:
        """From a stored order, or from the request built from one (a superset)."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def admit(ticket: Ticket, server: ServerRules | None, active_jobs: int, recent_jobs: int) -> JobOrder | str:
    """The job a turn gets, or why it gets none. In a server, its limits, pipelines and
    defaults apply, and with its A/B probability the job asks for two candidates (never
    for a button's turn, whose intent is given)."""
    limits = effective_limits(ticket.limits, server.limits if server else None)
    refusal = quota_refusal(active_jobs, recent_jobs, limits)
    if refusal is not None:
        return refusal
    probability = server.ab_probability if server is not None else ticket.ab_probability
    ab = ticket.forced_intent is None and ticket.ab_draw < probability
    return JobOrder(
        seed=ticket.seed,
        enabled=server.enabled_pipelines if server else None,
        overrides=dict(server.pipeline_overrides or {}) if server else {},
        forced_intent=ticket.forced_intent,
        candidates=2 if ab else 1,
    )


# ----- what the buttons ask for -----


@dataclass(frozen=True)
class Answer:
    """An assistant turn as the buttons see it: the intent it ran (the chosen candidate's
    on an A/B turn), the images it showed (likewise) and the image they came from."""

    intent: dict[str, Any] | None
    images: tuple[int, ...] = ()
    parent: int | None = None


@dataclass(frozen=True)
class Forced:
    """A turn whose intent is given: the words it stands for in the dialogue, and the
    intent the job runs without asking the intent model."""

    text: str
    intent: dict[str, Any]


def kind_offered(registry: Registry, kind: str, enabled: list[str] | None) -> str | None:
    """The first pipeline of ``kind`` on offer (e.g. the upscaler), if any."""
    for instance_id in registry.enabled_ids(enabled):
        if registry.instances[instance_id].kind == kind:
            return instance_id
    return None


def image_field(registry: Registry, intent: str) -> str | None:
    """The input of an intent that names the image it acts on (the one that defaults to
    the current image)."""
    fields = registry.image_fields(intent)
    return fields[0] if fields else None


def forced_intent(
    action: Action, answer: Answer | None, registry: Registry, enabled: list[str] | None, image: int | None = None
) -> Forced:
    """The turn a button stands for. ``answer``: the turn the button is on; ``image``: the
    image it acts on when not that turn's last one (the terminal's current image). Raises
    ``Refusal`` when there is nothing to do it on or the pipeline is not offered.

    - undo: the session's undo.
    - reroll: the turn's intent again (same parameters, same source image, a new seed).
    - upscale / vary: the upscale or variation pipeline on the image.
    """
    if action == "undo":
        return Forced("↩️ undo", {"intent": "undo", "params": {}, "response": ""})
    shown = answer.images[-1] if answer is not None and answer.images else None
    if action == "reroll":
        if answer is None or not answer.intent or shown is None:
            raise Refusal("There is no picture to reroll there.")
        intent = copy.deepcopy(answer.intent)
        name = image_field(registry, intent["intent"])
        if name is not None and answer.parent is not None:
            intent.setdefault("params", {})[name] = f"#{answer.parent}"  # the same source again
        return Forced(f"🔁 reroll #{shown}", intent)
    target = image if image is not None else shown
    if target is None:
        raise Refusal(f"There is no picture to {action} there.")
    pipeline = kind_offered(registry, ACTION_KINDS[action], enabled)
    if pipeline is None:
        raise Refusal(f"{'Upscaling' if action == 'upscale' else 'Variations'} are not enabled here.")
    field_name = image_field(registry, pipeline) or "image"
    emoji, done = {"upscale": ("⬆️", "Upscaled"), "vary": ("🔀", "A variation of")}[action]
    return Forced(
        f"{emoji} {action} #{target}",
        {"intent": pipeline, "params": {field_name: f"#{target}"}, "response": f"{done} #{target}."},
    )


def offered_actions(answer: Answer, registry: Registry, enabled: list[str] | None) -> list[Action]:
    """The buttons that can act on an answer: all need a picture; upscale and vary need
    their pipeline on offer."""
    if not answer.images:
        return []
    return ["reroll", "undo", *(a for a, kind in ACTION_KINDS.items() if kind_offered(registry, kind, enabled))]


def revert_intent(number: int) -> Forced:
    return Forced(f"back to #{number}", {"intent": "revert", "params": {"image": f"#{number}"}, "response": ""})


def correction(
    registry: Registry, candidates: Sequence[dict[str, Any]], intent_id: str, text: str, enabled: list[str] | None
) -> dict[str, Any]:
    """The answer a user says they meant ("Neither" form): the intent they named, with their
    words in its text input, keeping the other parameters of a candidate that had the same
    intent. Validated against what the server offers; raises ``IntentError``."""
    offered = registry.intents(enabled)
    if intent_id not in offered:
        raise IntentError(f"{intent_id!r} is not one of {', '.join(offered)}")
    params: dict[str, Any] = {}
    for cand in candidates:
        if cand.get("intent") == intent_id:
            params = dict(cand.get("params") or {})
            break
    fields = registry.inputs_model(intent_id).model_fields
    name = next((f for f in TEXT_FIELDS if f in fields), None)
    if name and text:
        params[name] = text
    return registry.validate({"intent": intent_id, "params": params, "response": ""}, enabled).as_dict()


def correction_defaults(candidates: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """What the "Neither" form starts with: the first candidate's intent and words."""
    first = candidates[0] if candidates else {}
    text = next((str(v) for k, v in (first.get("params") or {}).items() if k in TEXT_FIELDS), "")
    return first.get("intent", ""), text


def settable_inputs(registry: Registry, intent: str) -> list[str]:
    """The inputs of a pipeline a server may give a default: all but its image references
    (an image number means something only inside one session)."""
    images = set(registry.image_fields(intent))
    return [k for k in registry.inputs_model(intent).model_fields if k not in images]


class Refusal(Exception):
    """An action that cannot be done; the message says why, in words for the user."""


# A user's 👍 can become a 👎 (one answer per group and turn), but a vote and a correction
# are separate answers.
FEEDBACK_GROUPS = {
    "up": "vote",
    "down": "vote",
    "choice_a": "choice",
    "choice_b": "choice",
    "neither": "choice",
    "correction": "correction",
}
