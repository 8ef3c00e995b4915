"""SFT and DPO run a few steps on a tiny random Llama (the SmolLM2 tokenizer) and a tiny
DrawnConvos set; the adapters they save load into the real IRPEM backend and answer validly.
Pair ranking follows the paper's rule; feedback export goes through the store's extractor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import DEFAULT_CONFIG, IrpemSettings, load_settings
from engine.irpem import ScriptedIrpem
from engine.irpem.adapter import read_training_config
from engine.irpem.pairs import PairContext, PreferencePair, read_pairs, write_pairs
from engine.irpem.prompt import build_messages, encode_prompt
from engine.irpem.smollm2 import smollm2_checkpoint
from engine.queue import DialogueTurn
from engine.registry import IntentError, Registry
from eval.dialogues import Case
from tests.conftest import SHARED_DATA
from training.drawnconvos import generate
from training.pairs import make_pairs, pairs_for_case

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_settings(load_settings(DEFAULT_CONFIG))


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(smollm2_checkpoint(SHARED_DATA / "models"))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def data(registry, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dc")
    generate(registry, out, 30, seed=5, progress=False)
    return out


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(DEFAULT_CONFIG, data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def sft_adapter(tiny_base, data, settings, registry, tmp_path_factory) -> Path:
    from training.sft import SftArguments, run_sft

    out = tmp_path_factory.mktemp("sft")
    record = run_sft(
        SftArguments(
            data=[data / "sft.jsonl"],
            out=out,
            base=str(tiny_base),
            max_steps=3,
            batch_size=4,
            logging_steps=1,
            threads=1,
        ),
        settings,
        registry,
    )
    assert record["step_seconds"]["steps"] == 3
    return out


def _irpem(base: Path, adapter: Path, settings, registry):
    from engine.irpem.backend import TransformersIrpem

    irpem_settings = IrpemSettings(base=str(base), adapter=str(adapter), max_new_tokens=48, threads=1)
    return TransformersIrpem(irpem_settings, registry, settings.data_dir)


def test_sft_saves_an_adapter_with_its_config_and_the_irpem_loads_it(sft_adapter, tiny_base, settings, registry):
    record = read_training_config(sft_adapter)
    assert record["stage"] == "sft" and record["prompt"] == "short"
    assert record["arguments"]["max_steps"] == 3 and record["examples"] > 0
    assert record["sequence_tokens"]["max"] <= 1024 and record["answer_tokens"]["mean"] > 5
    assert (sft_adapter / "adapter_model.safetensors").is_file()

    irpem = _irpem(tiny_base, sft_adapter, settings, registry)
    assert irpem.prompt_mode == "short"  # from training.json, though [irpem] prompt is "full"
    full_prefix, _ = encode_prompt(irpem.tokenizer, build_messages(registry, [], None, mode="full"))
    assert irpem.prefix_token_count() < len(full_prefix) / 4
    dialogue = [
        DialogueTurn("user", "draw a fox", []),
        DialogueTurn("assistant", "Here.", [1]),
        DialogueTurn("user", "make it blue", []),
    ]
    out = irpem.propose(dialogue, 1)
    registry.validate(out)


def test_pairs_from_the_tiny_sft_model_are_valid(sft_adapter, tiny_base, data, settings, registry, tmp_path):
    irpem = _irpem(tiny_base, sft_adapter, settings, registry)
    pairs, counts = make_pairs(irpem, registry, [data / "rlhf.jsonl"], limit=3, seed=0)
    assert counts["cases"] == 3
    # an untrained model is rarely right: the gold answer becomes the chosen one
    assert pairs and all(p.source == "drawnconvos" for p in pairs)
    for p in pairs:
        registry.validate(p.chosen)
        assert p.chosen != p.rejected
    write_pairs(tmp_path / "p.jsonl", pairs)
    assert len(list(read_pairs(tmp_path / "p.jsonl"))) == len(pairs)


def test_decoding_held_to_one_intent_names_it(sft_adapter, tiny_base, settings, registry):
    from engine.irpem.backend import TransformersIrpem

    irpem = TransformersIrpem(
        IrpemSettings(
            base=str(tiny_base), adapter=str(sft_adapter), max_new_tokens=160, response_max_chars=20, threads=1
        ),
        registry,
        settings.data_dir,
    )
    case = _case()
    for intent in ("revert", "chat", "filter"):
        out = irpem.propose(case.context, case.current_image, sample=True, seed=1, only=intent)
        assert json.loads(out)["intent"] == intent
        registry.validate(out)
    with pytest.raises(IntentError, match="not on offer"):  # no image in the session yet
        irpem.propose([DialogueTurn("user", "undo", [])], None, only="undo")


def test_dpo_starts_from_sft_and_its_adapter_loads(sft_adapter, tiny_base, data, settings, registry, tmp_path):
    from training.dpo import DpoArguments, run_dpo

    case = _case()
    wrong = {"intent": "chat", "params": {}, "response": "Hi!"}
    other = {"intent": "img2img", "params": {"prompt": "blue"}, "response": "Ok."}
    pairs = pairs_for_case(case, [json.dumps(wrong), json.dumps(other)], registry)
    pairs.append(pairs[0])  # duplicates are dropped before training
    write_pairs(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "dpo"
    record = run_dpo(
        DpoArguments(
            pairs=[tmp_path / "pairs.jsonl"],
            sft_adapter=sft_adapter,
            out=out,
            max_steps=2,
            batch_size=2,
            logging_steps=1,
            threads=1,
        ),
        settings,
        registry,
    )
    assert record["stage"] == "dpo" and record["prompt"] == "short" and record["pairs"] == 2
    assert record["step_seconds"]["steps"] == 2
    assert not (out / "ref").exists()  # trl's frozen reference copy is not saved
    irpem = _irpem(tiny_base, out, settings, registry)
    registry.validate(irpem.propose(case.context, case.current_image))


def test_answer_loss_is_the_models_own_masked_loss(tiny_base):
    import torch
    from transformers import AutoModelForCausalLM

    from training.sft import answer_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    torch.manual_seed(1)
    ids = torch.randint(5, 500, (3, 12))
    labels = ids.clone()
    labels[:, :7] = -100  # the prompt
    labels[2, 7:] = -100  # an example padded past its answer
    labels[2, 7:9] = ids[2, 7:9]
    attention = torch.ones_like(ids)
    expected = model(input_ids=ids, attention_mask=attention, labels=labels).loss
    got = answer_loss(model, {"input_ids": ids, "attention_mask": attention, "labels": labels})
    assert torch.allclose(got, expected, atol=1e-5)
    got.backward()  # and it trains: gradients reach the weights
    assert model.model.layers[0].mlp.up_proj.weight.grad.abs().sum() > 0


def test_answer_loss_with_a_shared_prefix_is_the_loss_on_whole_examples(tiny_base):
    import torch
    from transformers import AutoModelForCausalLM

    from training.sft import answer_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    torch.manual_seed(2)
    prefix = torch.randint(5, 500, (6,)).tolist()
    rest = torch.randint(5, 500, (3, 10))
    labels = rest.clone()
    labels[:, :4] = -100
    labels[1, 8:] = -100  # padded past its answer
    attention = torch.ones_like(rest)
    attention[1, 8:] = 0
    whole = torch.cat([torch.tensor([prefix] * 3), rest], dim=1)
    expected = model(
        input_ids=whole,
        attention_mask=torch.cat([torch.ones(3, 6, dtype=torch.long), attention], 1),
        labels=torch.cat([torch.full((3, 6), -100), labels], 1),
    ).loss
    got = answer_loss(model, {"input_ids": rest, "attention_mask": attention, "labels": labels}, prefix_ids=prefix)
    assert torch.allclose(got, expected, atol=1e-5)
    got.backward()
    assert model.model.layers[0].mlp.up_proj.weight.grad.abs().sum() > 0


def test_a_full_prompt_run_with_a_shared_prefix_trains_on_the_rest_and_the_irpem_loads_it(
    tiny_base, data, settings, registry, tmp_path
):
    from training.sft import SftArguments, run_sft

    out = tmp_path / "full"
    record = run_sft(
        SftArguments(
            data=[data / "sft.jsonl"],
            out=out,
            base=str(tiny_base),
            prompt="full",
            shared_prefix=True,
            max_steps=1,
            batch_size=2,
            threads=1,
        ),
        settings,
        registry,
    )
    irpem = _irpem(tiny_base, out, settings, registry)
    assert irpem.prompt_mode == "full"
    # examples are trained without the prefix the backend prefills once per enabled set
    assert record["shared_prefix_tokens"] == irpem.prefix_token_count() > record["sequence_tokens"]["max"]
    registry.validate(irpem.propose(_case().context, 1))


def test_a_bf16_sft_run_computes_its_loss_under_autocast_on_padded_batches(
    tiny_base, data, settings, registry, tmp_path, monkeypatch
):
    import torch

    import training.sft as sft
    from training.arguments import PAD_TO_MULTIPLE_OF

    seen = []
    own = sft.answer_loss

    def watched(model, inputs, num_items_in_batch=None, prefix_ids=None):
        seen.append(
            torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16
            and inputs["input_ids"].shape[1] % PAD_TO_MULTIPLE_OF == 0
        )
        return own(model, inputs, num_items_in_batch, prefix_ids)

    monkeypatch.setattr(sft, "answer_loss", watched)
    sft.run_sft(
        sft.SftArguments(
            data=[data / "sft.jsonl"],
            out=tmp_path / "bf16",
            base=str(tiny_base),
            max_steps=2,
            batch_size=2,
            precision="bf16",
            threads=1,
        ),
        settings,
        registry,
    )
    assert seen == [True, True]


def test_sft_on_the_last_layers_only_and_dpo_from_the_bare_base(tiny_base, data, settings, registry, tmp_path):
    from safetensors import safe_open

    from training.dpo import DpoArguments, run_dpo
    from training.sft import SftArguments, run_sft

    sft = tmp_path / "sft-top"
    run_sft(
        SftArguments(
            data=[data / "sft.jsonl"],
            out=sft,
            base=str(tiny_base),
            max_steps=1,
            batch_size=2,
            lora_layers=1,
            dialogue_turns=3,
            precision="fp32",
            threads=1,
        ),
        settings,
        registry,
    )
    with safe_open(str(sft / "adapter_model.safetensors"), "pt") as f:
        layers = {k.split(".layers.")[1].split(".")[0] for k in f.keys()}
    assert layers == {"1"}  # the top layer of two
    irpem = _irpem(tiny_base, sft, settings, registry)
    assert irpem.dialogue_turns == 3  # the adapter's window, not [irpem] dialogue_turns (8)

    case = _case()
    pairs = pairs_for_case(case, [json.dumps({"intent": "chat", "params": {}, "response": "Hi!"})] * 2, registry)
    write_pairs(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "dpo-only"
    record = run_dpo(
        DpoArguments(
            pairs=[tmp_path / "pairs.jsonl"],
            out=out,
            base=str(tiny_base),
            max_steps=1,
            batch_size=1,
            dialogue_turns=4,
            sft_weight=1.0,
            logging_steps=1,
            threads=1,
        ),
        settings,
        registry,
    )
    assert record["sft_adapter"] is None and record["prompt"] == "short" and record["dialogue_turns"] == 4
    # the first step's DPO loss is ln 2 (policy = reference); the RPO term adds the chosen answer's NLL
    assert record["log"][0]["loss"] > 2.0
    irpem = _irpem(tiny_base, out, settings, registry)
    registry.validate(irpem.propose(case.context, case.current_image))
    with pytest.raises(ValueError, match="lora-layers"):
        run_sft(
            SftArguments(
                data=[data / "sft.jsonl"],
                out=tmp_path / "x",
                base=str(tiny_base),
                max_steps=1,
                lora_layers=5,
                threads=1,
            ),
            settings,
            registry,
        )


def test_shipping_halves_the_weights_and_keeps_what_the_backend_reads(
    sft_adapter, tiny_base, settings, registry, tmp_path
):
    import torch
    from safetensors.torch import load_file

    from training.ship import ship_adapter

    dest = ship_adapter(sft_adapter, tmp_path / "shipped", "# card\n")
    src_w = load_file(str(sft_adapter / "adapter_model.safetensors"))
    dst_w = load_file(str(dest / "adapter_model.safetensors"))
    assert src_w.keys() == dst_w.keys() and all(v.dtype == torch.float16 for v in dst_w.values())
    assert all(torch.allclose(src_w[k], dst_w[k].float(), rtol=1e-3, atol=1e-4) for k in src_w)
    assert read_training_config(dest) == read_training_config(sft_adapter)
    assert (dest / "README.md").read_text() == "# card\n"
    irpem = _irpem(tiny_base, dest, settings, registry)
    assert irpem.prompt_mode == "short"
    registry.validate(irpem.propose(_case().context, 1))
    with pytest.raises(FileNotFoundError):
        ship_adapter(tmp_path, tmp_path / "x", "")


def test_sft_goes_on_from_an_adapter_over_several_runs(sft_adapter, tiny_base, data, settings, registry, tmp_path):
    from safetensors.torch import load_file

    from training.sft import SftArguments, run_sft

    out = tmp_path / "more"
    record = run_sft(
        SftArguments(
            data=[data / "sft.jsonl"],
            out=out,
            base=str(tiny_base),
            max_steps=1,
            batch_size=2,
            warmup_ratio=0.0,
            init_adapter=sft_adapter,
            lora_r=2,
            dialogue_turns=2,
            threads=1,
        ),
        settings,
        registry,
    )
    assert record["init_adapter"] == str(sft_adapter)
    # it keeps seeing the prompts the adapter learned from, whatever --dialogue-turns says
    assert record["dialogue_turns"] == read_training_config(sft_adapter)["dialogue_turns"] != 2
    assert record["seen_examples"] == 3 * 4 + 1 * 2  # the fixture's run, then this one
    before = load_file(str(sft_adapter / "adapter_model.safetensors"))
    after = load_file(str(out / "adapter_model.safetensors"))
    assert before.keys() == after.keys()  # the adapter's own shape, not --lora-r 2
    assert all(before[k].shape == after[k].shape for k in before)
    assert any(not before[k].equal(after[k]) for k in before)  # and it trained


def _case() -> Case:
    context = [
        DialogueTurn("user", "draw a fox", []),
        DialogueTurn("assistant", "Here is a fox.", [1]),
        DialogueTurn("user", "make it blue", []),
    ]
    gold = {"intent": "instruct_edit", "params": {"instruction": "make it blue"}, "response": "Done."}
    return Case("d1", 3, context, 1, gold)


def test_ranking_rule_gold_wins_when_no_candidate_is_right(registry):
    case = _case()
    wrong_a = {"intent": "chat", "params": {}, "response": "Hi!"}
    wrong_b = {"intent": "text2image", "params": {"prompt": "a blue fox"}, "response": "Ok."}
    pairs = pairs_for_case(case, [json.dumps(wrong_a), json.dumps(wrong_b)], registry)
    assert [(p.chosen, p.rejected) for p in pairs] == [(case.gold, wrong_a), (case.gold, wrong_b)] or [
        (p.chosen, p.rejected) for p in pairs
    ] == [(case.gold, wrong_b), (case.gold, wrong_a)]
    assert all(p.provenance["rule"] == "gold" and p.provenance["dialogue"] == "d1" for p in pairs)


def test_ranking_rule_right_beats_wrong_and_ties_make_no_pair(registry):
    case = _case()
    right = dict(case.gold)
    half = {"intent": "instruct_edit", "params": {"instruction": "add snow"}, "response": "Ok."}
    wrong = {"intent": "chat", "params": {}, "response": "Hi!"}
    [pair] = pairs_for_case(case, [json.dumps(wrong), json.dumps(right)], registry)
    assert pair.chosen == right and pair.rejected == wrong and pair.provenance["rule"] == "ranked"
    [pair] = pairs_for_case(case, [json.dumps(half), json.dumps(right)], registry)
    assert pair.chosen == right and pair.rejected == half
    assert pairs_for_case(case, [json.dumps(right), json.dumps(right)], registry) == []


def _gold_case(i: int, intent: str, params: dict | None = None, image: int | None = 1) -> Case:
    context = [DialogueTurn("user", f"turn {i}", [] if image is None else [image])]
    return Case(f"d{i}", 1, context, image, {"intent": intent, "params": params or {}, "response": "ok"})


def test_each_intent_switch_pair_gets_its_mirror_image(registry):
    from training.pairs import mirror_pairs

    undo = {"intent": "undo", "params": {}, "response": "Undone."}
    revert = {"intent": "revert", "params": {"image": "#1"}, "response": "Back."}
    chat = {"intent": "chat", "params": {}, "response": "Hi."}
    switch = PreferencePair(
        PairContext([], 2), undo, revert, "drawnconvos", {"dialogue": "d100", "turn": 3, "rule": "gold"}
    )
    same = PreferencePair(
        PairContext([], 2),
        revert,
        {**revert, "params": {"image": "#2"}},
        "drawnconvos",
        {"dialogue": "d101", "turn": 1, "rule": "ranked"},
    )
    lonely = PreferencePair(
        PairContext([], 2),
        chat,
        {"intent": "vqa", "params": {"question": "?"}, "response": "It is."},
        "drawnconvos",
        {"dialogue": "d102"},
    )
    pool = [_gold_case(1, "revert", {"image": "#1"}), _gold_case(2, "text2image", {"prompt": "a fox"})]
    # the first answer is the clarify fallback (an unfinished answer), so the turn is not used
    irpem = ScriptedIrpem([{"intent": "clarify", "params": {}, "response": "Say more?"}, undo])
    pool.insert(0, _gold_case(0, "revert", {"image": "#1"}))
    mirrors, missing = mirror_pairs(irpem, [switch, same, lonely], pool, seed=0)
    [mirror] = mirrors
    assert missing == 1  # no pool turn whose gold is vqa
    assert mirror.chosen["intent"] == "revert" and mirror.rejected == undo
    assert mirror.provenance["rule"] == "mirror" and mirror.provenance["mirrors"] == {"dialogue": "d100", "turn": 3}
    case = next(c for c in pool if c.dialogue_id == mirror.provenance["dialogue"])
    assert mirror.context.dialogue == case.context and mirror.chosen == case.gold
    # decoding was held to the chosen intent of the original pair, once per tried turn
    assert [call[3]["only"] for call in irpem.calls] == ["undo", "undo"]
    assert len({call[0][0].text for call in irpem.calls}) == 2


def test_mirror_pairs_skip_turns_where_the_rival_cannot_run(registry):
    from training.pairs import mirror_pairs

    class NoImageYet(ScriptedIrpem):
        def propose(self, dialogue, current_image, enabled=None, **kw):
            if current_image is None and kw.get("only") == "undo":
                raise IntentError("'undo' is not on offer here")
            return super().propose(dialogue, current_image, enabled, **kw)

    undo = {"intent": "undo", "params": {}, "response": "Undone."}
    pair = PreferencePair(
        PairContext([], 1),
        undo,
        {"intent": "chat", "params": {}, "response": "Hi"},
        "drawnconvos",
        {"dialogue": "d9", "turn": 1},
    )
    pool = [_gold_case(1, "chat", image=None), _gold_case(2, "chat")]
    irpem = NoImageYet([undo])
    [mirror], missing = mirror_pairs(irpem, [pair], pool, seed=0)
    assert missing == 0 and mirror.provenance["dialogue"] == "d2" and mirror.context.current_image == 1


def test_make_pairs_samples_two_candidates_per_turn(registry, data):
    answers = [{"intent": "chat", "params": {}, "response": f"r{i}"} for i in range(200)]
    irpem = ScriptedIrpem(answers)
    pairs, counts = make_pairs(irpem, registry, [data / "rlhf.jsonl"], limit=4, seed=1)
    assert counts["cases"] == 4 and len(irpem.calls) == 8
    assert all(isinstance(p, PreferencePair) for p in pairs)


def test_pair_turns_are_spread_evenly_over_gold_intents():
    from collections import Counter

    from training.pairs import balanced_subset

    def case(i: int, intent: str) -> Case:
        return Case(f"d{i}", 1, [], None, {"intent": intent, "params": {}, "response": ""})

    # the split's mix: text2image dominates, remove_object is rare
    cases = (
        [case(i, "text2image") for i in range(80)]
        + [case(100 + i, "remove_background") for i in range(15)]
        + [case(200 + i, "remove_object") for i in range(5)]
    )
    counts = Counter(c.gold["intent"] for c in balanced_subset(cases, 14, seed=3))
    assert sum(counts.values()) == 14 and sorted(counts.values()) == [4, 5, 5]
    # a rare intent that runs out leaves its share to the others; no case twice
    picked = balanced_subset(cases, 30, seed=3)
    counts = Counter(c.gold["intent"] for c in picked)
    assert counts["remove_object"] == 5 and abs(counts["text2image"] - counts["remove_background"]) <= 1
    assert len({c.dialogue_id for c in picked}) == 30
    assert balanced_subset(cases, 30, seed=3) == picked and balanced_subset(cases, 30, seed=4) != picked
    assert balanced_subset(cases, None, seed=3) == cases


async def test_export_pairs_writes_the_stores_pairs(db, db_url, tmp_path):
    from bot.store.preferences import preference_pairs
    from training.export import export_pairs

    expected = await preference_pairs(db)
    counts = await export_pairs(db_url, tmp_path / "fb.jsonl")
    assert counts["pairs"] == len(expected)
    assert [p.to_dict() for p in read_pairs(tmp_path / "fb.jsonl")] == [p.to_dict() for p in expected]


class Scored(ScriptedIrpem):
    """Scripted answers plus scripted ``intent_scores``: a list popped per turn, or one dict
    for every turn."""

    def __init__(self, scores, outputs):
        super().__init__(outputs)
        self.scores = scores

    def intent_scores(self, dialogue, current_image, enabled=None):
        return self.scores.pop(0) if isinstance(self.scores, list) else self.scores


def test_rival_pairs_prefer_gold_over_the_closest_other_intent(registry):
    from training.pairs import rival_pairs

    remove = {"intent": "remove_object", "params": {"target": "the dog"}, "response": "Gone."}
    close = _gold_case(1, "replace_object", {"target": "the dog", "prompt": "a cat"})
    far = _gold_case(2, "upscale")
    unfinished = _gold_case(3, "undo")
    irpem = Scored(
        [
            {"replace_object": -1.0, "remove_object": -0.5, "chat": -3.0},  # the rival is ahead
            {"upscale": -0.01, "variation": -9.0},  # 9 nats behind: beyond the margin
            {"undo": -0.1, "revert": -2.0},
        ],
        [remove, {"intent": "clarify", "params": {}, "response": "Say more?"}],
    )
    pairs, skipped = rival_pairs(irpem, [close, far, unfinished], margin=4.0, seed=0)
    [pair] = pairs
    assert pair.chosen == close.gold and pair.rejected == remove
    assert pair.provenance == {"dialogue": "d1", "turn": 1, "rule": "rival", "margin": -0.5}
    assert skipped == 2  # one rival too far behind, one answer that fell back to clarify
    assert [call[3]["only"] for call in irpem.calls] == ["remove_object", "revert"]


def test_balance_rivals_rejects_no_intent_more_often_than_it_is_chosen():
    from training.pairs import _pair, balance_rivals

    def answer(intent):
        return {"intent": intent, "params": {}, "response": "ok"}

    def rival(i, chosen, rejected, margin):
        return _pair(_gold_case(i, chosen), answer(chosen), answer(rejected), rule="rival", margin=margin)

    paper = _pair(_gold_case(0, "undo"), answer("undo"), answer("img2img"), rule="gold")
    pairs = [
        paper,
        rival(1, "style_anime", "img2img", 3.0),
        rival(2, "style_anime", "img2img", 1.0),
        rival(3, "style_anime", "img2img", 2.0),
        rival(4, "img2img", "style_anime", 4.0),
        rival(5, "img2img", "variation", 0.5),
    ]  # variation is never chosen: dropped
    kept = balance_rivals(pairs)
    assert kept[0] is paper  # the paper's rule is not a rival pair: kept, and not counted
    # img2img is chosen twice: only its two closest rejections stay
    assert [p.provenance["dialogue"] for p in kept[1:]] == ["d2", "d3", "d4"]


def test_make_pairs_adds_rival_pairs_and_balances_them_on_request(registry, data):
    def run(balance):
        chat = [{"intent": "chat", "params": {}, "response": f"r{i}"} for i in range(8)]
        variation = [{"intent": "variation", "params": {}, "response": "Another take."}] * 4
        irpem = Scored({"variation": 0.0, "chat": -0.5}, chat + variation)  # variation leads everywhere
        return make_pairs(irpem, registry, [data / "rlhf.jsonl"], limit=4, seed=1, rival=50.0, rival_balance=balance)

    pairs, counts = run(balance=False)
    rivals = [p for p in pairs if p.provenance["rule"] == "rival"]
    assert counts["rival"] == len(rivals) > 0 and "rival_unbalanced" not in counts
    assert all(p.rejected["intent"] == "variation" != p.chosen["intent"] for p in rivals)
    # no rival pair chooses variation, so balancing may reject it nowhere
    pairs, counts = run(balance=True)
    assert counts["rival_unbalanced"] == len(rivals) and counts["rival"] == 0
    assert not [p for p in pairs if p.provenance["rule"] == "rival"]


def test_rival_pairs_need_an_irpem_that_scores_intents(registry, data):
    irpem = ScriptedIrpem([])
    with pytest.raises(TypeError, match="ScriptedIrpem does not"):
        make_pairs(irpem, registry, [data / "rlhf.jsonl"], limit=4, seed=1, rival=5.0)
    assert irpem.calls == []
