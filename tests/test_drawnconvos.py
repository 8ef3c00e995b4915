"""DrawnConvos generator: split and length quotas, gold labels valid against the registry,
held-out TEST phrasings and words, byte-for-byte reproducibility."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from engine.config import DEFAULT_CONFIG, PipelineInstance, load_settings
from engine.registry import Registry
from engine.session import ImageState
from eval.dialogues import cases, read_dialogues
from training.drawnconvos import generate, templates, vocab
from training.drawnconvos.stats import distinct_n, phrasing_ids

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
    assert any(
        t["gold"]["params"].get("image") not in (None, f"#{t['current_image']}")
        for t in assistant
        if t["gold"]["intent"] != "revert"
    )
    assert any(t["negatives"] for t in assistant)
    assert any(t["images"] for d in dialogues for t in d["turns"] if t["role"] == "user")
    switches = sum(
        a["gold"]["intent"] != b["gold"]["intent"]
        for d in dialogues
        for a, b in zip(
            [t for t in d["turns"] if t["role"] == "assistant"], [t for t in d["turns"] if t["role"] == "assistant"][1:]
        )
    )
    assert switches > 50
    # after an undo the current image is the one before the undone change (which may be a
    # revert: undoing "go back to #1" returns to the image that was current before it)
    undone = 0
    for d in dialogues:
        history: list[int] = []
        for t in d["turns"]:
            if t["role"] == "assistant":
                assert t["current_image"] == (history[-1] if history else None)
                intent = t["gold"]["intent"]
                if intent == "undo":
                    history.pop()
                    undone += 1
                elif intent == "revert":
                    history.append(int(t["gold"]["params"]["image"][1:]))
            history.extend(t["images"])
    assert undone


def test_test_phrasings_and_words_are_held_out(dataset):
    def templates_of(splits):
        return {tid for s in splits for d in _dialogues(dataset, s) for tid in phrasing_ids(d)}

    train, test = templates_of(("sft", "rlhf")), templates_of(("test",))
    assert test and train and not (train & test)

    def texts(splits):
        return {t["text"] for s in splits for d in _dialogues(dataset, s) for t in d["turns"] if t["role"] == "user"}

    assert not (texts(("sft", "rlhf")) & texts(("test",)))
    for words in (vocab.NOUNS, vocab.STYLES, vocab.ADJECTIVES, vocab.SETTINGS, vocab.NEGATIVES):
        held, kept = set(vocab.pool(words, "test")), set(vocab.pool(words, "sft"))
        assert held and kept and not (held & kept) and held | kept == set(words)
    # the subjects drawn in TEST come from the held-out nouns only
    test_prompts = [
        t["gold"]["params"]["prompt"]
        for d in _dialogues(dataset, "test")
        for t in d["turns"]
        if t["role"] == "assistant" and t["gold"]["intent"] == "text2image"
    ]
    train_only = [n for n in vocab.pool(vocab.NOUNS, "sft") if " " in n]  # multi-word nouns are unambiguous
    assert test_prompts and not any(n in p for p in test_prompts for n in train_only)


def _phrasing_lists():
    """Every list of phrasings in ``templates`` (in dicts too), as (name, texts); a list of
    tuples counts by each tuple's first member, the text."""
    for name, value in vars(templates).items():
        for key, items in value.items() if isinstance(value, dict) else [(None, value)]:
            if isinstance(items, list) and items and all(isinstance(x, (str, tuple)) and x for x in items):
                texts = [x if isinstance(x, str) else x[0] for x in items]
                if all(isinstance(t, str) for t in texts):
                    yield name if key is None else f"{name}[{key}]", texts


def test_no_training_phrasing_is_a_test_phrasing_reworded():
    """Held-out positions keep TEST's phrasings unseen only if the training side has nothing
    with the same words ("take {x} out" / "take out {x}"); slot-only fragments are exempt."""

    def words(text: str) -> frozenset[str]:
        return frozenset(re.findall(r"[a-z0-9']+", re.sub(r"\{[^}]*\}", " ", text.lower())))

    checked, shared = 0, []
    for name, texts in _phrasing_lists():
        sides = [(vocab.is_held_out(i), words(t), t) for i, t in enumerate(texts)]
        train = {w: t for held, w, t in sides if not held and w}
        for held, w, text in sides:
            if held and w:
                checked += 1
                if w in train:
                    shared.append((name, train[w], text))
    assert checked > 300 and not shared


def test_same_seed_same_bytes_other_seed_other_bytes(registry, tmp_path):
    a, b, c = (
        generate(registry, tmp_path / name, 60, seed=s, progress=False) and tmp_path / name
        for name, s in (("a", 3), ("b", 3), ("c", 4))
    )
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
    registry = Registry(
        [PipelineInstance(id="draw", kind="text2image"), PipelineInstance(id="restyle", kind="img2img")]
    )
    stats = generate(registry, tmp_path, 80, seed=2, progress=False)
    assert stats["intents"]["draw"] > 0 and stats["intents"]["restyle"] > 0


