"""Loading the IRPEM base for training: the same resolution as the backend
(``[irpem] base``: "smollm2" or a hub id / path), in float32 on CPU."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from engine.config import IrpemSettings
from engine.irpem.smollm2 import resolve_base


def load_base(base: str, data_dir: str | Path, threads: int | None = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, resolved path) of the base, ready for peft."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    path = resolve_base(IrpemSettings(base=base), Path(data_dir))
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    started = time.perf_counter()
    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    model.config.use_cache = False
    print(f"base {path} loaded in {time.perf_counter() - started:.1f} s")
    return model, tokenizer, path


def library_versions() -> dict[str, str]:
    import peft
    import torch
    import transformers
    import trl

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "peft": peft.__version__,
    }
