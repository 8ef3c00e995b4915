"""DrawnConvos generator: split and length quotas, gold labels valid against the registry,
held-out TEST phrasings and words, byte-for-byte reproducibility."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from engine.config import DEFAULT_CONFIG, PipelineInstance, load_settings
from engine.registry import Registry
from eval.dialogues import cases, read_dialogues
from training.drawnconvos import generate, templates, vocab
from training.drawnconvos.stats import distinct_n

N = 400


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_settings(load_settings(DEFAULT_CONFIG))


@pytest.fixture(scope="module")
def dataset(registry, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drawnconvos")
    generate(registry, out, N, seed=7, progress=False)
    return out


def _dialogues(out: Path, split: str) -> list[dict]:
    return list(read_dialogues(out / f"{split}.jsonl"))


def test_splits_are_six_three_one_and_labelled(dataset):
    sizes = {s: len(_dialogues(dataset, s)) for s in ("sft", "rlhf", "test")}
    assert sizes == {"sft": 240, "rlhf": 120, "test": 40}
    for split in sizes:
        assert {d["meta"]["split"] for d in _dialogues(dataset, split)} == {split}
    ids = [d["id"] for s in sizes for d in _dialogues(dataset, s)]
    assert len(set(ids)) == N


def test_turn_counts_are_30_60_10_and_alternate(dataset):
    rounds = Counter()
    for split in ("sft", "rlhf", "test"):
        for d in _dialogues(dataset, split):
            roles = [t["role"] for t in d["turns"]]
            assert roles == ["user", "assistant"] * (len(roles) // 2)
            rounds[len(roles) // 2] += 1
    assert rounds[1] == 0.3 * N
    assert rounds[2] + rounds[3] == 0.6 * N
    assert sum(v for k, v in rounds.items() if k >= 4) == 0.1 * N
    stats = json.loads((dataset / "stats.json").read_text())
    assert stats["rounds_share"] == {"1": 0.3, "2-3": 0.6, "4+": 0.1}


def test_every_gold_validates_with_existing_images_and_current_image(dataset, registry):
    seen_intents = Counter()
    for split in ("sft", "rlhf", "test"):
        for d in _dialogues(dataset, split):
            images_so_far = 0
            for turn in d["turns"]:
                if turn["role"] == "assistant":
                    gold = turn["gold"]
                    valid = registry.validate(gold)  # raises IntentError if not
                    assert gold["intent"] in registry.intents(has_images=images_so_far > 0)
                    ref = valid.inputs.model_dump(exclude_none=True).get("image")
                    if ref is not None:
                        assert 1 <= int(ref[1:]) <= images_so_far
                    current = turn["current_image"]
                    assert (current is None) == (images_so_far == 0)
                    if current is not None:
                        assert 1 <= current <= images_so_far
                    for neg in turn["negatives"]:
                        assert neg in gold["params"].get("negative_prompt", "")
                        assert neg not in gold["params"].get("prompt", "")
                    seen_intents[gold["intent"]] += 1
                new = turn["images"]
                assert new == list(range(images_so_far + 1, images_so_far + 1 + len(new)))
                images_so_far += len(new)
            assert len(list(cases(d))) == len(d["turns"]) // 2
    skipped = json.loads((dataset / "stats.json").read_text())["intents_without_template"]
    assert set(seen_intents) == set(registry.intents()) - set(skipped)


def test_references_switches_undo_revert_negatives_and_uploads_occur(dataset):
    dialogues = [d for s in ("sft", "rlhf") for d in _dialogues(dataset, s)]
    assistant = [t for d in dialogues for t in d["turns"] if t["role"] == "assistant"]
    # an edit aimed at an image that is not the current one
    assert any(t["gold"]["params"].get("image") not in (None, f"#{t['current_image']}")
               for t in assistant if t["gold"]["intent"] != "revert")
    assert any(t["negatives"] for t in assistant)
    assert any(t["images"] for d in dialogues for t in d["turns"] if t["role"] == "user")
    switches = sum(
        a["gold"]["intent"] != b["gold"]["intent"]
        for d in dialogues
        for a, b in zip([t for t in d["turns"] if t["role"] == "assistant"],
                        [t for t in d["turns"] if t["role"] == "assistant"][1:]))
    assert switches > 50
    # after an undo the current image is the one before the undone change
    for d in dialogues:
        turns = d["turns"]
        for i, t in enumerate(turns):
            if t["role"] == "assistant" and t["gold"]["intent"] == "undo" and i + 2 < len(turns):
                assert turns[i + 2]["current_image"] < t["current_image"] or turns[i + 1]["images"]


def test_test_phrasings_and_words_are_held_out(dataset):
    def templates_of(splits):
        return {tid for s in splits for d in _dialogues(dataset, s) for tid in d["meta"]["templates"]}

    train, test = templates_of(("sft", "rlhf")), templates_of(("test",))
    assert test and train and not (train & test)
    texts = lambda splits: {t["text"] for s in splits for d in _dialogues(dataset, s)  # noqa: E731
                            for t in d["turns"] if t["role"] == "user"}
    assert not (texts(("sft", "rlhf")) & texts(("test",)))
    for words in (vocab.NOUNS, vocab.STYLES, vocab.ADJECTIVES, vocab.SETTINGS, vocab.NEGATIVES):
        held, kept = set(vocab.pool(words, "test")), set(vocab.pool(words, "sft"))
        assert held and kept and not (held & kept) and held | kept == set(words)
    # the subjects drawn in TEST come from the held-out nouns only
    test_prompts = [t["gold"]["params"]["prompt"] for d in _dialogues(dataset, "test") for t in d["turns"]
                    if t["role"] == "assistant" and t["gold"]["intent"] == "text2image"]
    train_only = [n for n in vocab.pool(vocab.NOUNS, "sft") if " " in n]  # multi-word nouns are unambiguous
    assert test_prompts and not any(n in p for p in test_prompts for n in train_only)


def test_same_seed_same_bytes_other_seed_other_bytes(registry, tmp_path):
    a, b, c = (generate(registry, tmp_path / name, 60, seed=s, progress=False) and tmp_path / name
               for name, s in (("a", 3), ("b", 3), ("c", 4)))
    for f in ("sft.jsonl", "rlhf.jsonl", "test.jsonl", "stats.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes()
    assert (a / "sft.jsonl").read_bytes() != (c / "sft.jsonl").read_bytes()


def test_stats_report_intents_distinct2_and_coverage(dataset, registry):
    stats = json.loads((dataset / "stats.json").read_text())
    assert set(stats["intents"]) == set(registry.intents())
    assert sum(stats["intents"].values()) == stats["assistant_turns"]
    assert 0 < stats["distinct_2"]["all"] <= 1
    cov = stats["template_coverage"]
    assert 0 < cov["share"] <= 1 and cov["lists"]["text2image.ask"]["phrasings"] == len(templates.T2I)
    for intent in stats["intents_without_template"]:
        assert stats["intents"][intent] == 0


def test_kinds_without_template_are_skipped_and_reported(tmp_path, monkeypatch):
    registry = Registry([PipelineInstance(id=k, kind=k) for k in ("text2image", "upscale", "vqa")])
    monkeypatch.delitem(templates.TEMPLATES, "upscale")
    stats = generate(registry, tmp_path, 50, seed=1, progress=False)
    assert stats["intents_without_template"] == ["upscale"]
    assert stats["intents"]["upscale"] == 0 and stats["intents"]["vqa"] > 0


def test_instances_are_generated_under_their_own_id(tmp_path):
    registry = Registry([PipelineInstance(id="draw", kind="text2image"),
                         PipelineInstance(id="restyle", kind="img2img")])
    stats = generate(registry, tmp_path, 80, seed=2, progress=False)
    assert stats["intents"]["draw"] > 0 and stats["intents"]["restyle"] > 0


def test_presets_of_one_kind_without_own_template_are_skipped(tmp_path):
    registry = Registry([PipelineInstance(id="text2image", kind="text2image"),
                         PipelineInstance(id="img2img", kind="img2img"),
                         PipelineInstance(id="style_anime", kind="img2img")])
    stats = generate(registry, tmp_path, 60, seed=2, progress=False)
    assert stats["intents_without_template"] == ["style_anime"]
    assert stats["intents"]["img2img"] > 0 and stats["intents"]["style_anime"] == 0
    for d in read_dialogues(tmp_path / "sft.jsonl"):
        for t in d["turns"]:
            if t["role"] == "assistant":
                registry.validate(t["gold"])


def test_distinct_n_counts_repeats():
    assert distinct_n(["a b c", "a b c"]) == 0.5
    assert distinct_n(["a b", "c d"]) == 1.0
