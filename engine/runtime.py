"""The engine proper: understand a turn (IRPEM), check it against the catalog, and run it.

Everything here is synchronous model work; the worker calls it from a thread so the event
loop never blocks. It knows nothing of databases or Discord: a ``JobRequest`` comes in,
a ``JobResult`` goes out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.registry import (
    BUILTINS,
    IntentError,
    PipelineKind,
    PipelineOutput,
    Registry,
    RunContext,
    ValidIntent,
)
from engine.session import image_number

if TYPE_CHECKING:
    from PIL import Image

    from engine.config import Settings
    from engine.irpem import Irpem
    from engine.models import ModelCache
    from engine.queue import JobRequest

log = logging.getLogger(__name__)


@dataclass
class Understanding:
    intent: ValidIntent
    raw: str  # the IRPEM's text, exactly as produced
    seconds: float


class Engine:
    """Holds the registry, the model cache and the intent model; one per worker."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        models: ModelCache | None = None,
        irpem: Irpem | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or Registry.from_settings(settings)
        if models is None:
            from engine.models import ModelCache

            models = ModelCache(settings)
        self.models = models
        self._irpem = irpem
        self._kinds: dict[str, PipelineKind] = {}

    @property
    def irpem(self) -> Irpem:
        if self._irpem is None:  # loading the LM takes seconds: only when first needed
            from engine.irpem import load_irpem

            self._irpem = load_irpem(self.settings, self.registry)
        return self._irpem

    def pipeline(self, instance_id: str) -> PipelineKind:
        if instance_id not in self._kinds:
            kind_cls = self.registry.kind_of(instance_id)
            self._kinds[instance_id] = kind_cls(self.registry.instances[instance_id], self.models)
        return self._kinds[instance_id]

    # ----- step 1: what does the user want? -----

    def understand(self, request: JobRequest) -> Understanding:
        start = time.perf_counter()
        if request.forced_intent is not None:
            raw = _json(request.forced_intent)
        else:
            raw = self.irpem.propose(request.dialogue, request.current_image, request.enabled)
        intent = self.registry.validate(raw, request.enabled)
        return Understanding(intent, raw, time.perf_counter() - start)

    def understand_candidates(self, request: JobRequest, n: int) -> list[Understanding]:
        """Up to ``n`` distinct valid sampled answers, in the IRPEM's order. Invalid samples
        are dropped; if none is valid, the first one's IntentError is raised. Fewer than two
        means there is nothing to choose between and the job runs as an ordinary one."""
        start = time.perf_counter()
        raws = self.irpem.propose_candidates(
            request.dialogue, request.current_image, request.enabled, n=n, seed=request.seed
        )
        seconds = (time.perf_counter() - start) / max(len(raws), 1)
        found: list[Understanding] = []
        first_error: IntentError | None = None
        for raw in raws:
            try:
                intent = self.registry.validate(raw, request.enabled)
            except IntentError as err:
                first_error = first_error or err
                continue
            if all(intent.as_dict() != u.intent.as_dict() for u in found):
                found.append(Understanding(intent, raw, seconds))
        if not found:
            raise first_error or IntentError("the intent model gave no answer")
        return found

    # ----- step 2: which images does it act on? -----

    def image_inputs(self, intent: ValidIntent, request: JobRequest) -> dict[str, int]:
        """Map each image field of the intent to a session image number, defaulting the
        first one to the current image. Raises IntentError for missing images."""
        if intent.kind is None:
            if intent.intent == "revert":
                number = image_number(intent.inputs.image)
                if number not in request.image_refs:
                    raise IntentError(f"there is no image #{number} in this conversation")
            return {}
        kind = self.registry.kind_of(intent.intent)
        chosen: dict[str, int] = {}
        for i, field in enumerate(kind.image_fields):
            ref = getattr(intent.inputs, field, None)
            if ref is None:
                if i == 0 and request.current_image is not None:
                    chosen[field] = request.current_image
                continue
            number = image_number(ref)
            if number not in request.image_refs:
                raise IntentError(f"there is no image #{number} in this conversation")
            chosen[field] = number
        if kind.needs_image and not chosen:
            raise IntentError(
                f"{intent.intent} needs an image, and there is none yet: describe a picture first or attach one"
            )
        return chosen

    # ----- step 3: do it -----

    def run(
        self,
        intent: ValidIntent,
        images: dict[str, Image.Image],
        request: JobRequest,
        progress: Callable[[int, int], None],
        cancelled: Callable[[], bool],
    ) -> PipelineOutput:
        if intent.kind is None:  # clarify / undo / revert: the conversation applies them
            return PipelineOutput()
        ctx = RunContext(
            images=images,
            seed=request.seed,
            response=intent.response,
            dialogue_text="\n".join(f"{t.role}: {t.text}" for t in request.dialogue[-4:]),
            overrides=request.overrides.get(intent.intent, {}),
            progress=progress,
            cancelled=cancelled,
        )
        return self.pipeline(intent.intent)(intent.inputs, ctx)


def reply_text(intent: ValidIntent, output: PipelineOutput) -> str:
    """What the user reads: a describe pipeline's answer, else the IRPEM's response."""
    if output.text:
        return output.text
    if intent.response:
        return intent.response
    if intent.intent in BUILTINS:
        return {"undo": "Undone.", "revert": "Back to that image.", "clarify": "Could you say a bit more?"}[
            intent.intent
        ]
    return "Done." if output.images else ""


def _json(obj: object) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
