import json

import pytest

from engine.config import DEFAULT_CONFIG, PipelineInstance, load_settings
from engine.registry import BUILTINS, IntentError, Registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_settings(load_settings(DEFAULT_CONFIG))


def test_every_instance_has_a_kind_with_bounded_inputs(registry):
    for row in registry.catalog():
        assert row["type"] in {"generate", "edit", "describe", "chat"}
        assert len(row["description"]) > 20

        def walk(node, row=row):
            if isinstance(node, dict):
                if node.get("type") == "string" and "enum" not in node and "const" not in node:
                    assert "maxLength" in node, f"{row['id']}: unbounded string {node}"
                if node.get("type") in {"number", "integer"} and "enum" not in node:
                    assert "maximum" in node and "minimum" in node, f"{row['id']}: unbounded number {node}"
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(registry.output_schema())


def test_catalog_text_lists_enabled_intents_and_builtins_only(registry):
    text = registry.catalog_text(enabled=["text2image", "vqa"])
    assert "- text2image(" in text and "- vqa(" in text
    assert "- inpaint(" not in text
    for builtin in BUILTINS:
        assert f"- {builtin}(" in text


def test_output_schema_has_one_branch_per_enabled_intent(registry):
    schema = registry.output_schema(enabled=["text2image", "chat"])
    consts = [b["properties"]["intent"]["const"] for b in schema["anyOf"]]
    assert consts == ["text2image", "chat", *BUILTINS]
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)


def test_valid_output_is_accepted():
    registry = Registry.from_settings(load_settings(DEFAULT_CONFIG))
    ok = registry.validate('{"intent":"text2image","params":{"prompt":"a fox"},"response":"Here!"}')
    assert ok.intent == "text2image" and ok.kind == "text2image"
    assert ok.inputs.prompt == "a fox"


@pytest.mark.parametrize(
    "output, message",
    [
        ('{"intent":"teleport","params":{},"response":""}', "unknown pipeline 'teleport'"),
        ('{"intent":"text2image","params":{},"response":""}', "missing required input 'prompt'"),
        ('{"intent":"adjust","params":{"property":"brightness","amount":7},"response":""}', "input 'amount'"),
        ('{"intent":"text2image","params":{"prompt":"x","colour":"red"},"response":""}', "unexpected input 'colour'"),
        ('{"intent":"revert","params":{"image":"2"},"response":""}', "input 'image'"),
        ('{"intent": "chat", "params": ', "not valid JSON"),
        ('{"params":{}}', "malformed"),
    ],
)
def test_invalid_outputs_are_refused_with_a_clear_message(registry, output, message):
    with pytest.raises(IntentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.validate(output)


def test_disabled_pipeline_is_refused(registry):
    with pytest.raises(IntentError, match="not enabled"):
        registry.validate({"intent": "inpaint", "params": {"target": "sky", "prompt": "stars"}}, enabled=["text2image"])


def test_instance_added_in_config_appears_everywhere():
    settings = load_settings(DEFAULT_CONFIG)
    extra = PipelineInstance(id="watercolor", kind="img2img", description="Repaint the image as a watercolor painting.")
    registry = Registry([*settings.pipelines, extra])
    assert "- watercolor(" in registry.catalog_text()
    consts = [b["properties"]["intent"]["const"] for b in registry.output_schema()["anyOf"]]
    assert "watercolor" in consts
    assert registry.validate({"intent": "watercolor", "params": {"prompt": "a fox"}}).kind == "img2img"


def test_unknown_kind_and_reserved_ids_fail_at_start():
    with pytest.raises(ValueError, match="unknown kind"):
        Registry([PipelineInstance(id="x1", kind="nope")])
    with pytest.raises(ValueError, match="reserved"):
        Registry([PipelineInstance(id="undo", kind="chat")])


def test_schema_for_a_session_offers_only_what_can_run(registry):
    without = registry.output_schema(images=0)
    consts = [b["properties"]["intent"]["const"] for b in without["anyOf"]]
    assert consts == ["text2image", "chat", "clarify"]  # nothing to edit, describe or undo yet
    two = registry.output_schema(images=2)
    revert = next(b for b in two["anyOf"] if b["properties"]["intent"]["const"] == "revert")
    assert revert["properties"]["params"]["properties"]["image"] == {"enum": ["#1", "#2"]}
    assert len(two["anyOf"]) == len(registry.intents())
    # beyond the listing limit the general pattern stands
    many = json.dumps(registry.output_schema(images=1000))
    assert "#1000" not in many and "^#[1-9][0-9]{0,3}$" in many


def test_schema_held_to_one_intent(registry):
    [branch] = registry.output_schema(images=2, only="revert")["anyOf"]
    assert branch["properties"]["intent"] == {"const": "revert"}
    assert branch["properties"]["params"]["properties"]["image"] == {"enum": ["#1", "#2"]}
    with pytest.raises(IntentError, match="'undo' is not on offer"):  # nothing to undo yet
        registry.output_schema(images=0, only="undo")
    with pytest.raises(IntentError, match="not on offer"):
        registry.output_schema(enabled=["chat"], only="text2image")


def test_a_kind_with_an_unknown_type_is_refused():
    from engine.registry import PipelineKind, register_kind

    class Odd(PipelineKind):
        kind = "odd_type_kind"
        type = "generation"  # the types are generate / edit / describe / chat

        def __call__(self, inputs, ctx):
            raise AssertionError

    with pytest.raises(ValueError, match="type 'generation' is not one of"):
        register_kind(Odd)
