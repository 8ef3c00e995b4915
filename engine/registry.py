"""The pipeline registry: the single source of truth of the IRPEM contract.

A *kind* is code (a ``PipelineKind`` subclass in ``engine/pipelines``); an *instance* is a
config block naming a kind. From the enabled instances the registry builds the catalog
text of the IRPEM prompt, the JSON schema that constrains decoding, and the validation of
every IRPEM output.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from PIL import Image

    from engine.config import PipelineInstance, Settings
    from engine.models import ModelCache

PipelineType = Literal["generate", "edit", "describe", "chat"]

# "#3" names the third image of a session (attachments and outputs alike).
IMAGE_REF_PATTERN = r"^#[1-9][0-9]{0,3}$"
ImageRef = Annotated[str, Field(pattern=IMAGE_REF_PATTERN, max_length=5)]
# Up to this many images, decoding lists the existing refs; beyond, the pattern stands.
MAX_LISTED_IMAGES = 64
NEEDS_AN_IMAGE_BUILTINS = ("undo", "revert")
Prompt = Annotated[str, Field(min_length=1, max_length=300)]
SHORT_TEXT = 120
RESPONSE_MAX_CHARS = 160
# Marks an input as a tuning knob (steps, guidance, ...): accepted and in the output schema,
# but left out of the catalog text, which is part of every intent-model prompt and costs
# prompt tokens per line. Use as ``Field(..., json_schema_extra=TUNING)``.
TUNING_KEY = "x-tuning"
TUNING: dict[str, Any] = {TUNING_KEY: True}


class IntentError(ValueError):
    """An IRPEM output that must not be executed; the message says why in plain words."""


class Inputs(BaseModel):
    """Base of every kind's input model: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class RunContext:
    """What a pipeline gets besides its inputs. ``images`` maps each image-ref field of the
    inputs (after defaulting to the current image) to the decoded picture."""

    images: dict[str, Image.Image]
    seed: int
    response: str = ""
    dialogue_text: str = ""
    # per-guild defaults for this instance; they win over the instance's config defaults
    overrides: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[int, int], None] = lambda step, total: None
    cancelled: Callable[[], bool] = lambda: False


@dataclass
class PipelineOutput:
    images: list[Image.Image] = field(default_factory=list)
    text: str | None = None


class Cancelled(Exception):
    """Raised inside a pipeline when the job was cancelled between steps."""


class PipelineKind(ABC):
    """One kind of ability. Subclasses set the class attributes and implement ``__call__``."""

    kind: ClassVar[str]
    type: ClassVar[PipelineType]
    description: ClassVar[str]
    Inputs: ClassVar[type[Inputs]]
    # role -> default model name in [models]
    model_roles: ClassVar[dict[str, str]] = {}
    # fields of Inputs that reference session images; the first is the one that
    # defaults to the current image when omitted
    image_fields: ClassVar[tuple[str, ...]] = ()
    needs_image: ClassVar[bool] = False
    # small valid params, for `dialogdraw pipelines smoke` and as documentation
    example: ClassVar[dict[str, Any]] = {}

    def __init__(self, instance: PipelineInstance, models: ModelCache) -> None:
        self.instance = instance
        self.models = models

    def model_name(self, role: str) -> str:
        return self.instance.models.get(role) or self.model_roles[role]

    @abstractmethod
    def __call__(self, inputs: Inputs, ctx: RunContext) -> PipelineOutput: ...


KINDS: dict[str, type[PipelineKind]] = {}


def register_kind(cls: type[PipelineKind]) -> type[PipelineKind]:
    if cls.kind in KINDS and KINDS[cls.kind] is not cls:
        raise ValueError(f"pipeline kind {cls.kind!r} registered twice")
    if cls.type not in get_args(PipelineType):
        raise ValueError(f"pipeline kind {cls.kind!r}: type {cls.type!r} is not one of {get_args(PipelineType)}")
    KINDS[cls.kind] = cls
    return cls


# ----- built-in intents: handled by the conversation, not by a pipeline -----


class ClarifyInputs(Inputs):
    pass


class UndoInputs(Inputs):
    pass


class RevertInputs(Inputs):
    image: ImageRef


@dataclass(frozen=True)
class BuiltinIntent:
    id: str
    description: str
    Inputs: type[Inputs]
    image_fields: tuple[str, ...] = ()  # as ``PipelineKind.image_fields``


BUILTINS: dict[str, BuiltinIntent] = {
    b.id: b
    for b in (
        BuiltinIntent(
            "clarify",
            "Ask back in response when the request is unclear.",
            ClarifyInputs,
        ),
        BuiltinIntent(
            "undo",
            "Undo the last image change.",
            UndoInputs,
        ),
        BuiltinIntent(
            "revert",
            "Go back to an earlier image (#n).",
            RevertInputs,
            image_fields=("image",),
        ),
    )
}


class IntentionParam(BaseModel):
    """One IRPEM output: which intent to run, its parameters, and a reply for the user."""

    model_config = ConfigDict(extra="forbid")
    intent: str = Field(max_length=40)
    params: dict[str, Any] = Field(default_factory=dict)
    response: str = Field(default="", max_length=1000)


