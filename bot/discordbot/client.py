"""The client: cogs, persistent buttons, command sync, and the jobs a restart left open."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord.ext import commands

from bot.app import App
from bot.discordbot.actions import Actions
from bot.discordbot.cogs.draw import DrawCog
from bot.discordbot.cogs.feedback import FeedbackCog
from bot.discordbot.cogs.moderation import ModerationCog
from bot.discordbot.turns import TurnRunner
from bot.discordbot.views import PERSISTENT_ITEMS

log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    # message_content (privileged: switch it on in the Developer Portal) lets the bot read
    # the turns in its threads; members and presences are not needed.
    wanted = discord.Intents.default()
    wanted.message_content = True
    return wanted


class DialogDrawBot(commands.Bot):
    def __init__(self, app: App, *, sync_commands: bool = True, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            **options,
        )
        self.app = app
        self.sync_commands = sync_commands
        self.turns = TurnRunner(self)
        self.actions = Actions(self)

    async def setup_hook(self) -> None:
        await self.add_cog(DrawCog(self))
        await self.add_cog(ModerationCog(self))
        await self.add_cog(FeedbackCog(self))
        self.add_dynamic_items(*PERSISTENT_ITEMS)
        if self.sync_commands:
            guild_id = self.app.settings.bot.command_guild_id
            if guild_id is not None:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                synced = await self.tree.sync()
            log.info("synced %d application command(s)", len(synced))
        resumed = await self.turns.resume()
        if resumed:
            log.info("following %d job(s) an earlier run left unfinished", resumed)

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: turns are handled by DrawCog's listener."""

    async def close(self) -> None:
        await self.turns.close()
        await super().close()
