"""Moderator commands: what this server offers. Discord shows them only to members with
Manage Server (``default_permissions``), and every call is checked again here, on the
bot's side, from the permissions Discord sends with the interaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.conversation import Refusal

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

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, (app_commands.MissingPermissions, app_commands.CheckFailure)):
            text = REFUSAL
        else:
            raise error
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


class ModerationCog(ModeratorOnly):
    def __init__(self, bot: DialogDrawBot) -> None:
        self.bot = bot
        self.conversation = bot.app.conversation

    pipelines = app_commands.Group(
        name="pipelines",
        description="Choose and tune the drawing pipelines of this server",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    async def pipeline_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        ids = self.conversation.pipeline_ids()
        return [app_commands.Choice(name=i, value=i) for i in ids if current.lower() in i][:25]

    @pipelines.command(name="list", description="Show the pipelines and their settings on this server")
    async def list_(self, interaction: discord.Interaction) -> None:
        server = await self.conversation.server(str(interaction.guild_id))
        lines = []
        for pipeline, on, description, defaults in server.pipelines:
            extra = " · " + ", ".join(f"{k}={v!r}" for k, v in defaults.items()) if defaults else ""
            lines.append(f"{'✅' if on else '⛔'} `{pipeline}` — {description[:80]}{extra}")
        await interaction.response.send_message(
            "\n".join(lines)[:2000] or "No pipelines are configured.", ephemeral=True
        )

    async def _set_enabled(self, interaction: discord.Interaction, pipeline: str, on: bool) -> None:
        try:
            await self.conversation.set_pipeline(str(interaction.guild_id), pipeline, on)
        except Refusal as err:
            await interaction.response.send_message(str(err)[:2000], ephemeral=True)
            return
        await interaction.response.send_message(
            f"`{pipeline}` is now {'enabled' if on else 'disabled'} here.", ephemeral=True
        )

    @pipelines.command(name="enable", description="Offer a pipeline on this server")
    @app_commands.autocomplete(pipeline=pipeline_autocomplete)
    async def enable(self, interaction: discord.Interaction, pipeline: str) -> None:
        await self._set_enabled(interaction, pipeline, True)

    @pipelines.command(name="disable", description="Stop offering a pipeline on this server")
    @app_commands.autocomplete(pipeline=pipeline_autocomplete)
    async def disable(self, interaction: discord.Interaction, pipeline: str) -> None:
        await self._set_enabled(interaction, pipeline, False)

    @pipelines.command(name="set", description="Set a pipeline's default for this server (value 'default' removes it)")
    @app_commands.describe(
        key="a setting of the pipeline, e.g. steps, strength, negative_prompt", value="the new default"
    )
    @app_commands.autocomplete(pipeline=pipeline_autocomplete)
    async def set_(self, interaction: discord.Interaction, pipeline: str, key: str, value: str) -> None:
        try:
            parsed = await self.conversation.set_pipeline_default(str(interaction.guild_id), pipeline, key, value)
        except Refusal as err:
            await interaction.response.send_message(str(err)[:2000], ephemeral=True)
            return
        shown = "its default" if parsed is None else f"`{json.dumps(parsed, ensure_ascii=False)}`"
        await interaction.response.send_message(
            f"`{pipeline}` · `{key}` is now {shown} on this server.", ephemeral=True
        )

    @app_commands.command(name="limits", description="Per-user limits on this server (no options: show them)")
    @app_commands.describe(
        concurrent_jobs="requests one user may have in progress",
        daily_quota="requests per user per 24 hours",
        max_image_mb="largest attachment, in MiB",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def limits(
        self,
        interaction: discord.Interaction,
        concurrent_jobs: app_commands.Range[int, 1, 100] | None = None,
        daily_quota: app_commands.Range[int, 1, 100000] | None = None,
        max_image_mb: app_commands.Range[float, 0.1, 1024.0] | None = None,
    ) -> None:
        server = await self.conversation.set_limits(
            str(interaction.guild_id),
            concurrent_jobs=concurrent_jobs,
            daily_quota=daily_quota,
            max_image_mb=max_image_mb,
        )
        eff = server.limits
        capped = (
            " (values above the bot's own limits are capped)"
            if any(value > getattr(eff, key) for key, value in server.own_limits.items())
            else ""
        )
        await interaction.response.send_message(
            f"Per user: {eff.per_user_concurrent_jobs} request(s) at a time, {eff.per_user_daily_jobs} per 24 hours; "
            f"attachments up to {eff.max_attachment_bytes / MIB:.1f} MiB{capped}.",
            ephemeral=True,
        )

    @app_commands.command(
        name="settings", description="Who may talk in drawing threads, and how often to ask A/B questions"
    )
    @app_commands.describe(
        who_can_talk="owner: only whoever started a thread; anyone: everybody in it",
        ab_probability="share of turns answered with two candidates to choose from (0 to 1)",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def settings_(
        self,
        interaction: discord.Interaction,
        who_can_talk: Literal["owner", "anyone"] | None = None,
        ab_probability: app_commands.Range[float, 0.0, 1.0] | None = None,
    ) -> None:
        try:
            server = await self.conversation.set_server(
                str(interaction.guild_id), who_can_talk=who_can_talk, ab_probability=ab_probability
            )
        except Refusal as err:
            await interaction.response.send_message(str(err), ephemeral=True)
            return
        await interaction.response.send_message(
            f"Who may talk in a thread: **{server.who_can_talk}**. A/B questions on {server.ab_probability:.0%} of turns.",
            ephemeral=True,
        )
