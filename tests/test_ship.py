"""Shipping an adapter: float16 weights that load back, and a card built from the records."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from training.ship import WEIGHTS, model_card, ship_adapter, weakest_intents

SFT = {
    "base": "smollm2",
    "prompt": "short",
    "dialogue_turns": 4,
    "examples": 1000,
    "seen_examples": 250,
    "train_loss": 0.2,
    "arguments": {
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_layers": 15,
        "max_steps": 25,
        "batch_size": 8,
        "learning_rate": 1e-3,
        "seed": 0,
    },
}
DPO = {"pairs": 12, "sources": {"drawnconvos": 12}, "arguments": {"beta": 0.1, "learning_rate": 2e-4, "seed": 0}}
TABLE = "| model | ISA |\n|---|---|\n| SFT+DPO | 0.800 |"


def test_the_card_carries_the_records_table_and_commands():
    commands = "dialogdraw train pairs --data rlhf.jsonl --limit 300\ndialogdraw train dpo --pairs p.jsonl"
    card = model_card([SFT], DPO, TABLE, commands)
    assert TABLE in card and commands in card
    assert "LoRA r 16, alpha 32, on the last 15 decoder layers" in card
    assert "250 seen over 25 steps at lr 0.001 (seed 0), batch 8" in card and "25% of one epoch" in card
    assert "turns spread evenly over the gold intents" in card
    every_layer = {**SFT, "arguments": {**SFT["arguments"], "lora_layers": None}}
    assert "alpha 32, on all decoder layers" in model_card([every_layer], DPO, TABLE, commands)
    plain = model_card([SFT], DPO, TABLE, commands.replace("--limit 300", "--limit 300 --no-balance"))
    assert "plain random sample" in plain and "spread evenly" not in plain


def test_shipping_halves_the_weights_and_keeps_the_config(tmp_path):
    src, dest = tmp_path / "run", tmp_path / "shipped"
    src.mkdir()
    weights = {"lora_A": torch.randn(16, 64), "lora_B": torch.randn(64, 16)}
    save_file(weights, str(src / WEIGHTS))
    (src / "adapter_config.json").write_text(json.dumps({"r": 16}))
    (src / "training.json").write_text(json.dumps(SFT))
    ship_adapter(src, dest, "# card")
    shipped = load_file(str(dest / WEIGHTS))
    assert all(t.dtype == torch.float16 for t in shipped.values())
    assert torch.allclose(shipped["lora_A"].float(), weights["lora_A"], atol=1e-2)
    assert json.loads((dest / "training.json").read_text()) == SFT
    assert (dest / "README.md").read_text() == "# card"
    with pytest.raises(FileNotFoundError, match="no adapter weights"):
        ship_adapter(tmp_path / "empty", dest, "# card")


def test_an_sft_in_several_runs_is_described_run_by_run_from_the_last_record():
    more = {
        **SFT,
        "seen_examples": 650,
        "init_adapter": "runs/a/sft",
        "arguments": {**SFT["arguments"], "max_steps": 50, "learning_rate": 5e-4, "seed": 1},
    }
    card = model_card([SFT, more], DPO, TABLE, "dialogdraw train dpo --pairs p.jsonl")
    assert "650 seen over 25 steps at lr 0.001 (seed 0), then 50 at lr 0.0005 (seed 1), batch 8" in card
    assert "65% of one epoch" in card


def test_the_limits_name_the_weakest_intents_of_this_adapter():
    confusion = {
        "inpaint": {"inpaint": 8, "instruct_edit": 1, "img2img": 1},
        "replace_object": {"replace_object": 6, "text2image": 3, "change_background": 3},
        "upscale": {"upscale": 5},
        "undo": {"undo": 9, "revert": 1},
    }
    assert weakest_intents(confusion, top=2) == (
        "replace_object 0.50 (as change_background 3, text2image 3); inpaint 0.80 (as img2img 1, instruct_edit 1)"
    )
    card = model_card([SFT], DPO, TABLE, "", confusion)
    limits = card[card.index("## Limits") :]
    assert "replace_object 0.50" in limits and "undo 0.90 (as revert 1)" in limits and "upscale" not in limits
    assert "replace_object" not in model_card([SFT], DPO, TABLE, "")
