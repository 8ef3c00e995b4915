"""The session's rules (``engine.session``) as plain functions: numbering, the current image,
undo/revert history, A/B choice, buttons, corrections, who may act and the limits; and the
one thing they exist for: DrawnConvos' gold labels follow the very same rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import DEFAULT_CONFIG, Limits, load_settings
from engine.registry import IntentError, Registry
from engine.session import (
    HISTORY_LIMIT,
    NOTHING_TO_UNDO,
    Answer,
    ImageState,
    JobOrder,
    Refusal,
    Ticket,
    admit,
    correction,
    correction_defaults,
    effective_limits,
    forced_intent,
    image_number,
    may_act,
    quota_refusal,
    replay,
    settable_inputs,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_settings(load_settings(DEFAULT_CONFIG))


def test_the_issue_sequence_draw_edit_revert_undo_returns_to_the_edit():
    state, _ = ImageState().add()  # draw: #1
    state, _ = state.add()  # edit: #2
    state = state.revert("#1").state  # "go back to #1"
    moved = state.undo()  # "undo": reverses the revert
    assert (moved.state.current, moved.notice) == (2, None)
    moved = moved.state.undo()  # a second undo goes one step further back
    assert (moved.state.current, moved.notice) == (1, None)
    assert moved.state.undo().notice == NOTHING_TO_UNDO


def test_numbers_are_given_in_order_and_an_answer_with_several_images_is_one_change():
    state, first = ImageState().add(2)  # two attachments in one turn
    assert first == [1, 2] and state.current == 2
    state, more = state.add(1)
    assert more == [3] and state.undo().state.current == 2  # back to the state after the turn
    assert state.undo().state.undo().notice == NOTHING_TO_UNDO


def test_revert_refuses_an_image_that_does_not_exist_and_ignores_the_current_one():
    state, _ = ImageState().add(2)
    for ref in ("#3", "#0", "seven", None):
        moved = state.revert(ref)
        assert moved.state == state and moved.notice.startswith("There is no image")
    assert state.revert(2).state == state and state.revert(2).notice is None
    assert state.apply({"intent": "revert", "params": {"image": "#1"}}).state.current == 1
    assert state.apply({"intent": "vqa", "params": {}}).state == state


def test_an_ab_choice_takes_the_shown_images_place_and_undo_goes_behind_both():
    state, _ = ImageState().add()  # #1
    state, (a, b) = state.add_shown([1, 1])  # A is #2, B is #3; A stands until chosen
    assert (a, b, state.current) == ([2], [3], 2)
    chosen = state.choose(a + b, b)
    assert chosen.current == 3 and chosen.count == 3
    assert chosen.undo().state.current == 1
    moved_on = chosen.revert(1).state  # the conversation moved on: a late choice changes nothing
    assert moved_on.choose(a + b, a) == moved_on


def test_an_ab_answer_whose_first_take_made_no_image_keeps_the_current_one():
    state, _ = ImageState().add()
    state, (a, b) = state.add_shown([0, 1])
    assert (a, b, state.current, state.count) == ([], [2], 1, 2)


def test_history_is_bounded():
    state = ImageState()
    for _ in range(HISTORY_LIMIT + 10):
        state, _ = state.add()
    assert len(state.history) == HISTORY_LIMIT and state.current == HISTORY_LIMIT + 10


def test_image_number_reads_every_way_a_reference_is_written():
    assert [image_number(r) for r in ("#3", "3", 3, " #12 ")] == [3, 3, 3, 12]
    assert [image_number(r) for r in ("#x", None, True, 2.0)] == [None] * 4


# ----- properties over any sequence of changes -----

change = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 3)),
    st.tuples(st.just("revert"), st.integers(1, 12)),
    st.tuples(st.just("undo"), st.just(0)),
)


def run(changes) -> list[ImageState]:
    states = [ImageState()]
    for op, arg in changes:
        state = states[-1]
        if op == "add":
            state = state.add(arg)[0]
        elif op == "revert":
            state = state.revert(arg).state
        else:
            state = state.undo().state
        states.append(state)
    return states


@settings(max_examples=300, deadline=None)
@given(st.lists(change, max_size=25))
def test_the_current_image_is_always_the_last_history_entry_and_exists(changes):
    for state in run(changes):
        assert state.current == (state.history[-1] if state.history else None)
        assert all(1 <= n <= state.count for n in state.history)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(change, max_size=25),
    st.lists(st.sampled_from(["add", "revert"]), min_size=1, max_size=6),
    st.integers(1, 12),
)
def test_n_undos_reverse_the_last_n_changes_one_at_a_time(prefix, ops, target):
    """Whatever came before: after changes c1..cn of the current image, undo n times walks
    back through the current images before cn, cn-1, ..., c1, and never renumbers."""
    state = run(prefix)[-1]
    currents = []
    for op in ops:
        before = state
        state = state.add()[0] if op == "add" else state.revert(target).state
        if state != before:  # a revert to the current or a missing image is no change
            currents.append(before.current)
    count = state.count
    for expected in reversed(currents):
        if expected is None:  # back at the very start: nothing to go back to
            assert state.undo().notice == NOTHING_TO_UNDO
            break
        moved = state.undo()
        assert moved.notice is None and moved.state.current == expected and moved.state.count == count
        state = moved.state


@settings(max_examples=200, deadline=None)
@given(st.lists(change, max_size=20))
def test_an_undo_with_nothing_to_undo_changes_nothing(changes):
    state = run(changes)[-1]
    moved = state.undo()
    if moved.notice is not None:
        assert moved.notice == NOTHING_TO_UNDO and moved.state == state and len(state.history) < 2


# ----- DrawnConvos: gold labels live by the same rules -----


def test_drawnconvos_current_images_are_what_the_rules_replay(registry):
    """Every assistant turn's ``current_image`` in generated DrawnConvos (training and test
    data) is the current image the session rules give for the turns before it."""
    from training.drawnconvos.generator import Catalog, generate_dialogue

    catalog = Catalog.from_registry(registry)
    undos = reverts = 0
    for i in range(400):
        dialogue, _ = generate_dialogue(registry, catalog, i, ("sft", "rlhf", "test")[i % 3], 6, seed=0)
        turns = dialogue["turns"]
        states = replay((t["role"], t.get("images", []), t.get("gold")) for t in turns)
        said = [t["current_image"] for t in turns if t["role"] == "assistant"]
        assert [s.current for s in states] == said, dialogue["id"]
        undos += sum(t.get("gold", {}).get("intent") == "undo" for t in turns)
        reverts += sum(t.get("gold", {}).get("intent") == "revert" for t in turns)
    assert undos > 20 and reverts > 20  # the sample does exercise undo and revert


def test_the_eval_reads_the_current_image_with_the_same_rules():
    """A dialogue file without ``current_image``: the eval's current image follows the rules
    (after "go back to #1" and "undo", the edit #2), not "the newest image"."""
    from eval.dialogues import cases

    def gold(intent, **params):
        return {"intent": intent, "params": params, "response": ""}

    dialogue = {
        "id": "d",
        "turns": [
            {"role": "user", "text": "a red fox", "images": []},
            {"role": "assistant", "gold": gold("text2image", prompt="a red fox"), "images": [1]},
            {"role": "user", "text": "make it night", "images": []},
            {"role": "assistant", "gold": gold("instruct_edit", instruction="make it night"), "images": [2]},
            {"role": "user", "text": "go back to #1", "images": []},
            {"role": "assistant", "gold": gold("revert", image="#1"), "images": []},
            {"role": "user", "text": "undo", "images": []},
            {"role": "assistant", "gold": gold("undo"), "images": []},
            {"role": "user", "text": "what is it?", "images": []},
            {"role": "assistant", "gold": gold("vqa", question="what is it?"), "images": []},
        ],
    }
    assert [c.current_image for c in cases(dialogue)] == [None, 1, 2, 1, 2]


def test_replay_refuses_a_file_that_numbers_images_out_of_order():
    with pytest.raises(ValueError, match="numbered"):
        replay([("user", [2], None)])


# ----- buttons -----


def test_reroll_repeats_the_answer_on_its_source_image(registry):
    answer = Answer({"intent": "img2img", "params": {"prompt": "night"}, "response": ""}, (5,), parent=3)
    forced = forced_intent("reroll", answer, registry, None)
    assert forced.text == "🔁 reroll #5"
    assert forced.intent["params"] == {"prompt": "night", "image": "#3"}
    assert answer.intent["params"] == {"prompt": "night"}  # the stored answer is not touched
    made = Answer({"intent": "text2image", "params": {"prompt": "a fox"}, "response": ""}, (1,))
    assert forced_intent("reroll", made, registry, None).intent["params"] == {"prompt": "a fox"}
    with pytest.raises(Refusal):
        forced_intent("reroll", Answer({"intent": "chat", "params": {}, "response": "hi"}), registry, None)


def test_upscale_and_vary_use_the_image_and_need_their_pipeline(registry):
    answer = Answer({"intent": "text2image", "params": {}, "response": ""}, (4, 6))
    up = forced_intent("upscale", answer, registry, None)
    assert up.intent == {"intent": "upscale", "params": {"image": "#6"}, "response": "Upscaled #6."}
    assert forced_intent("vary", answer, registry, None, image=2).intent["params"] == {"image": "#2"}
    assert forced_intent("vary", answer, registry, None).intent["intent"] == "variation"
    with pytest.raises(Refusal, match="not enabled"):
        forced_intent("upscale", answer, registry, ["text2image"])
    with pytest.raises(Refusal):
        forced_intent("upscale", None, registry, None)
    assert forced_intent("undo", None, registry, None).intent["intent"] == "undo"


# ----- corrections, who may act, limits -----


def test_a_correction_keeps_a_candidates_other_parameters(registry):
    candidates = [
        {"intent": "img2img", "params": {"prompt": "oil", "strength": 0.4}},
        {"intent": "instruct_edit", "params": {"instruction": "oil"}},
    ]
    fixed = correction(registry, candidates, "img2img", "watercolour", None)
    assert fixed["intent"] == "img2img" and fixed["params"]["prompt"] == "watercolour"
    assert fixed["params"]["strength"] == 0.4
    with pytest.raises(IntentError):
        correction(registry, candidates, "upscale", "", ["text2image"])
    assert correction_defaults(candidates) == ("img2img", "oil")


def test_only_the_owner_acts_unless_the_server_says_anyone():
    assert may_act("u1", "owner", "u1") and not may_act("u1", "owner", "u2")
    assert may_act("u1", "anyone", "u2")


def test_a_servers_limits_can_only_lower_the_operators():
    limits = Limits()
    mine = effective_limits(limits, {"per_user_concurrent_jobs": 10_000, "per_user_daily_jobs": 1, "junk": 3})
    assert mine.per_user_concurrent_jobs == limits.per_user_concurrent_jobs and mine.per_user_daily_jobs == 1
    assert quota_refusal(0, 1, mine).startswith("You have made 1 requests")
    assert quota_refusal(limits.per_user_concurrent_jobs, 0, limits).startswith("You already have")
    assert quota_refusal(0, 0, limits) is None


class Server:
    enabled_pipelines = ["text2image"]
    pipeline_overrides = {"text2image": {"steps": 3}}
    limits: dict = {}
    who_can_talk = "owner"
    ab_probability = 0.5


def test_admit_decides_the_job_and_ab_only_for_the_models_own_answers():
    ticket = Ticket(seed=7, ab_draw=0.2, limits=Limits())
    order = admit(ticket, Server(), 0, 0)
    assert order == JobOrder(seed=7, enabled=["text2image"], overrides={"text2image": {"steps": 3}}, candidates=2)
    forced = Ticket(seed=7, ab_draw=0.2, limits=Limits(), forced_intent={"intent": "undo"})
    assert admit(forced, Server(), 0, 0).candidates == 1
    assert admit(Ticket(seed=1, ab_draw=0.7, limits=Limits()), Server(), 0, 0).candidates == 1
    assert admit(Ticket(seed=1, ab_draw=0.1, limits=Limits(), ab_probability=0.5), None, 0, 0).candidates == 2
    assert isinstance(admit(ticket, Server(), 99, 0), str)
    assert JobOrder.from_dict({**order.to_dict(), "dialogue": []}) == order


def test_image_references_are_no_server_default(registry):
    assert "image2" not in settable_inputs(registry, "blend") and "image" not in settable_inputs(registry, "blend")
    assert "steps" in settable_inputs(registry, "text2image")
