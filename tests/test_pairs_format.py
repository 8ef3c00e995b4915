import pytest

from engine.irpem.pairs import PairContext, PreferencePair, dedupe, read_pairs, write_pairs
from engine.queue import DialogueTurn


def _pair(chosen_prompt="a red fox", source="ab", who="1"):
    ctx = PairContext([DialogueTurn("user", "a fox", [])], None, ["text2image"])
    return PreferencePair(
        ctx,
        {"intent": "text2image", "params": {"prompt": chosen_prompt}, "response": "ok"},
        {"intent": "chat", "params": {"message": "hi"}, "response": "hi"},
        source,
        {"user": who},
    )


def test_round_trip_and_dedupe(tmp_path):
    pairs = [_pair(), _pair(who="2"), _pair("a blue fox")]
    kept = dedupe(pairs)
    assert [p.provenance["user"] for p in kept] == ["1", "1"]  # same pair from user 2 dropped
    path = tmp_path / "pairs.jsonl"
    assert write_pairs(path, kept) == 2
    back = list(read_pairs(path))
    assert [p.to_dict() for p in back] == [p.to_dict() for p in kept]
    assert back[0].context.dialogue[0] == DialogueTurn("user", "a fox", [])


def test_same_chosen_and_rejected_dropped():
    p = _pair()
    p.rejected = dict(p.chosen)
    assert dedupe([p]) == []


def test_bad_input_names_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"context": {"dialogue": []}, "chosen": {}, "rejected": {}, "source": "ab"}\n{"nope": 1}\n')
    with pytest.raises(ValueError, match=":2: not a preference pair"):
        list(read_pairs(path))
    with pytest.raises(ValueError, match="unknown preference source"):
        _pair(source="magic")