@dataclass
class ValidIntent:
    """A validated IRPEM output, ready to execute."""

    intent: str
    inputs: Inputs
    response: str
    kind: str | None  # None for built-ins

    def as_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "params": self.inputs.model_dump(exclude_none=True),
            "response": self.response,
        }


class Registry:
    """The configured catalog. ``enabled`` arguments restrict it per guild."""

    def __init__(self, instances: list[PipelineInstance]) -> None:
        import engine.pipelines  # noqa: F401  (registers the kinds)

        self.instances: dict[str, PipelineInstance] = {}
        for inst in instances:
            if inst.kind not in KINDS:
                raise ValueError(
                    f"pipeline {inst.id!r}: unknown kind {inst.kind!r} (known: {', '.join(sorted(KINDS))})"
                )
            if inst.id in BUILTINS:
                raise ValueError(f"pipeline id {inst.id!r} is reserved for a built-in intent")
            self.instances[inst.id] = inst
        self._inputs: dict[str, type[Inputs]] = {}
        # a line costs pydantic schema generation (~2 ms); the "full" prompt asks for the
        # whole catalog on every turn and every training example
        self._catalog_lines: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(settings.pipelines)

    # ----- what is offered -----

    def enabled_ids(self, enabled: list[str] | None = None) -> list[str]:
        """Instance ids that are on in config and, when given, in ``enabled``."""
        allowed = None if enabled is None else set(enabled)
        return [i for i, inst in self.instances.items() if inst.enabled and (allowed is None or i in allowed)]

    def kind_of(self, instance_id: str) -> type[PipelineKind]:
        return KINDS[self.instances[instance_id].kind]

    def image_fields(self, intent: str) -> tuple[str, ...]:
        """The inputs of an intent that name session images ("#n"), the one that defaults
        to the current image first. The one declaration every layer reads them from."""
        if intent in BUILTINS:
            return BUILTINS[intent].image_fields
        return self.kind_of(intent).image_fields

    def description(self, instance_id: str) -> str:
        inst = self.instances[instance_id]
        return inst.description or KINDS[inst.kind].description

    def inputs_model(self, intent: str) -> type[Inputs]:
        """The inputs an intent accepts: the kind's, with the instance's config defaults
        as field defaults (an input the config covers is optional for the intent model)."""
        if intent in BUILTINS:
            return BUILTINS[intent].Inputs
        if intent not in self._inputs:
            self._inputs[intent] = _with_instance_defaults(
                self.kind_of(intent).Inputs, self.instances[intent].defaults, intent
            )
        return self._inputs[intent]

    def intents(self, enabled: list[str] | None = None, has_images: bool = True) -> list[str]:
        """The intents on offer; without any image in the session, those that act on an
        image (edit and describe kinds, undo, revert) cannot run and are left out."""
        ids = self.enabled_ids(enabled) + list(BUILTINS)
        if has_images:
            return ids
        return [
            i for i in ids if i not in NEEDS_AN_IMAGE_BUILTINS and (i in BUILTINS or not self.kind_of(i).needs_image)
        ]

    def catalog(self, enabled: list[str] | None = None) -> list[dict[str, Any]]:
        rows = []
        for i in self.enabled_ids(enabled):
            kind = self.kind_of(i)
            rows.append(
                {
                    "id": i,
                    "kind": kind.kind,
                    "type": kind.type,
                    "description": self.description(i),
                    "inputs": kind.Inputs.model_json_schema(),
                }
            )
        return rows

    def catalog_text(self, enabled: list[str] | None = None) -> str:
        """The catalog as the IRPEM prompt shows it: one line per intent."""
        return "\n".join(self._catalog_line(i) for i in self.intents(enabled))

    def _catalog_line(self, intent: str) -> str:
        line = self._catalog_lines.get(intent)
        if line is None:
            # the image input that defaults to the current one (the prompt's rules explain
            # it once for all) and inputs the instance's config already sets go unshown
            hide: set[str] = set()
            if intent not in BUILTINS:
                hide = {*self.kind_of(intent).image_fields[:1], *self.instances[intent].defaults}
            params = _param_summary(self.inputs_model(intent), hide)
            desc = BUILTINS[intent].description if intent in BUILTINS else self.description(intent)
            line = self._catalog_lines[intent] = f"- {intent}({params}): {desc}"
        return line

    def output_schema(
        self,
        enabled: list[str] | None = None,
        response_max_chars: int = RESPONSE_MAX_CHARS,
        images: int | None = None,
        only: str | None = None,
    ) -> dict[str, Any]:
        """JSON schema of a valid IRPEM output for these intents: one branch per intent,
        so decoding constrained to it always names an enabled intent with its inputs.
        With ``images`` (how many the session has, numbered #1..#images), the schema also
        offers only intents that can run and image references that exist. With ``only``,
        it has that intent's branch alone (to make a preference pair's contrasting answer);
        an intent that is not on offer there raises IntentError."""
        branches = []
        has_images = images is None or images > 0
        offered = self.intents(enabled, has_images)
        if only is not None:
            if only not in offered:
                raise IntentError(f"{only!r} is not on offer here")
            offered = [only]
        for i in offered:
            params = _inline_refs(self.inputs_model(i).model_json_schema())
            params.pop("title", None)
            if images is not None and images <= MAX_LISTED_IMAGES:
                params = _existing_refs_only(params, images)
            branches.append(
                {
                    "type": "object",
                    "properties": {
                        "intent": {"const": i},
                        "params": params,
                        "response": {"type": "string", "maxLength": response_max_chars},
                    },
                    "required": ["intent", "params", "response"],
                    "additionalProperties": False,
                }
            )
        return {"anyOf": branches}

    # ----- checking an output -----

    def validate(self, output: str | dict[str, Any] | IntentionParam, enabled: list[str] | None = None) -> ValidIntent:
        """Check an IRPEM output against the enabled catalog. Raises IntentError."""
        if isinstance(output, str):
            try:
                output = json.loads(output)
            except json.JSONDecodeError as err:
                raise IntentError(f"the intent model's answer is not valid JSON ({err.msg})") from None
        if isinstance(output, dict):
            try:
                output = IntentionParam.model_validate(output)
            except ValidationError as err:
                raise IntentError("the intent model's answer is malformed: " + _first_error(err)) from None
        intent = output.intent
        if intent not in BUILTINS:
            if intent not in self.instances:
                raise IntentError(f"unknown pipeline {intent!r}")
            if intent not in self.enabled_ids(enabled):
                raise IntentError(f"pipeline {intent!r} is not enabled here")
        try:
            inputs = self.inputs_model(intent).model_validate(output.params)
        except ValidationError as err:
            raise IntentError(f"{intent}: " + _first_error(err)) from None
        kind = None if intent in BUILTINS else self.instances[intent].kind
        return ValidIntent(intent=intent, inputs=inputs, response=output.response, kind=kind)


