"""What each server chose: pipelines on offer, their defaults, limits, who may talk, and how
often to ask an A/B question. Persistence only; the checks live in ``bot.conversation``."""

from __future__ import annotations

from typing import Any

from bot.store.db import Database
from bot.store.models import WHO_CAN_TALK, GuildSettings, utcnow

GUILD_FIELDS = ("enabled_pipelines", "pipeline_overrides", "limits", "who_can_talk", "ab_probability")


def default_guild(guild_id: str) -> GuildSettings:
    """The settings of a server that never changed any (not stored)."""
    return GuildSettings(
        guild_id=guild_id,
        enabled_pipelines=None,
        pipeline_overrides={},
        limits={},
        who_can_talk="owner",
        ab_probability=0.0,
        updated_at=utcnow(),
    )


async def guild_settings(db: Database, guild_id: str) -> GuildSettings:
    """The server's settings; a server never configured gets the defaults."""
    async with db.session() as s:
        row = await s.get(GuildSettings, guild_id)
    return row if row is not None else default_guild(guild_id)


async def update_guild_settings(db: Database, guild_id: str, **changes: Any) -> GuildSettings:
    """Change some of ``GUILD_FIELDS`` (``enabled_pipelines=None`` restores the defaults)."""
    unknown = set(changes) - set(GUILD_FIELDS)
    if unknown:
        raise ValueError(f"unknown guild setting(s): {', '.join(sorted(unknown))}")
    if "who_can_talk" in changes and changes["who_can_talk"] not in WHO_CAN_TALK:
        raise ValueError(f"who_can_talk must be one of {WHO_CAN_TALK}")
    if "ab_probability" in changes and not 0.0 <= float(changes["ab_probability"]) <= 1.0:
        raise ValueError("ab_probability must be between 0 and 1")
    async with db.write() as s:
        row = await s.get(GuildSettings, guild_id)
        if row is None:
            row = default_guild(guild_id)
            s.add(row)
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utcnow()
    return row
