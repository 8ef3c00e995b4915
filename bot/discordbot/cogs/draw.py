"""Sessions: `/draw` and mentions open a thread; every message in it is a turn."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.conversation import Attachment
from bot.discordbot.turns import NO_MENTIONS, PLATFORM, clip

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot

log = logging.getLogger(__name__)

THREAD_NAME_MAX = 100


def thread_name(prompt: str) -> str:
    name = " ".join(prompt.split()) or "drawing"
    return clip(name, THREAD_NAME_MAX)


class DrawCog(commands.Cog):
    def __init__(self, bot: DialogDrawBot) -> None:
        self.bot = bot
        self.conversation = bot.app.conversation

    @app_commands.command(name="draw", description="Start drawing in a new thread; talk to me there to change it")
    @app_commands.describe(prompt="what to draw (or to do with the image)", image="a picture to start from")
    @app_commands.guild_only()
    async def draw(
        self, interaction: discord.Interaction, prompt: str, image: discord.Attachment | None = None
    ) -> None:
        user = str(interaction.user.id)
        attachments = [await self.attachment(image)] if image else []
        existing = await self.conversation.find_session(PLATFORM, str(interaction.channel_id))
        if existing is not None:  # /draw inside a session thread: just the next turn
            if not existing.may_act(user):
                await interaction.response.send_message(
                    "Only the person who started this thread can talk here.", ephemeral=True
                )
                return
            await interaction.response.send_message(clip(f"> {prompt}"), allowed_mentions=NO_MENTIONS)
            await self.bot.turns.start_turn(interaction.channel, existing.id, user, prompt, attachments)
            return
        await interaction.response.send_message(
            clip(f"🎨 {interaction.user.mention} is drawing: **{prompt}**"), allowed_mentions=NO_MENTIONS
        )
        opener = await interaction.original_response()
        thread = await opener.create_thread(
            name=thread_name(prompt), auto_archive_duration=self.bot.app.settings.bot.thread_auto_archive_minutes
        )
        session_id = await self.conversation.open_session(PLATFORM, str(thread.id), user, str(interaction.guild_id))
        await self.bot.turns.start_turn(thread, session_id, user, prompt, attachments)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None or message.guild is None:
            return
        user = str(message.author.id)
        session = await self.conversation.find_session(PLATFORM, str(message.channel.id))
        if session is not None:
            if not session.may_act(user):
                return  # others may chat in the thread; only the owner's words are turns
            channel, session_id = message.channel, session.id
        elif self.bot.user is not None and self.bot.user in message.mentions:
            if isinstance(message.channel, discord.Thread):
                channel = message.channel  # a thread that is not yet a session becomes one
            else:
                channel = await message.create_thread(
                    name=thread_name(self.strip_mentions(message.content)),
                    auto_archive_duration=self.bot.app.settings.bot.thread_auto_archive_minutes,
                )
            session_id = await self.conversation.open_session(PLATFORM, str(channel.id), user, str(message.guild.id))
        else:
            return
        attachments = [await self.attachment(a) for a in message.attachments]
        await self.bot.turns.start_turn(channel, session_id, user, self.strip_mentions(message.content), attachments)

    def strip_mentions(self, text: str) -> str:
        if self.bot.user is None:
            return text.strip()
        return re.sub(rf"<@!?{self.bot.user.id}>", "", text).strip()

    async def attachment(self, att: discord.Attachment) -> Attachment:
        """Download an attachment, unless it is over the size limit (the conversation then
        refuses it from the announced size)."""
        if att.size > self.bot.app.settings.limits.max_attachment_bytes:
            return Attachment(att.filename, b"", declared_size=att.size)
        return Attachment(att.filename, await att.read(), declared_size=att.size)