def _first_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"])
        if e["type"] == "missing":
            parts.append(f"missing required input '{loc}'")
        elif e["type"] == "extra_forbidden":
            parts.append(f"unexpected input '{loc}'")
        else:
            parts.append(f"input '{loc}' {e['msg'].lower()} (got {e.get('input')!r})")
    return "; ".join(parts)


def _param_summary(model: type[BaseModel], hide: set[str] = frozenset()) -> str:
    """The inputs as the catalog shows them: required ones plain, optional ones with "?",
    except tuning knobs and the optional inputs in ``hide``."""
    props = model.model_json_schema().get("properties", {})

    def tuning(prop: dict[str, Any]) -> bool:  # on the field, or inside ``X | None``
        return bool(prop.get(TUNING_KEY)) or any(b.get(TUNING_KEY) for b in prop.get("anyOf", []))

    parts = []
    for name, f in model.model_fields.items():
        if f.is_required():
            parts.append(name)
        elif name not in hide and not tuning(props.get(name, {})):
            parts.append(f"{name}?")
    return ", ".join(parts)


def _with_instance_defaults(model: type[Inputs], defaults: dict[str, Any], where: str) -> type[Inputs]:
    """``model`` with the instance's ``defaults`` as the defaults of its fields (so a
    required input that the config covers becomes optional, and rules across fields see
    the configured values)."""
    from pydantic import create_model

    covered = {k: v for k, v in defaults.items() if k in model.model_fields}
    if not covered:
        return model
    fields: dict[str, Any] = {}
    for name, value in covered.items():
        info = model.model_fields[name]
        fields[name] = (
            info.annotation,
            Field(
                default=value,
                description=info.description,
                json_schema_extra=info.json_schema_extra,
                **_constraints(info),
            ),
        )
    return create_model(f"{model.__name__}_{where}", __base__=model, **fields)


def _constraints(info: Any) -> dict[str, Any]:
    """The length and range bounds of a field, to carry over to a redefinition of it."""
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for key in ("min_length", "max_length", "ge", "le", "gt", "lt", "pattern", "multiple_of"):
            value = getattr(meta, key, None)
            if value is not None:
                out[key] = value
    return out


def _existing_refs_only(schema: Any, images: int) -> Any:
    """Replace the image-ref pattern by the list of refs that exist (none: null only)."""
    if isinstance(schema, dict):
        if schema.get("pattern") == IMAGE_REF_PATTERN:
            if images == 0:
                return {"type": "null"}
            return {"enum": [f"#{n}" for n in range(1, images + 1)]}
        return {k: _existing_refs_only(v, images) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_existing_refs_only(v, images) for v in schema]
    return schema


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace local $ref/$defs so each branch stands alone (grammar compilers prefer it)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].rsplit("/", 1)[-1]]
                merged = {**walk(dict(target)), **{k: v for k, v in node.items() if k != "$ref"}}
                merged.pop("title", None)
                return merged
            return {k: walk(v) for k, v in node.items() if k not in ("title", TUNING_KEY)}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)
