"""IRPEM metrics against hand-computed values on small fixtures."""

from __future__ import annotations

import json

import pytest

from engine.config import DEFAULT_CONFIG, load_settings
from engine.registry import Registry
from eval.dialogues import Case, cases
from eval.metrics.intent import (
    INVALID_INTENT,
    key_terms,
    parameter_score,
    score_predictions,
    structure_score,
    text_problems,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_settings(load_settings(DEFAULT_CONFIG))


def out(intent: str, response: str = "Here you go.", **params) -> str:
    return json.dumps({"intent": intent, "params": params, "response": response})


def gold(intent: str, **params) -> dict:
    return {"intent": intent, "params": params, "response": "ok"}


# ----- tokenization -----


def test_key_terms_drops_stopwords_punctuation_and_plurals():
    assert key_terms("A red fox, in the snowy forest!") == {"red", "fox", "snowy", "forest"}
    assert key_terms("Two cats and boxes of puppies") == {"two", "cat", "box", "puppy"}
    assert key_terms("Van Gogh's style, please") == {"van", "gogh", "style"}
    assert key_terms("glass bus") == {"glass", "bus"}  # -ss / -us kept
    assert key_terms("") == set()


# ----- parameter accuracy -----


def test_key_terms_half_found(registry):
    g = gold("text2image", prompt="a red fox in a snowy forest")  # red fox snowy forest
    s = parameter_score(out("text2image", prompt="a red fox on a beach"), g, [], registry=registry)
    assert s.key_terms == pytest.approx(0.5)
    assert s.conditions == 1.0 and s.negatives == 1.0
    assert s.total == pytest.approx(0.4 * 0.5 + 0.3 + 0.3)


def test_numeric_tolerance(registry):
    g = gold("img2img", prompt="a castle", strength=0.6)
    inside = parameter_score(
        out("img2img", prompt="a castle", strength=0.65), g, [], current_image=1, registry=registry
    )
    outside = parameter_score(
        out("img2img", prompt="a castle", strength=0.8), g, [], current_image=1, registry=registry
    )
    # the image ref is not checked: neither side sets it (both mean the current image)
    assert inside.conditions == 1.0 and inside.total == pytest.approx(1.0)
    assert outside.conditions == 0.0
    assert outside.total == pytest.approx(0.4 + 0.3)
    # an omitted numeric takes the kind's default (strength 0.6)
    omitted = parameter_score(out("img2img", prompt="a castle"), g, [], current_image=1, registry=registry)
    assert omitted.conditions == 1.0
    # without a registry no default is known: a miss
    no_reg = parameter_score(out("img2img", prompt="a castle"), g, [], current_image=1)
    assert no_reg.conditions == 0.0
    # absolute tolerance for small values: |0.1 - 0.14| <= 0.05
    ga = gold("adjust", property="brightness", amount=0.1)
    assert (
        parameter_score(out("adjust", property="brightness", amount=0.14), ga, [], registry=registry).conditions == 1.0
    )
    assert parameter_score(
        out("adjust", property="brightness", amount=0.2), ga, [], registry=registry
    ).conditions == pytest.approx(0.5)


def test_enum_mismatch(registry):
    g = gold("adjust", property="contrast", amount=0.3, image="#2")
    s = parameter_score(
        out("adjust", property="saturation", amount=0.3, image="#2"), g, [], current_image=2, registry=registry
    )
    assert s.conditions == pytest.approx(2 / 3)  # property wrong, amount and image right
    up = gold("upscale", scale=4)
    assert parameter_score(out("upscale", scale=2), up, [], registry=registry).conditions == 0.0
    assert parameter_score(out("upscale", scale=4), up, [], registry=registry).conditions == 1.0


def test_image_refs_right_wrong_defaulted(registry):
    g = gold("instruct_edit", instruction="make the sky purple", image="#2")
    right = parameter_score(
        out("instruct_edit", instruction="make the sky purple", image="#2"), g, [], current_image=3, registry=registry
    )
    wrong = parameter_score(
        out("instruct_edit", instruction="make the sky purple", image="#1"), g, [], current_image=3, registry=registry
    )
    # omitted ref = current image: right when gold's ref is the current image...
    defaulted = parameter_score(
        out("instruct_edit", instruction="make the sky purple"), g, [], current_image=2, registry=registry
    )
    # ...and wrong when it is not
    defaulted_wrong = parameter_score(
        out("instruct_edit", instruction="make the sky purple"), g, [], current_image=3, registry=registry
    )
    assert (right.conditions, wrong.conditions) == (1.0, 0.0)
    assert (defaulted.conditions, defaulted_wrong.conditions) == (1.0, 0.0)
    assert wrong.total == pytest.approx(0.7)
    # gold omits it, prediction names the current image explicitly: right
    g2 = gold("vqa", question="what colour is the car?")
    assert (
        parameter_score(
            out("vqa", question="what colour is the car", image="#4"), g2, [], current_image=4, registry=registry
        ).conditions
        == 1.0
    )


def test_negatives(registry):
    g = gold("text2image", prompt="a quiet street at night", negative_prompt="people")
    good = parameter_score(
        out("text2image", prompt="a quiet street at night", negative_prompt="people, cars"),
        g,
        ["people"],
        registry=registry,
    )
    leaked = parameter_score(
        out("text2image", prompt="a quiet street at night without people", negative_prompt="people"),
        g,
        ["people"],
        registry=registry,
    )
    missing = parameter_score(out("text2image", prompt="a quiet street at night"), g, ["people"], registry=registry)
    assert good.negatives == 1.0 and good.total == pytest.approx(1.0)
    assert leaked.negatives == 0.0
    assert missing.negatives == 0.0
    # two negatives, one right: 0.5
    half = parameter_score(
        out("text2image", prompt="a quiet street", negative_prompt="people"), g, ["people", "cars"], registry=registry
    )
    assert half.negatives == pytest.approx(0.5)
    # an intent without a negative field is not checked
    e = gold("instruct_edit", instruction="remove the people")
    assert (
        parameter_score(
            out("instruct_edit", instruction="remove the people"), e, ["people"], registry=registry
        ).negatives
        == 1.0
    )


def test_wrong_intent_scores_zero_and_builtins_score_one(registry):
    g = gold("text2image", prompt="a cat")
    assert parameter_score(out("chat", prompt="a cat"), g, []).total == 0.0
    assert parameter_score("not json", g, []).total == 0.0
    assert parameter_score(out("undo"), gold("undo"), [], registry=registry).total == 1.0


# ----- structural conformity -----


def test_structure_valid_and_clean(registry):
    s = structure_score(out("text2image", "A cat for you.", prompt="a cat on a sofa"), registry)
    assert (s.valid, s.clean, s.total) == (1.0, 1.0, 1.0)


def test_structure_invalid_json_is_04(registry):
    s = structure_score('{"intent": "text2image", "params": {"prompt": "a cat"', registry)
    assert (s.valid, s.clean) == (0.0, 1.0)
    assert s.total == pytest.approx(0.4)
    # valid JSON but not the schema (unknown pipeline; out-of-range value)
    assert structure_score(out("paint", prompt="a cat"), registry).total == pytest.approx(0.4)
    assert structure_score(out("img2img", prompt="a cat", strength=3.0), registry).valid == 0.0
    # a disabled intent is not valid
    assert structure_score(out("vqa", question="what?"), registry, enabled=["text2image"]).valid == 0.0


@pytest.mark.parametrize("prompt", ["a cat a cat a cat a cat", "a tjjjjjjjj cat", "cat cat cat cat"])
def test_structure_repetition(registry, prompt):
    s = structure_score(out("text2image", prompt=prompt), registry)
    assert (s.valid, s.clean) == (1.0, 0.0)
    assert s.total == pytest.approx(0.6)


def test_structure_repetition_in_response_and_in_broken_json(registry):
    s = structure_score(out("chat", "ok ok " + "tjjjjjjjjjjjjjjjjjjjj"), registry)
    assert s.total == pytest.approx(0.6)
    s = structure_score('{"intent":"chat","params":{},"response":"tjjjjjjjjjjjjjjjjjjjjjjjjj', registry)
    assert (s.valid, s.clean, s.total) == (0.0, 0.0, 0.0)


def test_structure_garbage(registry):
    mixed = structure_score(out("text2image", prompt="a \u0441at on a sofa"), registry)  # Cyrillic с
    assert (mixed.valid, mixed.clean, mixed.total) == (1.0, 0.0, pytest.approx(0.6))
    assert any("mixed scripts" in p for p in mixed.problems)
    assert text_problems("a c\u0000at") and text_problems("a c\ufffdt")
    assert text_problems("#$%&*@!~^ cat")  # symbol share 9/12
    # clean texts that must stay clean
    for t in [
        "кот на диване",
        "猫がソファに座っている",
        "8k, hdr, (masterpiece:1.2)",
        "a 1000000 pixel image",
        "Hello!\nHow are you?",
        "a red fox in a red forest",
    ]:
        assert text_problems(t) == [], t


# ----- the report -----


def _case(i: int, intent: str, negatives=(), current=None, **params) -> Case:
    return Case(f"d{i}", 1, [], current, gold(intent, **params), list(negatives))


def test_score_predictions(registry):
    items = [
        (
            _case(0, "text2image", prompt="a red fox in a snowy forest"),
            out("text2image", prompt="a red fox on a beach"),
        ),  # right, param 0.8
        (
            _case(1, "instruct_edit", current=1, instruction="make the sky purple", image="#1"),
            out("instruct_edit", instruction="make the sky purple"),
        ),  # right, param 1.0
        (_case(2, "text2image", prompt="a cat"), out("chat", "Hi!")),  # wrong
        (_case(3, "chat"), out("chat", "Hello there!")),  # right, param 1.0
    ]
    r = score_predictions(items, registry)
    assert r.n == 4
    assert r.isa == pytest.approx(0.75)
    assert r.param_n == 3
    assert r.parameter_accuracy == pytest.approx((0.8 + 1.0 + 1.0) / 3)
    assert r.parameter_accuracy_all == pytest.approx((0.8 + 1.0 + 0.0 + 1.0) / 4)
    assert r.key_terms == pytest.approx((0.5 + 1 + 1) / 3)
    assert r.structural_conformity == 1.0
    assert r.per_intent == {"chat": (1, 1, 1.0), "instruct_edit": (1, 1, 1.0), "text2image": (1, 2, 0.5)}
    assert r.confusion == {
        "chat": {"chat": 1},
        "instruct_edit": {"instruct_edit": 1},
        "text2image": {"chat": 1, "text2image": 1},
    }
    assert [(c.dialogue_id, c.gold_intent, c.pred_intent) for c in r.records][2] == ("d2", "text2image", "chat")
    assert r.records[0].param_total == pytest.approx(0.8)


def test_score_predictions_invalid_and_garbled(registry):
    items = [
        (_case(0, "text2image", prompt="a cat"), '{"intent": "text2image", "params": {"prompt": "a ca'),
        (_case(1, "text2image", prompt="a cat"), "I think you want a picture"),
        (_case(2, "text2image", prompt="a cat"), out("text2image", prompt="a cat a cat a cat a cat")),
        (_case(3, "vqa", current=2, question="what is it?"), out("vqa", question="what is it?")),
    ]
    r = score_predictions(items, registry)
    assert r.isa == pytest.approx(0.5)
    assert r.confusion == {"text2image": {INVALID_INTENT: 2, "text2image": 1}, "vqa": {"vqa": 1}}
    assert r.per_intent["text2image"] == (1, 3, pytest.approx(1 / 3))
    # 0.4 (broken JSON, clean) + 0.4 (prose, clean) + 0.6 (valid, repeated) + 1.0
    assert r.structural_conformity == pytest.approx((0.4 + 0.4 + 0.6 + 1.0) / 4)
    assert r.structure_valid == pytest.approx(0.5)
    assert r.structure_clean == pytest.approx(0.75)


def test_report_to_dict_round_trips(registry):
    items = [(_case(0, "text2image", prompt="a cat"), out("text2image", prompt="a cat")), (_case(1, "chat"), "garbage")]
    d = score_predictions(items, registry).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["per_intent"]["text2image"] == {"correct": 1, "total": 1, "accuracy": 1.0}
    assert d["records"][1]["pred_intent"] == INVALID_INTENT
    assert score_predictions([], registry).to_dict()["n"] == 0


def test_cases_from_a_dialogue_feed_the_scorer(registry):
    dialogue = {
        "id": "d1",
        "turns": [
            {"role": "user", "text": "a fox, no trees", "images": []},
            {
                "role": "assistant",
                "gold": {
                    "intent": "text2image",
                    "params": {"prompt": "a fox", "negative_prompt": "trees"},
                    "response": "Here.",
                },
                "negatives": ["trees"],
                "images": [1],
            },
            {"role": "user", "text": "make it brighter", "images": []},
            {
                "role": "assistant",
                "gold": {
                    "intent": "adjust",
                    "params": {"property": "brightness", "amount": 0.3},
                    "response": "Brighter.",
                },
                "images": [2],
            },
        ],
    }
    cs = list(cases(dialogue))
    preds = [
        out("text2image", prompt="a fox", negative_prompt="trees"),
        out("adjust", property="brightness", amount=0.3, image="#1"),
    ]
    r = score_predictions(list(zip(cs, preds)), registry)
    assert r.isa == 1.0 and r.structural_conformity == 1.0
    assert r.parameter_accuracy == pytest.approx(1.0)