def test_presets_of_one_kind_without_own_template_are_skipped(tmp_path):
    registry = Registry(
        [
            PipelineInstance(id="text2image", kind="text2image"),
            PipelineInstance(id="img2img", kind="img2img"),
            PipelineInstance(id="style_pixel", kind="img2img", defaults={"style": "pixel art"}),
        ]
    )
    stats = generate(registry, tmp_path, 60, seed=2, progress=False)
    assert stats["intents_without_template"] == ["style_pixel"]
    assert stats["intents"]["img2img"] > 0 and stats["intents"]["style_pixel"] == 0
    for d in read_dialogues(tmp_path / "sft.jsonl"):
        for t in d["turns"]:
            if t["role"] == "assistant":
                registry.validate(t["gold"])


def test_default_catalog_has_a_template_for_every_enabled_instance(registry):
    from training.drawnconvos.generator import Catalog

    catalog = Catalog.from_registry(registry)
    assert catalog.skipped == []
    assert set(catalog.templates) == set(registry.intents())


def test_every_intent_gets_a_fair_share(dataset):
    stats = json.loads((dataset / "stats.json").read_text())
    n = stats["assistant_turns"]
    shares = {i: c / n for i, c in stats["intents"].items()}
    assert min(shares.values()) > 0.005, shares  # 400 dialogues: ~1.5% expected at the least
    assert shares["text2image"] < 0.3


def test_a_phrasing_template_always_means_one_intent(dataset, registry):
    from training.drawnconvos.generator import Catalog

    key_of = {intent: key for intent, (key, _) in Catalog.from_registry(registry).templates.items()}
    assert len(set(key_of.values())) == len(key_of)  # no two intents share a template key
    intent_of = {key: intent for intent, key in key_of.items()}
    meaning: dict[str, set[str]] = {}
    for split in ("sft", "rlhf", "test"):
        for d in _dialogues(dataset, split):
            for t in d["turns"]:
                if t["role"] != "assistant":
                    continue
                assert t["phrasings"], t  # every answered request names the phrasings that wrote it
                for tid in t["phrasings"]:
                    intent = intent_of[tid.split(".", 1)[0]]
                    assert intent == t["gold"]["intent"], (tid, t["gold"]["intent"])
                    meaning.setdefault(tid, set()).add(intent)
    assert meaning and all(len(i) == 1 for i in meaning.values())


def _core_requests(per_intent: int = 250) -> list[tuple[str, str, dict]]:
    """(clean request text, intent, params) built straight from every template, without
    wrappers or typos, on a session of three described images."""
    import random

    out = []
    offered = frozenset(templates.TEMPLATES)
    for intent, template in templates.TEMPLATES.items():
        for i in range(per_intent):
            split = "test" if i % 5 == 0 else "sft"
            rng = random.Random(f"{intent}:{i}")
            session = templates.Session(
                [
                    templates.Image("a red fox", "fox"),
                    templates.Image("an old mill", "mill"),
                    templates.Image(None, None),
                ],
                state=ImageState(3, 3, (1, 2, 3)),
            )
            target = rng.choice([1, 2]) if intent == "revert" else None
            ctx = templates.Ctx(rng, split, session, intent, target, offered)
            ctx.noisy = False
            request = template.build(ctx)
            out.append((request.text.lower(), intent, request.params))
    return out


def test_the_same_request_text_never_gets_two_intents():
    seen: dict[str, set[str]] = {}
    for text, intent, _ in _core_requests():
        seen.setdefault(text, set()).add(intent)
    clashes = {t: i for t, i in seen.items() if len(i) > 1}
    assert not clashes


