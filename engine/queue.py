"""The queue protocol the worker consumes. The bot's DB-backed queue implements it for the
embedded default; a Redis implementation serves remote GPU workers. Everything a job needs
travels in the request (dialogue, image references, per-guild catalog), and images move
through ``get_image``/``put_image``, so workers need no shared filesystem and never
import the bot."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass
class DialogueTurn:
    role: Literal["user", "assistant"]
    text: str
    images: list[int] = field(default_factory=list)  # session image numbers (#n) it added


@dataclass
class JobRequest:
    job_id: int
    session_id: int
    dialogue: list[DialogueTurn]
    image_refs: dict[int, str]  # image number -> content address (sha256)
    current_image: int | None
    seed: int
    enabled: list[str] | None = None  # instance ids offered here; None = all enabled in config
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # instance -> defaults
    forced_intent: dict[str, Any] | None = None  # buttons (reroll, upscale) skip the IRPEM
    # 2: ask the IRPEM for two sampled candidates and run both when they differ (an A/B
    # choice whose answer becomes a preference pair); 1: the usual single greedy answer.
    candidates: int = 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_refs"] = {str(k): v for k, v in self.image_refs.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobRequest:
        d = dict(d)
        d["dialogue"] = [DialogueTurn(**t) for t in d["dialogue"]]
        d["image_refs"] = {int(k): v for k, v in d["image_refs"].items()}
        return cls(**d)


@dataclass
class JobResult:
    intent: dict[str, Any]  # the validated IntentionParam as executed
    reply: str
    images: list[str] = field(default_factory=list)  # content addresses of new images
    parent_image: int | None = None  # the session image the new ones derive from
    irpem_raw: str = ""  # exactly what the IRPEM produced, for feedback and training
    timings: dict[str, float] = field(default_factory=dict)
    # A/B jobs: every candidate that ran, A first, each a JobResult without candidates of
    # its own; the fields above then repeat candidate A (what a client unaware of A/B shows).
    candidates: list[JobResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobResult:
        d = dict(d)
        d["candidates"] = [cls.from_dict(c) for c in d.get("candidates") or []]
        return cls(**d)


@dataclass
class ProgressEvent:
    job_id: int
    stage: Literal["queued", "understanding", "running", "step", "finished"]
    step: int = 0
    total: int = 0
    position: int = 0  # queue position while queued
    intent: str | None = None


@runtime_checkable
class JobQueue(Protocol):
    async def claim(self, worker_id: str) -> JobRequest | None:
        """Take the next runnable job (marking it running), or None if there is none."""

    async def wait_for_work(self, timeout: float) -> None:
        """Return when a job may be ready, or after ``timeout`` seconds."""

    async def get_image(self, ref: str) -> bytes: ...

    async def put_image(self, data: bytes) -> str:
        """Store encoded image bytes; return their content address."""

    async def progress(self, event: ProgressEvent) -> None: ...

    async def is_cancelled(self, job_id: int) -> bool: ...

    async def complete(self, job_id: int, result: JobResult) -> None: ...

    async def fail(self, job_id: int, error: str, retry: bool = False) -> None:
        """Record a failure; ``retry`` puts the job back unless its attempts are spent."""
