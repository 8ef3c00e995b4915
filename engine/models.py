"""Loading, sharing and caching of the image models the pipelines use.

``ModelCache`` is built from Settings. It resolves a model name of ``[models]`` to where
its weights live (the hub id or path in profile "default", a locally built tiny model in
profile "tiny"), loads it once, and hands the same object to every pipeline that asks.

Sharing. Diffusers pipelines of one base model share their components: the first request
loads the weights once (the *base*); every pipeline class asked for is then made with
``pipeline_cls.from_pipe(base, **extra)``, which reuses the very same UNet/VAE/text encoder
(no copy of any weight). Extra components, such as a ControlNet, are models of their own
in the cache. Each derived pipeline gets its own scheduler, since schedulers keep per-run
state.

Memory. What holds weights is a *unit*: a diffusers base, a diffusers model (ControlNet),
a transformers model, or whatever ``get`` loads. Each unit's size is the bytes of its
distinct parameter and buffer storages, so components shared by ``from_pipe`` count once.
With ``[model_cache] memory_budget_mb`` set, loading a unit first unloads the least
recently used units until the new one fits (its size is known from an earlier load; a
first load is checked right after it); pipelines derived from an unloaded unit go with it.
The budget counts weights only: leave headroom for activations.

Threads. All loads are thread-safe: a lock per cache key makes concurrent first requests
load once. Unloading assumes that no other thread is running a model at that moment, which
the worker guarantees by running all model work on its one model thread.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

    from engine.config import ModelSpec, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
MIB = 2**20


class UnknownModel(KeyError):
    """A model name that is not defined in the ``[models]`` section of the config."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class OutOfMemory(RuntimeError):
    """The device ran out of memory for one job. The cache was emptied; the worker stays
    usable, and retrying the same request would only fail again."""


OUT_OF_MEMORY_MESSAGE = "the GPU ran out of memory for this request; try a smaller picture or fewer steps"


@dataclass
class _Unit:
    bytes: int
    keys: set[Hashable] = field(default_factory=set)  # memo entries that need this unit


