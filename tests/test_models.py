"""Model loading, sharing and caching; the tiny-model builders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import threading
import time
from pathlib import Path

import pytest
import torch

from engine import cachedir, tiny_models
from engine.config import DEFAULT_CONFIG, load_settings
from engine.models import ModelCache, UnknownModel


@pytest.fixture(scope="session")
def settings(tiny_root):
    # tiny_root (conftest): one data directory per run, so tiny models are built once
    return load_settings(DEFAULT_CONFIG, profile="tiny", data_dir=tiny_root, device="cpu")


@pytest.fixture
def models(settings):
    # two shared cores: intra-op threads only spin against each other on tiny tensors
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield ModelCache(settings)
    torch.set_num_threads(before)


# ----- tiny builders -----


def _entries(folder: Path) -> list[str]:
    """What a build left in ``folder``, less the lock files that are meant to stay."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def _slow_build(out: Path) -> None:
    # module level, so a spawned process can run it; the log counts builds across processes
    with open(out.parent / "builds.log", "a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(1.0)
    (out / "weights.bin").write_bytes(b"x" * 1024)


def _build_in_process(target: str, ready, go) -> None:
    ready.set()
    go.wait(30)
    built = cachedir.build_once(Path(target), "v1", _slow_build, "slow thing")
    assert (built / "weights.bin").stat().st_size == 1024


def test_build_once_across_processes(tmp_path):
    """Two processes that start at once (the bot and a CLI on a fresh machine) build once and
    both find a complete copy; before the file lock, one moved the other's copy aside."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    go = ctx.Event()
    readies = [ctx.Event() for _ in range(2)]
    procs = [ctx.Process(target=_build_in_process, args=(str(tmp_path / "thing"), r, go)) for r in readies]
    for proc in procs:
        proc.start()
    assert all(r.wait(60) for r in readies)
    go.set()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    assert len((tmp_path / "builds.log").read_text().split()) == 1
    assert _entries(tmp_path) == ["builds.log", "thing"]


def test_ensure_tiny_builds_once(tmp_path, monkeypatch):
    calls: list[Path] = []
    real = tiny_models.BUILDERS["swin2sr"]
    monkeypatch.setitem(tiny_models.BUILDERS, "swin2sr", lambda out: (calls.append(out), real(out)))
    first = tiny_models.ensure_tiny("swin2sr", tmp_path)
    second = tiny_models.ensure_tiny("swin2sr", tmp_path)
    assert first == second == tmp_path / "swin2sr" and len(calls) == 1
    assert (first / "config.json").is_file()
    assert _entries(tmp_path) == ["swin2sr"]  # no temp dirs left


def test_ensure_tiny_crash_leaves_nothing(tmp_path, monkeypatch):
    def broken(out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setitem(tiny_models.BUILDERS, "swin2sr", broken)
    with pytest.raises(RuntimeError):
        tiny_models.ensure_tiny("swin2sr", tmp_path)
    assert _entries(tmp_path) == []


def test_ensure_tiny_rebuilds_stale_version(tmp_path, monkeypatch):
    stale = tmp_path / "swin2sr"
    stale.mkdir()
    (stale / cachedir.MARKER).write_text("0")
    (stale / "junk").write_text("old")
    monkeypatch.setitem(tiny_models.BUILDERS, "swin2sr", lambda out: (out / "new").write_text("x"))
    assert tiny_models.ensure_tiny("swin2sr", tmp_path) == stale
    assert sorted(p.name for p in stale.iterdir()) == sorted([cachedir.MARKER, "new"])


def test_ensure_tiny_unknown_family(tmp_path):
    with pytest.raises(KeyError, match="diffusion-xl"):
        tiny_models.ensure_tiny("diffusion-xl", tmp_path)


def test_tiny_builds_are_deterministic(tmp_path):
    from safetensors.torch import load_file

    a = tiny_models.ensure_tiny("clipseg", tmp_path / "a")
    b = tiny_models.ensure_tiny("clipseg", tmp_path / "b")
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ----- ModelCache -----


def test_device_and_dtype(settings):
    cache = ModelCache(settings)
    assert cache.device == "cpu" and cache.dtype == torch.float32
    auto = ModelCache(settings.model_copy(update={"device": "auto"}))
    assert auto.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_spec_and_location(settings, models):
    assert models.spec("sd").family == "stable-diffusion"
    with pytest.raises(KeyError) as err:
        models.spec("sdxl")
    assert isinstance(err.value, UnknownModel) and "'sdxl'" in str(err.value)
    tiny = Path(models.location("clipseg"))
    assert tiny == Path(settings.data_dir) / "tiny-models" / "clipseg" and tiny.is_dir()
    real = ModelCache(settings.model_copy(update={"profile": "default"}))
    assert real.location("clipseg") == "CIDAS/clipseg-rd64-refined"


def test_diffusers_pipelines_share_components(models):
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    t2i = models.diffusers("sd", AutoPipelineForText2Image)
    i2i = models.diffusers("sd", AutoPipelineForImage2Image)
    inp = models.diffusers("sd", AutoPipelineForInpainting)
    assert isinstance(t2i, StableDiffusionPipeline)
    assert isinstance(i2i, StableDiffusionImg2ImgPipeline)
    assert isinstance(inp, StableDiffusionInpaintPipeline)
    for pipe in (i2i, inp):
        assert pipe.unet is t2i.unet and pipe.vae is t2i.vae
        assert pipe.text_encoder is t2i.text_encoder and pipe.tokenizer is t2i.tokenizer
        assert pipe.scheduler is not t2i.scheduler  # schedulers keep per-run state
    assert models.diffusers("sd", AutoPipelineForImage2Image) is i2i
    # a concrete pipeline class shares too, and keeps the dtype
    direct = models.diffusers("sd", StableDiffusionImg2ImgPipeline)
    assert direct.unet is t2i.unet and direct.unet.dtype == models.dtype


def test_diffusers_first_request_may_be_any_class(models):
    from diffusers import AutoPipelineForInpainting, AutoPipelineForText2Image

    inp = models.diffusers("sd", AutoPipelineForInpainting)
    assert models.diffusers("sd", AutoPipelineForText2Image).unet is inp.unet


def test_concurrent_first_loads_load_once(models):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return object()

    results: list[object] = []
    pipes: list[object] = []

    def worker():
        results.append(models.get("slow", slow))
        pipes.append(models.diffusers("ip2p", StableDiffusionInstructPix2PixPipeline))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    assert len(pipes) == 4 and len({id(p) for p in pipes}) == 1


def test_transformers_models_and_processors(models):
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    model = models.transformers("clipseg", CLIPSegForImageSegmentation)
    assert models.transformers("clipseg", CLIPSegForImageSegmentation) is model
    assert not model.training and model.dtype == models.dtype
    processor = models.transformers("clipseg", CLIPSegProcessor)
    assert processor is models.transformers("clipseg", CLIPSegProcessor)
    assert ("transformers", "clipseg", CLIPSegForImageSegmentation, ()) in models.cached()
