"""Moderator views of the feedback (`/feedback stats`, `/feedback export`), and the answer
to the "Neither" modal (by custom_id, so it needs no in-memory state)."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discordbot.cogs.moderation import MANAGE_SERVER, ModeratorOnly
from bot.discordbot.views import CORRECTION_MODAL, submitted_values

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot


class FeedbackCog(ModeratorOnly):
    def __init__(self, bot: DialogDrawBot) -> None:
        self.bot = bot
        self.conversation = bot.app.conversation

    feedback = app_commands.Group(
        name="feedback",
        description="The feedback collected on this server",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    @feedback.command(name="stats", description="How much feedback and how many preference pairs this server has given")
    async def stats(self, interaction: discord.Interaction) -> None:
        s = await self.conversation.feedback_stats(str(interaction.guild_id))
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(s.kinds.items())) or "none yet"
        pairs = ", ".join(f"{k}: {n}" for k, n in sorted(s.pairs.items())) or "none yet"
        await interaction.response.send_message(
            f"Feedback on {s.turns} answer(s) — {kinds}.\nPreference pairs — {pairs}.", ephemeral=True
        )

    @feedback.command(name="export", description="Download this server's preference pairs (JSONL)")
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        pairs = await self.conversation.preference_pairs(str(interaction.guild_id))
        body = "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs).encode()
        await interaction.followup.send(
            f"{len(pairs)} preference pair(s).",
            file=discord.File(io.BytesIO(body), filename="preference-pairs.jsonl"),
            ephemeral=True,
        )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        custom_id = (interaction.data or {}).get("custom_id", "")
        if not custom_id.startswith(CORRECTION_MODAL):
            return
        turn_id = int(custom_id[len(CORRECTION_MODAL) :])
        values = submitted_values((interaction.data or {}).get("components", []))
        await self.bot.actions.correction(interaction, turn_id, values)