class ModelCache:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._guard = threading.RLock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._items: dict[Hashable, Any] = {}
        # least recently used first
        self._units: OrderedDict[Hashable, _Unit] = OrderedDict()
        # sizes of units seen before, so that a reload can make room before it starts
        self._known_bytes: dict[Hashable, int] = {}
        self._device: str | None = None
        self._offloaded: Any = None  # the pipeline whose offload hooks are installed
        # units a pipeline being assembled needs together: never unloaded to make room
        self._pinned: dict[Hashable, int] = {}

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
    def dtype(self) -> torch.dtype:
        import torch

        return torch.float16 if self.device.startswith("cuda") else torch.float32

    @property
    def offload(self) -> bool:
        """Whether diffusion components live in CPU RAM and visit the GPU only to run."""
        return self.settings.model_cache.cpu_offload == "model" and self.device.startswith("cuda")

    @property
    def budget_bytes(self) -> int | None:
        mb = self.settings.model_cache.memory_budget_mb
        return int(mb * MIB) if mb else None

    @property
    def tiny_root(self) -> Path:
        return Path(self.settings.data_dir) / "tiny-models"

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.settings.models[name]
        except KeyError:
            known = ", ".join(sorted(self.settings.models)) or "none"
            raise UnknownModel(
                f"model {name!r} is not defined in the [models] section of the config (defined: {known})"
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
        Concurrent first calls for one key wait for a single load. The object is a unit of
        its own: its weights count against the budget, and it may be unloaded when it is
        the least recently used."""
        return self._unit(key, loader)

    def cached(self) -> list[Hashable]:
        """Keys of what is loaded now (least recently used units first)."""
        with self._guard:
            return list(self._items)

    def loaded_bytes(self) -> int:
        """Bytes of weights held by the loaded units (shared components counted once)."""
        with self._guard:
            return sum(u.bytes for u in self._units.values())

    def units(self) -> list[tuple[Hashable, int]]:
        """(unit key, bytes), least recently used first."""
        with self._guard:
            return [(k, u.bytes) for k, u in self._units.items()]

    def unload(self, unit_key: Hashable) -> None:
        """Drop a unit and everything derived from it."""
        with self._guard:
            unit = self._units.pop(unit_key, None)
            if unit is None:
                return
            for key in unit.keys | {unit_key}:
                obj = self._items.pop(key, None)
                if obj is not None and obj is self._offloaded:
                    self._offloaded = None
                for other in self._units.values():
                    other.keys.discard(key)
            log.info("unloaded %r (%.1f MiB)", unit_key, unit.bytes / MIB)
        release_memory()

    def clear(self) -> None:
        """Unload everything (after an out-of-memory error, or to start afresh)."""
        with self._guard:
            keys = list(self._units)
        for key in keys:
            self.unload(key)

    # ----- typed loaders -----

    def diffusers(self, name: str, pipeline_cls: type[T], **models: str) -> T:
        """A diffusers pipeline of class ``pipeline_cls`` (a pipeline class or an
        ``AutoPipelineFor*`` class) for model ``name``. Pipelines of one model share its
        components; only the first one reads weights. ``models`` adds components that are
        models of their own, by ``[models]`` name, e.g. ``controlnet="cn_canny"``."""
        key = ("diffusers", name, pipeline_cls, tuple(sorted(models.items())))
        with self._lock_for(("diffusers", name)):
            base_key = ("diffusers-base", name)
            extra_keys = [("diffusers-model", model) for model in models.values()]
            with self._pin(base_key, *extra_keys):
                base = self._unit(base_key, lambda: self._timed(name, lambda: self._load_diffusers(name)))
                extras = {role: self.diffusers_model(model) for role, model in models.items()}
            with self._guard:
                if key in self._items and base_key in self._units:
                    self._touch([base_key, *extra_keys])
                    return self._items[key]
                pipe = self._derive(base, pipeline_cls, extras)
                self._items[key] = pipe
                for unit_key in (base_key, *extra_keys):
                    if unit_key in self._units:
                        self._units[unit_key].keys.add(key)
                log.info("pipeline %s for model %r shares the loaded components", type(pipe).__name__, name)
                return pipe

    def diffusers_model(self, name: str) -> Any:
        """A single diffusers model (e.g. a ``ControlNetModel``) for model ``name``, its
        class read from the checkpoint's config."""

        def load() -> Any:
            from diffusers import ControlNetModel

            kwargs: dict[str, Any] = {"dtype": self.dtype}
            if self._variant(name):
                kwargs["variant"] = self._variant(name)
            model = ControlNetModel.from_pretrained(self.location(name), **kwargs)
            return model if self.offload else model.to(self.device)

        return self._unit(("diffusers-model", name), lambda: self._timed(name, load))

    def transformers(self, name: str, cls: type[T], **kwargs: Any) -> T:
        """A transformers model or processor of class ``cls`` (e.g.
        ``CLIPSegForImageSegmentation``, ``AutoProcessor``) for model ``name``; models are
        put on the cache's device and dtype, in eval mode."""
        from transformers import PreTrainedModel

        is_model = isinstance(cls, type) and issubclass(cls, PreTrainedModel)
        if not is_model and hasattr(cls, "from_config") and cls.__name__.startswith("AutoModel"):
            is_model = True  # AutoModelFor* classes are factories, not PreTrainedModel

        def load() -> Any:
            location = self.location(name)
            if not is_model:
                return cls.from_pretrained(location, **kwargs)
            model = cls.from_pretrained(location, dtype=self.dtype, **kwargs)
            return model.to(self.device).eval()

        key = ("transformers", name, cls, tuple(sorted(kwargs.items())))
        if is_model:
            return self._unit(key, lambda: self._timed(name, load))
        return self._unit(key, load)  # a processor: no weights, never worth unloading

    def prepare(self, pipe: Any) -> None:
        """Get a diffusers pipeline ready to run. With CPU offload, the offload hooks are
        (re)installed for this pipeline's own components: pipelines derived from one base
        share modules, and hooks follow the component order of the pipeline that runs."""
        if self.offload and pipe is not self._offloaded:
            pipe.enable_model_cpu_offload(device=self.device)
            self._offloaded = pipe

    def recover_from_oom(self) -> None:
        """After an out-of-memory error: unload every model and return the freed memory to
        the device, so that the next job starts from a clean state."""
        log.warning("out of memory: unloading %d models", len(self._units))
        self.clear()

    # ----- units and LRU -----

    def _unit(self, key: Hashable, loader: Callable[[], T]) -> T:
        with self._guard:
            if key in self._items:
                self._touch([key])
                return self._items[key]
        with self._lock_for(key):
            with self._guard:
                if key in self._items:
                    self._touch([key])
                    return self._items[key]
            known = self._known_bytes.get(key)
            if known is not None:
                self._make_room(known, keep=())
            obj = loader()
            size = weight_bytes(obj)
            with self._guard:
                self._items[key] = obj
                self._units[key] = _Unit(size)
                self._known_bytes[key] = size
            self._make_room(0, keep=(key,))
            return obj

    @contextmanager
    def _pin(self, *keys: Hashable) -> Iterator[None]:
        with self._guard:
            for key in keys:
                self._pinned[key] = self._pinned.get(key, 0) + 1
        try:
            yield
        finally:
            with self._guard:
                for key in keys:
                    self._pinned[key] -= 1
                    if not self._pinned[key]:
                        del self._pinned[key]

    def _touch(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            if key in self._units:
                self._units.move_to_end(key)

    def _make_room(self, incoming: int, keep: tuple[Hashable, ...]) -> None:
        budget = self.budget_bytes
        if budget is None:
            return
        while True:
            with self._guard:
                if self.loaded_bytes() + incoming <= budget:
                    return
                victims = [k for k in self._units if k not in keep and k not in self._pinned]
                if not victims:
                    log.warning(
                        "model cache: %s alone exceeds the budget of %.0f MiB", keep or "the next model", budget / MIB
                    )
                    return
            self.unload(victims[0])

    # ----- internals -----

    def _timed(self, name: str, load: Callable[[], T]) -> T:
        spec = self.spec(name)
        log.info(
            "loading model %r (%s) from %s on %s/%s",
            name,
            spec.family,
            self.location(name),
            self.device,
            str(self.dtype).removeprefix("torch."),
        )
        started = time.perf_counter()
        obj = load()
        log.info("loaded model %r in %.1f s", name, time.perf_counter() - started)
        return obj

    def _load_diffusers(self, name: str) -> Any:
        from diffusers import DiffusionPipeline

        kwargs: dict[str, Any] = {"dtype": self.dtype}
        variant = self._variant(name)
        if variant:
            kwargs["variant"] = variant
        # the checkpoint's own pipeline class: every other class is derived from it
        pipe = DiffusionPipeline.from_pretrained(self.location(name), **kwargs)
        return pipe if self.offload else pipe.to(self.device)

    def _derive(self, base: Any, pipeline_cls: Any, extras: dict[str, Any]) -> Any:
        from diffusers import DiffusionPipeline

        kwargs: dict[str, Any] = dict(extras)
        if getattr(base, "scheduler", None) is not None:
            kwargs["scheduler"] = type(base.scheduler).from_config(base.scheduler.config)
        if isinstance(pipeline_cls, type) and issubclass(pipeline_cls, DiffusionPipeline):
            # DiffusionPipeline.from_pipe casts the shared modules to `dtype` (float32 by
            # default), which would silently upcast a float16 base in place
            kwargs["dtype"] = self.dtype
        return pipeline_cls.from_pipe(base, **kwargs)


def _modules(obj: Any) -> list[Any]:
    """The torch modules an object holds: itself, a diffusers pipeline's components, or
    the modules among its attributes (wrappers such as eval's ClipEmbedder)."""
    import torch

    if isinstance(obj, torch.nn.Module):
        return [obj]
    components = getattr(obj, "components", None)
    if isinstance(components, dict):
        return [c for c in components.values() if isinstance(c, torch.nn.Module)]
    return [v for v in getattr(obj, "__dict__", {}).values() if isinstance(v, torch.nn.Module)]


def weight_bytes(*objs: Any) -> int:
    """Bytes of the distinct parameter and buffer storages reachable from ``objs``."""
    seen: set[tuple[str, int]] = set()
    total = 0
    for obj in objs:
        for module in _modules(obj):
            for tensor in [*module.parameters(), *module.buffers()]:
                storage = tensor.untyped_storage()
                ident = (str(tensor.device), storage.data_ptr())
                if ident not in seen:
                    seen.add(ident)
                    total += storage.nbytes()
    return total


def release_memory() -> None:
    """Return freed tensors' memory: collect garbage, then empty the CUDA caching
    allocator (a no-op without CUDA)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "CUDA out of memory" in str(err)


class PeakMemory:
    """Peak memory while the block runs: resident set on the CPU (Linux VmHWM, reset at
    entry), allocated memory on CUDA. ``peak_bytes`` is the peak gain over the state at
    entry."""

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = device.startswith("cuda")
        self.peak_bytes = 0

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._before = torch.cuda.memory_allocated()
        else:
            _reset_peak_rss()
            self._before = _status_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = _status_kib("VmHWM") * 1024
        self.peak_bytes = max(0, peak - self._before)


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    try:  # writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
