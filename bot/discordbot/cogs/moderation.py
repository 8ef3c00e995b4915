"""Moderator commands: what this server offers. Discord shows them only to members with
Manage Server (``default_permissions``), and every call is checked again here, on the
bot's side, from the permissions Discord sends with the interaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import ValidationError

from bot.conversation import effective_limits
from bot.store import repository as repo

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot

MANAGE_SERVER = discord.Permissions(manage_guild=True)
REFUSAL = "Only members with the **Manage Server** permission can use this command."
MIB = 1024 * 1024


class ModeratorOnly(commands.Cog):
    """Every app command of a subclass requires Manage Server, checked server-side."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def cog_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, (app_commands.MissingPermissions, app_commands.CheckFailure)):
            text = REFUSAL
        else:
            raise error
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


class ModerationCog(ModeratorOnly):
    def __init__(self, bot: "DialogDrawBot") -> None:
        self.bot = bot
        self.db = bot.app.conversation.db
        self.registry = bot.app.conversation.registry
        self.settings = bot.app.settings

    pipelines = app_commands.Group(
        name="pipelines", description="Choose and tune the drawing pipelines of this server",
        guild_only=True, default_permissions=MANAGE_SERVER,
    )

    async def _guild(self, interaction: discord.Interaction):
        return await repo.guild_settings(self.db, str(interaction.guild_id))

    async def pipeline_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        ids = self.registry.enabled_ids()
        return [app_commands.Choice(name=i, value=i) for i in ids if current.lower() in i][:25]

    @pipelines.command(name="list", description="Show the pipelines and their settings on this server")
    async def list_(self, interaction: discord.Interaction) -> None:
        guild = await self._guild(interaction)
        on = set(self.registry.enabled_ids(guild.enabled_pipelines))
        lines = []
        for instance_id in self.registry.enabled_ids():
            mark = "✅" if instance_id in on else "⛔"
            overrides = guild.pipeline_overrides.get(instance_id) or {}
            extra = " · " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()) if overrides else ""
            lines.append(f"{mark} `{instance_id}` — {self.registry.description(instance_id)[:80]}{extra}")
        await interaction.response.send_message("\n".join(lines)[:2000] or "No pipelines are configured.", ephemeral=True)

    async def _set_enabled(self, interaction: discord.Interaction, pipeline: str, on: bool) -> None:
        available = self.registry.enabled_ids()
        if pipeline not in available:
            await interaction.response.send_message(
                f"There is no pipeline `{pipeline}`. Available: {', '.join(available)}", ephemeral=True)
            return
        guild = await self._guild(interaction)
        current = self.registry.enabled_ids(guild.enabled_pipelines)
        wanted = [i for i in available if (i in current or (on and i == pipeline)) and not (not on and i == pipeline)]
        await repo.update_guild_settings(self.db, str(interaction.guild_id), enabled_pipelines=wanted)
        await interaction.response.send_message(
            f"`{pipeline}` is now {'enabled' if on else 'disabled'} here.", ephemeral=True)

    @pipelines.command(name="enable", description="Offer a pipeline on this server")
    @app_commands.autocomplete(pipeline=pipeline_autocomplete)
    async def enable(self, interaction: discord.Interaction, pipeline: str) -> None:
        await self._set_enabled(interaction, pipeline, True)

    @pipelines.command(name="disable", description="Stop offering a pipeline on this server")
    @app_commands.autocomplete(pipeline=pipeline_autocomplete)
    async def disable(self, interaction: discord.Interaction, pipeline: str) -> None:
        await self._set_enabled(interaction, pipeline, False)

    @pipelines.command(name="set", description="Set a pipeline's default for this server (value 'default' removes it)")
    @app_commands.describe(key="a setting of the pipeline, e.g. steps, strength, negative_prompt", value="the new default")
    @app_commands.autocomplete(pipeline=pipeline_autocomplete)
    async def set_(self, interaction: discord.Interaction, pipeline: str, key: str, value: str) -> None:
        if pipeline not in self.registry.enabled_ids():
            await interaction.response.send_message(f"There is no pipeline `{pipeline}`.", ephemeral=True)
            return
        try:
            parsed = None if value.strip().lower() == "default" else validated_setting(self.registry.inputs_model(pipeline), key, value)
        except ValueError as err:
            await interaction.response.send_message(f"Not changed: {err}", ephemeral=True)
            return
        guild = await self._guild(interaction)
        overrides = {k: dict(v) for k, v in (guild.pipeline_overrides or {}).items()}
        mine = overrides.setdefault(pipeline, {})
        if parsed is None:
            mine.pop(key, None)
        else:
            mine[key] = parsed
        if not mine:
            overrides.pop(pipeline)
        await repo.update_guild_settings(self.db, str(interaction.guild_id), pipeline_overrides=overrides)
        shown = "its default" if parsed is None else f"`{json.dumps(parsed, ensure_ascii=False)}`"
        await interaction.response.send_message(f"`{pipeline}` · `{key}` is now {shown} on this server.", ephemeral=True)

    @app_commands.command(name="limits", description="Per-user limits on this server (no options: show them)")
    @app_commands.describe(concurrent_jobs="requests one user may have in progress", daily_quota="requests per user per 24 hours",
                           max_image_mb="largest attachment, in MiB")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def limits(
        self,
        interaction: discord.Interaction,
        concurrent_jobs: app_commands.Range[int, 1, 100] | None = None,
        daily_quota: app_commands.Range[int, 1, 100000] | None = None,
        max_image_mb: app_commands.Range[float, 0.1, 1024.0] | None = None,
    ) -> None:
        guild = await self._guild(interaction)
        mine = dict(guild.limits or {})
        if concurrent_jobs is not None:
            mine["per_user_concurrent_jobs"] = concurrent_jobs
        if daily_quota is not None:
            mine["per_user_daily_jobs"] = daily_quota
        if max_image_mb is not None:
            mine["max_attachment_bytes"] = int(max_image_mb * MIB)
        if mine != (guild.limits or {}):
            await repo.update_guild_settings(self.db, str(interaction.guild_id), limits=mine)
        eff = effective_limits(self.settings.limits, mine)
        capped = " (values above the bot's own limits are capped)" if any(
            mine.get(k, 0) > getattr(eff, k) for k in mine) else ""
        await interaction.response.send_message(
            f"Per user: {eff.per_user_concurrent_jobs} request(s) at a time, {eff.per_user_daily_jobs} per 24 hours; "
            f"attachments up to {eff.max_attachment_bytes / MIB:.1f} MiB{capped}.", ephemeral=True)

    @app_commands.command(name="settings", description="Who may talk in drawing threads, and how often to ask A/B questions")
    @app_commands.describe(who_can_talk="owner: only whoever started a thread; anyone: everybody in it",
                           ab_probability="share of turns answered with two candidates to choose from (0 to 1)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def settings_(
        self,
        interaction: discord.Interaction,
        who_can_talk: Literal["owner", "anyone"] | None = None,
        ab_probability: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if who_can_talk is not None:
            changes["who_can_talk"] = who_can_talk
        if ab_probability is not None:
            changes["ab_probability"] = ab_probability
        guild = await repo.update_guild_settings(self.db, str(interaction.guild_id), **changes) if changes else await self._guild(interaction)
        await interaction.response.send_message(
            f"Who may talk in a thread: **{guild.who_can_talk}**. A/B questions on {guild.ab_probability:.0%} of turns.",
            ephemeral=True)


def validated_setting(model: type, key: str, value: str) -> Any:
    """``value`` (as typed in Discord) checked against the pipeline's input ``key``: JSON
    when it parses (30, 0.6, true), else the text itself. Raises ValueError in plain words."""
    fields = model.model_fields
    settable = [k for k in fields if k not in ("image", "mask_image", "mask")]
    if key not in settable:
        raise ValueError(f"`{key}` is not a setting of this pipeline (settings: {', '.join(settable)})")
    try:
        candidates = [json.loads(value), value]
    except json.JSONDecodeError:
        candidates = [value]
    error = None
    for candidate in candidates:
        try:
            checked = model.__pydantic_validator__.validate_assignment(model.model_construct(), key, candidate)
        except ValidationError as err:
            error = error or err
            continue
        return getattr(checked, key)
    raise ValueError(f"bad value for `{key}`: {error.errors()[0]['msg']}")
