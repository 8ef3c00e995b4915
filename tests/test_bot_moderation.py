"""Moderator commands: refused to members without Manage Server (checked by the bot, not
only hidden by Discord), validated, stored per server."""

from __future__ import annotations

import pytest

from bot.store import guilds
from bot.store.models import GuildSettings
from tests.bot_harness import running_bot, with_paint
from tests.discord_recorder import MANAGE_GUILD

CALLBACK = r"/interactions/\d+/[\w-]+/callback"

MODERATOR_COMMANDS = [
    ("pipelines list", []),
    ("pipelines enable", [{"name": "pipeline", "type": 3, "value": "paint"}]),
    ("pipelines disable", [{"name": "pipeline", "type": 3, "value": "paint"}]),
    (
        "pipelines set",
        [
            {"name": "pipeline", "type": 3, "value": "paint"},
            {"name": "key", "type": 3, "value": "steps"},
            {"name": "value", "type": 3, "value": "9"},
        ],
    ),
    ("limits", [{"name": "daily_quota", "type": 4, "value": 1}]),
    ("settings", [{"name": "who_can_talk", "type": 3, "value": "anyone"}]),
    ("feedback stats", []),
    ("feedback export", []),
]


async def test_commands_are_synced_with_moderator_defaults(tiny_settings):
    async with running_bot(with_paint(tiny_settings)) as r:
        (sync,) = r.fake.find("PUT", r"/applications/\d+/commands")
        by_name = {c["name"]: c for c in sync.json}
        assert set(by_name) == {"draw", "pipelines", "limits", "settings", "feedback"}
        assert by_name["draw"].get("default_member_permissions") is None
        for name in ("pipelines", "limits", "settings", "feedback"):
            assert int(by_name[name]["default_member_permissions"]) == MANAGE_GUILD


async def test_a_member_without_manage_server_is_refused_every_moderator_command(tiny_settings):
    async with running_bot(with_paint(tiny_settings)) as r:
        fake, mallory = r.fake, r.fake.user("mallory")
        for n, (name, options) in enumerate(MODERATOR_COMMANDS, 1):
            fake.slash(name, options, user=mallory)  # Discord would hide them; the bot still checks
            answer = await fake.wait_for("POST", CALLBACK, count=n)
            assert answer.flags & 64 and "Manage Server" in answer.content, name
        assert await r.rows(GuildSettings) == []  # nothing changed
        assert not fake.find("POST", r"/webhooks/\d+/[\w-]+")  # and nothing exported


async def answer(fake, name, options=(), user=None):
    mark = fake.mark()
    fake.slash(name, list(options), user=user or fake.user("mod"), permissions=MANAGE_GUILD)
    reply = await fake.wait_for("POST", CALLBACK, since=mark)
    assert reply.flags & 64
    return reply.content


@pytest.mark.parametrize(
    "pipeline, key, value, error",
    [
        ("text2image", "steps", "lots", "bad value for `steps`"),
        ("text2image", "steps", "0", "bad value for `steps`"),  # the pipeline's own range
        ("text2image", "colour", "red", "not a setting"),
        ("img2img", "image", "#1", "not a setting"),
        ("blend", "image2", "#1", "not a setting"),  # every image input, from the registry
        ("teleport", "steps", "3", "no pipeline"),
    ],
)
async def test_pipeline_settings_are_validated(tiny_settings, pipeline, key, value, error):
    async with running_bot(with_paint(tiny_settings)) as r:
        opts = [
            {"name": "pipeline", "type": 3, "value": pipeline},
            {"name": "key", "type": 3, "value": key},
            {"name": "value", "type": 3, "value": value},
        ]
        text = await answer(r.fake, "pipelines set", opts)
        assert error in text
        assert await r.rows(GuildSettings) == []


async def test_moderators_configure_their_server(tiny_settings):
    async with running_bot(with_paint(tiny_settings)) as r:
        fake, guild = r.fake, str(r.fake.guild_id)
        db = r.app.conversation.db
        text = await answer(fake, "pipelines disable", [{"name": "pipeline", "type": 3, "value": "upscale"}])
        assert "disabled" in text
        settings = await guilds.guild_settings(db, guild)
        assert "upscale" not in settings.enabled_pipelines and "paint" in settings.enabled_pipelines
        assert "⛔ `upscale`" in await answer(fake, "pipelines list")
        await answer(fake, "pipelines enable", [{"name": "pipeline", "type": 3, "value": "upscale"}])
        assert "upscale" in (await guilds.guild_settings(db, guild)).enabled_pipelines

        opts = [
            {"name": "pipeline", "type": 3, "value": "paint"},
            {"name": "key", "type": 3, "value": "steps"},
            {"name": "value", "type": 3, "value": "7"},
        ]
        assert "`7`" in await answer(fake, "pipelines set", opts)
        assert (await guilds.guild_settings(db, guild)).pipeline_overrides == {"paint": {"steps": 7}}
        opts[2]["value"] = "default"
        await answer(fake, "pipelines set", opts)
        assert (await guilds.guild_settings(db, guild)).pipeline_overrides == {}

        text = await answer(
            fake,
            "limits",
            [{"name": "concurrent_jobs", "type": 4, "value": 1}, {"name": "max_image_mb", "type": 10, "value": 2.0}],
        )
        assert "1 request(s) at a time" in text and "2.0 MiB" in text
        assert (await guilds.guild_settings(db, guild)).limits == {
            "per_user_concurrent_jobs": 1,
            "max_attachment_bytes": 2 * 1024 * 1024,
        }
        text = await answer(fake, "limits", [{"name": "daily_quota", "type": 4, "value": 99999}])
        assert "200 per 24 hours" in text and "capped" in text  # never above the bot's own limit


async def test_server_limits_apply_to_turns(tiny_settings):
    async with running_bot(with_paint(tiny_settings)) as r:
        fake, alice = r.fake, r.fake.user("alice")
        await answer(fake, "limits", [{"name": "daily_quota", "type": 4, "value": 1}])
        r.irpem.push({"intent": "chat", "params": {}, "response": "Hi!"})
        mark = fake.mark()
        fake.send_message(alice, f"<@{fake.app_id}> hello", mentions=[fake.bot_user])
        created = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages/\d+/threads", since=mark)
        thread = int(created.response["id"])
        await fake.wait_for(
            "PATCH", rf"/channels/{thread}/messages/\d+", since=mark, where=lambda q: "components" in (q.json or {})
        )
        mark = fake.mark()
        fake.send_message(alice, "hello again", channel_id=thread)
        refusal = await fake.wait_for("POST", rf"/channels/{thread}/messages", since=mark)
        assert "in the last 24 hours" in refusal.content
