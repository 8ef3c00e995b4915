import json

import pytest

from eval.dialogues import cases, read_dialogues

DIALOGUE = {
    "id": "d1",
    "turns": [
        {"role": "user", "text": "a fox", "images": []},
        {
            "role": "assistant",
            "gold": {"intent": "text2image", "params": {"prompt": "a fox"}, "response": "Fox!"},
            "images": [1],
        },
        {"role": "user", "text": "edit my photo instead", "images": [2]},
        {
            "role": "assistant",
            "gold": {"intent": "instruct_edit", "params": {"instruction": "make it blue"}, "response": "Blue."},
            "negatives": ["people"],
            "images": [3],
        },
        {"role": "user", "text": "go back to the fox", "images": []},
        {
            "role": "assistant",
            "gold": {"intent": "revert", "params": {"image": "#1"}, "response": "Back."},
            "images": [],
        },
        {"role": "user", "text": "what is it?", "images": []},
        {
            "role": "assistant",
            "gold": {"intent": "vqa", "params": {"question": "what is it?"}, "response": ""},
            "current_image": 1,
            "images": [],
        },
    ],
}


def test_every_assistant_turn_is_a_case_with_the_context_before_it():
    got = list(cases(DIALOGUE))
    assert [c.turn_index for c in got] == [1, 3, 5, 7]
    assert [len(c.context) for c in got] == [1, 3, 5, 7]
    assert got[1].context[-1].text == "edit my photo instead" and got[1].context[-1].images == [2]
    assert got[1].context[1].role == "assistant" and got[1].context[1].text == "Fox!"
    assert [c.current_image for c in got] == [None, 2, 3, 1]  # the last is stated explicitly
    assert got[1].negatives == ["people"] and got[0].negatives == []
    assert got[3].gold["intent"] == "vqa"


def test_reading_a_file_names_the_bad_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(DIALOGUE) + "\n\n{broken\n")
    reader = read_dialogues(path)
    assert next(reader)["id"] == "d1"
    with pytest.raises(ValueError, match=r"d\.jsonl:3"):
        next(reader)
