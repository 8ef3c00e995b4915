"""Loading, sharing and caching of the image models the pipelines use.

``ModelCache`` is built from Settings. It resolves a model name of ``[models]`` to where
its weights live (the hub id / path in profile "default", a locally built tiny model in
profile "tiny"), loads it once, and hands the same object to every pipeline that asks.

Diffusers pipelines of one base model share their components: the first request loads
the weights with ``from_pretrained``; a later request for another pipeline class of the
same model is made with ``pipeline_cls.from_pipe(base)``, which reuses the very same
UNet/VAE/text encoder (no copy of any weight). Each derived pipeline gets its own
scheduler object, since schedulers keep per-run state.

All loads are thread-safe: a lock per cache key makes concurrent first requests load once,
while loads of different models proceed in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, TypeVar

if TYPE_CHECKING:
    import torch

    from engine.config import ModelSpec, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class UnknownModel(KeyError):
    """A model name that is not defined in the ``[models]`` section of the config."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class ModelCache:
    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._items: dict[Hashable, Any] = {}
        self._device: str | None = None

    # ----- where and how -----

    @property
    def device(self) -> str:
        if self._device is None:
            wanted = self.settings.device
            if wanted == "auto":
                import torch

                wanted = "cuda" if torch.cuda.is_available() else "cpu"
            self._device = wanted
        return self._device

    @property
    def dtype(self) -> "torch.dtype":
        import torch

        return torch.float16 if self.device.startswith("cuda") else torch.float32

    @property
    def tiny_root(self) -> Path:
        return Path(self.settings.data_dir) / "tiny-models"

    def spec(self, name: str) -> "ModelSpec":
        try:
            return self.settings.models[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.models)) or "none"
            raise UnknownModel(
                f"model {name!r} is not defined in the [models] section of the config "
                f"(defined: {known})"
            ) from None

    def location(self, name: str) -> str:
        """Hub id or local path of model ``name``; in profile "tiny", the tiny model of its
        family (built on first use)."""
        spec = self.spec(name)
        if self.settings.profile == "tiny":
            from engine.tiny_models import ensure_tiny

            return str(ensure_tiny(spec.family, self.tiny_root))
        return spec.id

    def _variant(self, name: str) -> str | None:
        return None if self.settings.profile == "tiny" else self.spec(name).variant

    # ----- the memo -----

    def _lock_for(self, key: Hashable) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: Hashable, loader: Callable[[], T]) -> T:
        """Return the object cached under ``key``, calling ``loader()`` once to create it.
        Concurrent first calls for one key wait for a single load."""
        try:
            return self._items[key]
        except KeyError:
            pass
        with self._lock_for(key):
            if key not in self._items:
                self._items[key] = loader()
            return self._items[key]

    def cached(self) -> list[Hashable]:
        """Keys loaded so far (for diagnostics and, later, eviction)."""
        return list(self._items)

    # ----- typed loaders -----

    def diffusers(self, name: str, pipeline_cls: type[T]) -> T:
        """A diffusers pipeline of class ``pipeline_cls`` (a pipeline class or an
        ``AutoPipelineFor*`` class) for model ``name``. Pipelines of one model share its
        components; only the first one reads weights."""
        key = ("diffusers", name, pipeline_cls)
        try:
            return self._items[key]
        except KeyError:
            pass
        with self._lock_for(("diffusers", name)):
            if key in self._items:
                return self._items[key]
            base = self._items.get(("diffusers-base", name))
            if base is None:
                pipe = self._timed(name, lambda: self._load_diffusers(name, pipeline_cls))
                self._items[("diffusers-base", name)] = pipe
            else:
                pipe = self._derive(base, pipeline_cls)
                log.info("pipeline %s for model %r shares the loaded components",
                         type(pipe).__name__, name)
            self._items[key] = pipe
            return pipe

    def transformers(self, name: str, cls: type[T], **kwargs: Any) -> T:
        """A transformers model or processor of class ``cls`` (e.g.
        ``CLIPSegForImageSegmentation``, ``AutoProcessor``) for model ``name``; models are
        put on the cache's device and dtype, in eval mode."""
        from transformers import PreTrainedModel

        is_model = isinstance(cls, type) and issubclass(cls, PreTrainedModel)

        def load() -> Any:
            location = self.location(name)
            if not is_model:
                return cls.from_pretrained(location, **kwargs)
            model = cls.from_pretrained(location, dtype=self.dtype, **kwargs)
            return model.to(self.device).eval()

        key = ("transformers", name, cls, tuple(sorted(kwargs.items())))
        if is_model:
            return self.get(key, lambda: self._timed(name, load))
        return self.get(key, load)

    # ----- internals -----

    def _timed(self, name: str, load: Callable[[], T]) -> T:
        spec = self.spec(name)
        log.info("loading model %r (%s) from %s on %s/%s", name, spec.family,
                 self.location(name), self.device, str(self.dtype).removeprefix("torch."))
        started = time.perf_counter()
        obj = load()
        log.info("loaded model %r in %.1f s", name, time.perf_counter() - started)
        return obj

    def _load_diffusers(self, name: str, pipeline_cls: Any) -> Any:
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        variant = self._variant(name)
        if variant:
            kwargs["variant"] = variant
        pipe = pipeline_cls.from_pretrained(self.location(name), **kwargs)
        return pipe.to(self.device)

    def _derive(self, base: Any, pipeline_cls: Any) -> Any:
        from diffusers import DiffusionPipeline

        kwargs: dict[str, Any] = {}
        if getattr(base, "scheduler", None) is not None:
            kwargs["scheduler"] = type(base.scheduler).from_config(base.scheduler.config)
        if isinstance(pipeline_cls, type) and issubclass(pipeline_cls, DiffusionPipeline):
            # DiffusionPipeline.from_pipe casts the shared modules to `dtype` (float32 by
            # default), which would silently upcast a float16 base in place
            kwargs["dtype"] = self.dtype
        return pipeline_cls.from_pipe(base, **kwargs)