GENERATIVE = {"text2image", "sketch2image", "canny2image", "depth2image", "blend"}
WITH_NEGATIVES = GENERATIVE | {"img2img"}
# words that mark one kind of request, and the only intents whose requests may contain them
CUES = [
    (r"\breplace\b|\bswap\b|\bsubstitute\b|in place of", {"replace_object", "change_background"}),
    (r"^(remove|erase|delete|get rid of|take out)\b", {"remove_object", "remove_background"}),
    (r"\bprompt\b|/describe", {"describe"}),
    (r"black and white|grayscale|greyscale|monochrome|sepia|b&w", {"filter", "colorize"}),
    (r"\b(rotate|flip|mirror|crop)\b", {"transform"}),
    (r"zoom out", {"outpaint"}),
    (r"\bvariation|\bvariant\b", {"variation"}),
    (r"\b(outlines|edges|contours)\b", {"canny2image"}),
    (r"\b(doodle|scribble)\b|\bmy (rough )?sketch", {"sketch2image"}),
    (r"\banime\b|\bmanga\b|ghibli", GENERATIVE | {"style_anime"}),
    (r"watercol|aquarel|acuarela", GENERATIVE | {"style_watercolor"}),
    (r"pencil|graphite|charcoal", GENERATIVE | {"style_sketch"}),
    (r"\b(brighter|darker|dimmer|sharper|crisper)\b", {"adjust"}),
    (r"\bcolou?ri[sz]e|add (realistic )?colou?r|colou?r it in", {"colorize"}),
    (r"\bcaption\b|\bmeme\b", {"add_text"}),
    (r"\bbackground\b", {"change_background", "remove_background", "adjust", "filter", "vqa"}),
    (r"\bupscale|\bresolution\b|\benlarge", {"upscale"}),
    (r"\bblur", WITH_NEGATIVES | {"filter"}),
    (r"^pan\b", {"pan"}),
    (r"\bundo\b", {"undo"}),
]


def test_cue_words_point_to_one_kind_of_request():
    import re

    for text, intent, _ in _core_requests():
        for cue, allowed in CUES:
            if re.search(cue, text):
                assert intent in allowed, f"{text!r} is {intent}, but {cue!r} belongs to {sorted(allowed)}"


def test_styles_with_a_preset_go_to_the_preset_and_others_to_img2img():
    import re

    preset_cues = "|".join(cue for cue, _ in templates.STYLE_PRESETS.values())
    for text, intent, params in _core_requests():
        if intent == "img2img":
            assert "style" in params and not re.search(preset_cues, params["style"]), (text, params)
        if intent in templates.STYLE_PRESETS:
            assert "style" not in params and re.search(templates.STYLE_PRESETS[intent][0], text)


def test_distinct_n_counts_repeats():
    assert distinct_n(["a b c", "a b c"]) == 0.5
    assert distinct_n(["a b", "c d"]) == 1.0


def test_a_rewrite_is_kept_only_if_it_keeps_what_the_label_copies():
    from training.drawnconvos.paraphrase import acceptable, required_spans

    text = "on #2, replace the dog with a red tiger, no people"
    gold = {
        "intent": "replace_object",
        "params": {"image": "#2", "target": "the dog", "replacement": "a red tiger"},
        "response": "Swapping.",
    }
    spans = required_spans(text, gold, ["people"])
    assert set(spans) == {"#2", "the dog", "a red tiger", "people"}
    assert acceptable(text, "could you swap the dog in #2 for a red tiger? and no people please", spans)
    assert not acceptable(text, "swap the dog in #2 for a tiger, no people", spans)  # lost "red"
    assert not acceptable(text, "replace the dog with a red tiger, no people", spans)  # lost "#2"
    assert not acceptable(text, text.upper(), spans)  # not a rewrite
    assert not acceptable(text, "Sure! Here it is:\nreplace the dog in #2 with a red tiger, no people", spans)
    assert not acceptable(text, "#2 the dog a red tiger people " * 6, spans)  # rambling


@pytest.mark.slow
def test_paraphrase_pass_with_the_real_smollm2(registry, tmp_path):
    from engine.irpem.smollm2 import smollm2_checkpoint
    from tests.conftest import SHARED_DATA
    from training.drawnconvos.paraphrase import Paraphraser, acceptable, required_spans

    plain, para = tmp_path / "plain", tmp_path / "para"
    generate(registry, plain, 10, seed=3, progress=False)
    paraphraser = Paraphraser(str(smollm2_checkpoint(SHARED_DATA / "models")), max_new_tokens=40)
    stats = generate(registry, para, 10, seed=3, progress=False, paraphraser=paraphraser, paraphrase_share=0.5)
    assert (para / "test.jsonl").read_bytes() == (plain / "test.jsonl").read_bytes()  # TEST stays held out
    assert stats["paraphrase"]["attempted"] > 0
    kept = 0
    for split in ("sft", "rlhf"):
        for p_dlg, o_dlg in zip(_dialogues(para, split), _dialogues(plain, split), strict=True):
            for i, (p, o) in enumerate(zip(p_dlg["turns"], o_dlg["turns"], strict=True)):
                if p["role"] == "assistant":
                    assert p == o  # labels untouched
                elif "original_text" in p:
                    kept += 1
                    answer = p_dlg["turns"][i + 1]
                    assert p["original_text"] == o["text"] and p["text"] != o["text"]
                    assert acceptable(
                        o["text"], p["text"], required_spans(o["text"], answer["gold"], answer["negatives"])
                    )
                else:
                    assert p["text"] == o["text"]
    assert kept == stats["paraphrase"]["kept"]
    print(f"\nparaphrase: {stats['paraphrase']}")
