"""What the persistent buttons and the "Neither" form do: each handler turns a click into
one call of ``Conversation`` and renders its answer. The ids in the custom_ids are all the
state they need, so they work for messages of earlier runs."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.conversation import Refusal
from bot.discordbot import views
from bot.discordbot.turns import clip

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot

log = logging.getLogger(__name__)


async def ephemeral(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(clip(text), ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(clip(text), ephemeral=True, **kwargs)


class Actions:
    def __init__(self, bot: DialogDrawBot) -> None:
        self.bot = bot
        self.conversation = bot.app.conversation

    async def vote(self, interaction: discord.Interaction, turn_id: int, kind: str) -> None:
        """Anyone may vote; a second click by the same user changes their vote."""
        try:
            await self.conversation.vote(turn_id, str(interaction.user.id), up=kind == "up")
        except Refusal as err:
            return await ephemeral(interaction, str(err))
        await ephemeral(
            interaction, "Thanks — noted 👍" if kind == "up" else "Thanks — noted 👎. Tell me what to change."
        )

    async def choose(self, interaction: discord.Interaction, turn_id: int, choice: str) -> None:
        user = str(interaction.user.id)
        try:
            if choice == "neither":
                form = await self.conversation.neither(turn_id, user)
            else:
                chosen = await self.conversation.choose(turn_id, user, choice)
        except Refusal as err:
            return await ephemeral(interaction, str(err))
        if choice == "neither":
            modal = views.CorrectionModal(turn_id, form.intent, form.text, form.choices)
            await interaction.response.send_modal(modal)
            views.sent(modal)  # answered by custom_id (FeedbackCog), also after a restart
            return
        content = f"**{chosen.label}** it is: {chosen.reply}".rstrip(": ")
        if chosen.images:
            content += f"\n-# current image: #{chosen.current_image}"
        view = views.result_view(turn_id, chosen.actions)
        await interaction.response.edit_message(content=clip(content), view=view)
        views.sent(view)

    async def correction(self, interaction: discord.Interaction, turn_id: int, values: dict[str, str]) -> None:
        """The "Neither" form: the user's words become the preferred answer and run as the
        thread's next turn."""
        user = str(interaction.user.id)
        try:
            receipt = await self.conversation.correct(turn_id, user, values.get("intent", ""), values.get("text", ""))
        except Refusal as err:
            return await ephemeral(interaction, str(err))
        await interaction.response.send_message("Thanks — I'll learn from that. Trying it now.", ephemeral=True)
        await self.bot.turns.show(interaction.channel, receipt)

    async def edit_action(self, interaction: discord.Interaction, turn_id: int, action: str) -> None:
        """🔁 ↩️ ⬆️ 🔀: a new turn of the thread, for whoever may talk in it."""
        await interaction.response.defer()  # acknowledged before any database work
        try:
            receipt = await self.conversation.act(turn_id, str(interaction.user.id), action)  # type: ignore[arg-type]
        except Refusal as err:
            return await ephemeral(interaction, str(err))
        await self.bot.turns.show(interaction.channel, receipt)

    async def cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        try:
            cancelled = await self.conversation.cancel(job_id, str(interaction.user.id))
        except Refusal as err:
            return await ephemeral(interaction, str(err))
        if cancelled:
            await interaction.response.defer()  # the follower edits the message to "Cancelled"
        else:
            await ephemeral(interaction, "That request has already finished.")

    async def details(self, interaction: discord.Interaction, turn_id: int) -> None:
        """The intent JSON and parameters, only to the clicker."""
        try:
            shown = await self.conversation.details(turn_id)
        except Refusal as err:
            return await ephemeral(interaction, str(err))
        body = json.dumps(shown, indent=2, ensure_ascii=False)
        await ephemeral(interaction, f"```json\n{clip(body, 1900)}\n```")
