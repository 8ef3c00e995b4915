"""The model cache's memory side: shared components counted once, the LRU budget, and
out-of-memory errors that fail one job and leave the worker healthy."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from engine.config import DEFAULT_CONFIG, ModelCacheSettings, PipelineInstance, load_settings
from engine.models import MIB, ModelCache, OutOfMemory, weight_bytes
from engine.pipelines.common import Kind
from engine.registry import Inputs, RunContext


@pytest.fixture(scope="module")
def settings(tiny_root):
    return load_settings(DEFAULT_CONFIG, profile="tiny", data_dir=tiny_root, device="cpu")


def with_budget(settings, mb: float):
    return settings.model_copy(update={"model_cache": ModelCacheSettings(memory_budget_mb=mb)})


def block(kib: int) -> torch.nn.Module:
    """A module holding exactly ``kib`` KiB of float32 weights."""
    return torch.nn.Linear(kib * 256, 1, bias=False)


# ----- sharing -----


def test_pipelines_of_one_base_count_their_weights_once(settings):
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

    cache = ModelCache(settings)
    t2i = cache.diffusers("sd", AutoPipelineForText2Image)
    one = cache.loaded_bytes()
    assert one == weight_bytes(t2i) > 0
    i2i = cache.diffusers("sd", AutoPipelineForImage2Image)
    inp = cache.diffusers("sd", AutoPipelineForInpainting)
    assert cache.loaded_bytes() == one  # a second and third instance of the base: no new weights
    assert weight_bytes(t2i, i2i, inp) == one
    assert len(cache.units()) == 1


def test_controlnet_pipeline_adds_only_the_controlnet(settings):
    from diffusers import AutoPipelineForText2Image, ControlNetModel, StableDiffusionControlNetPipeline

    cache = ModelCache(settings)
    t2i = cache.diffusers("sd", AutoPipelineForText2Image)
    base = cache.loaded_bytes()
    canny = cache.diffusers("sd", StableDiffusionControlNetPipeline, controlnet="cn_canny")
    assert isinstance(canny.controlnet, ControlNetModel) and canny.unet is t2i.unet
    assert cache.loaded_bytes() == base + weight_bytes(canny.controlnet)
    depth = cache.diffusers("sd", StableDiffusionControlNetPipeline, controlnet="cn_depth")
    assert depth is not canny and depth.unet is t2i.unet
    assert cache.diffusers("sd", StableDiffusionControlNetPipeline, controlnet="cn_canny") is canny


# ----- the budget -----


def test_budget_unloads_the_least_recently_used(settings):
    cache = ModelCache(with_budget(settings, 1.0))  # room for four 256 KiB blocks
    for name in "abcd":
        cache.get(name, lambda: block(256))
    assert cache.loaded_bytes() == 4 * 256 * 1024
    cache.get("a", lambda: pytest.fail("a is cached"))  # a becomes the most recently used
    cache.get("e", lambda: block(256))
    assert [k for k, _ in cache.units()] == ["c", "d", "a", "e"]  # b went
    cache.get("big", lambda: block(512))
    assert [k for k, _ in cache.units()] == ["a", "e", "big"]
    assert cache.loaded_bytes() <= 1 * MIB


def test_a_reload_makes_room_before_loading(settings):
    cache = ModelCache(with_budget(settings, 0.5))
    cache.get("a", lambda: block(256))
    cache.get("b", lambda: block(256))
    cache.unload("a")
    peak = []

    def load_a():
        peak.append(cache.loaded_bytes())  # what is loaded while a loads again
        return block(256)

    cache.get("a", load_a)
    assert peak == [256 * 1024] and [k for k, _ in cache.units()] == ["b", "a"]
    cache.get("c", lambda: block(256))
    assert [k for k, _ in cache.units()] == ["a", "c"]


def test_unloading_a_base_drops_its_pipelines(settings):
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

    cache = ModelCache(settings)
    t2i = cache.diffusers("sd", AutoPipelineForText2Image)
    sd_bytes = cache.loaded_bytes()
    budgeted = ModelCache(with_budget(settings, sd_bytes * 1.5 / MIB))
    first = budgeted.diffusers("sd", AutoPipelineForImage2Image)
    budgeted.diffusers("ip2p", _ip2p())
    assert [k for k, _ in budgeted.units()] == [("diffusers-base", "ip2p")]
    assert not [k for k in budgeted.cached() if k[:2] == ("diffusers", "sd")]
    again = budgeted.diffusers("sd", AutoPipelineForImage2Image)
    assert again is not first and again.unet is not t2i.unet
    assert [k for k, _ in budgeted.units()] == [("diffusers-base", "sd")]


def _ip2p():
    from diffusers import StableDiffusionInstructPix2PixPipeline

    return StableDiffusionInstructPix2PixPipeline


def test_a_controlnet_pipeline_keeps_its_base_while_assembling(settings):
    from diffusers import StableDiffusionControlNetPipeline

    probe = ModelCache(settings)
    pipe = probe.diffusers("sd", StableDiffusionControlNetPipeline, controlnet="cn_canny")
    need = probe.loaded_bytes()
    # a budget smaller than base + ControlNet: the base must survive the ControlNet's load
    cache = ModelCache(with_budget(settings, need * 0.9 / MIB))
    pipe = cache.diffusers("sd", StableDiffusionControlNetPipeline, controlnet="cn_canny")
    assert {k for k, _ in cache.units()} == {("diffusers-base", "sd"), ("diffusers-model", "cn_canny")}
    assert pipe.unet is cache.get(("diffusers-base", "sd"), lambda: pytest.fail("loaded")).unet


# ----- out of memory -----


class _Inputs(Inputs):
    pass


class _Greedy(Kind):
    kind = "test_greedy"
    type = "generate"
    description = "Needs more memory than there is, for tests."
    Inputs = _Inputs

    def run(self, inputs, ctx):
        self.models.get("held", lambda: block(64))
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_fails_clearly_and_empties_the_cache(settings):
    cache = ModelCache(settings)
    kind = _Greedy(PipelineInstance(id="greedy", kind="test_greedy"), cache)
    with pytest.raises(OutOfMemory, match="ran out of memory"):
        kind({}, RunContext(images={}, seed=0))
    assert cache.cached() == [] and cache.loaded_bytes() == 0


def test_worker_fails_an_oom_job_without_retry_and_serves_the_next(settings, monkeypatch):
    from engine.queue import DialogueTurn, JobRequest
    from engine.registry import KINDS
    from engine.runtime import Engine
    from engine.worker import Worker

    monkeypatch.setitem(KINDS, "test_greedy", _Greedy)
    settings = settings.model_copy(
        update={"pipelines": [*settings.pipelines, PipelineInstance(id="greedy", kind="test_greedy")]}
    )

    class Queue:
        def __init__(self):
            self.failed, self.done = [], []

        async def progress(self, event): ...
        async def is_cancelled(self, job_id):
            return False

        async def put_image(self, data):
            return "ref"

        async def complete(self, job_id, result):
            self.done.append(job_id)

        async def fail(self, job_id, error, retry=False):
            self.failed.append((job_id, error, retry))

    def request(job_id, intent, params):
        return JobRequest(
            job_id=job_id,
            session_id=1,
            dialogue=[DialogueTurn("user", "go")],
            image_refs={},
            current_image=None,
            seed=0,
            forced_intent={"intent": intent, "params": params, "response": ""},
        )

    queue = Queue()
    worker = Worker(queue, Engine(settings))

    async def jobs():
        await worker.process(request(1, "greedy", {}))
        await worker.process(request(2, "text2image", {"prompt": "a cat", "steps": 1}))

    asyncio.run(jobs())
    worker._model_thread.shutdown(wait=True)
    assert len(queue.failed) == 1
    job, error, retry = queue.failed[0]
    assert job == 1 and retry is False and "ran out of memory" in error
    assert queue.done == [2]
