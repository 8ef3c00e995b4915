"""A stand-in for Discord, for driving the real discord.py client without a network.

Only the HTTP transport is replaced: the client's aiohttp session becomes ``FakeSession``,
which both ``discord.http.HTTPClient.request`` (REST calls) and the webhook adapter
(interaction callbacks, follow-ups) send through. Everything above it — routes, payload
building, multipart encoding, views, the command tree, the gateway parsers — is the real
library. ``FakeDiscord`` records each request (method, path, JSON, files) and answers
like Discord: messages, threads, interaction callbacks and webhook edits get plausible
JSON back, and a thread it creates is announced to the client with a THREAD_CREATE event,
as the gateway would. Gateway events are fed through ``ConnectionState.parsers``, the very
functions the websocket hands its events to.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord
from discord.http import Route

API = urlsplit(Route.BASE).path  # "/api/v10"
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = (1 << 11) | (1 << 10) | (1 << 38)  # send, view, send in threads


@dataclass
class Request:
    method: str
    path: str
    json: Any = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0  # time.perf_counter() when the client sent it
    response: Any = None

    @property
    def components(self) -> list[dict[str, Any]]:
        """The buttons of a message request, flattened out of their action rows."""
        body = self.json or {}
        if "data" in body and isinstance(body["data"], dict):  # interaction callbacks
            body = body["data"]
        return [c for row in body.get("components") or [] for c in row.get("components", [])]

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in self.components if "custom_id" in c]

    @property
    def content(self) -> str | None:
        body = self.json or {}
        if "data" in body and isinstance(body["data"], dict):
            body = body["data"]
        return body.get("content")

    @property
    def flags(self) -> int:
        body = self.json or {}
        if "data" in body and isinstance(body["data"], dict):
            body = body["data"]
        return body.get("flags") or 0


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time(), UTC).isoformat()


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.reason = "OK" if status < 400 else "Error"
        self._text = body if isinstance(body, (str, bytes)) else json.dumps(body)
        content_type = "application/octet-stream" if isinstance(body, bytes) else "application/json"
        self.headers = {"content-type": content_type}

    async def text(self, encoding: str = "utf-8") -> str:
        return self._text.decode(encoding) if isinstance(self._text, bytes) else self._text

    async def read(self) -> bytes:
        return self._text if isinstance(self._text, bytes) else self._text.encode()

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None


class FakeSession:
    """The part of ``aiohttp.ClientSession`` that discord.py's REST and webhook code use."""

    def __init__(self, discord_: FakeDiscord) -> None:
        self.discord = discord_
        self.closed = False

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        return self.discord.handle(method, url, kwargs)

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        return self.discord.handle("GET", url, kwargs)

    async def close(self) -> None:
        self.closed = True


def _decode_body(data: Any) -> tuple[Any, list[tuple[str, bytes]]]:
    if data is None:
        return None, []
    if isinstance(data, (str, bytes)):
        return json.loads(data), []
    if isinstance(data, aiohttp.FormData):
        payload, files = None, []
        for options, _headers, value in data._fields:
            if options["name"] == "payload_json":
                payload = json.loads(value)
            else:
                pos = value.tell()
                files.append((options.get("filename"), value.read()))
                value.seek(pos)
        return payload, files
    raise TypeError(f"unexpected request body {type(data)}")


class FakeDiscord:
    """One guild with one text channel, a bot user, and whatever the client creates."""

    def __init__(self) -> None:
        self._ids = itertools.count(int(discord.utils.time_snowflake(datetime.now(UTC))))
        self.app_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.bot_user = self.user("DialogDraw", bot=True, id=self.app_id)
        self.requests: list[Request] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.threads: dict[int, dict[str, Any]] = {}
        self.cdn: dict[str, bytes] = {}
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> interaction payload
        self.originals: dict[str, int] = {}  # interaction token -> its response message id
        self.client: discord.Client | None = None
        self.command_ids: dict[str, int] = {}  # name -> id, as the command sync gave them
        self.on_request: Callable[[Request], None] | None = None  # e.g. a benchmark's clock

    # ----- ids and objects -----

    def snowflake(self) -> int:
        return next(self._ids)

    def user(self, name: str, *, bot: bool = False, id: int | None = None) -> dict[str, Any]:
        return {
            "id": str(id or self.snowflake()),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
        }

    def member(self, user: dict[str, Any], permissions: int) -> dict[str, Any]:
        return {
            "user": user,
            "roles": [],
            "joined_at": iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions),
        }

    def text_channel(self) -> dict[str, Any]:
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "art",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
            "last_message_id": None,
        }

    def message(self, channel_id: int, author: dict[str, Any], content: str = "", **extra: Any) -> dict[str, Any]:
        msg = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "guild_id": str(self.guild_id),
            "author": author,
            "content": content,
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        msg.update(extra)
        return msg

    def attachment(
        self, filename: str, data: bytes, content_type: str | None = "image/png", size: int | None = None
    ) -> dict[str, Any]:
        """An attachment whose bytes the fake CDN serves (``size``: what Discord announces)."""
        att_id = self.snowflake()
        url = f"https://cdn.discordapp.com/attachments/{self.channel_id}/{att_id}/{filename}"
        self.cdn[url] = data
        att = {
            "id": str(att_id),
            "filename": filename,
            "size": size if size is not None else len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type:
            att["content_type"] = content_type
        return att

    # ----- the gateway side -----

    def ready(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": "fake-session",
            "resume_gateway_url": "wss://gateway.invalid",
            "application": {"id": str(self.app_id), "flags": 0},
        }

    def guild_create(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "Artists",
            "icon": None,
            "owner_id": str(self.snowflake()),
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": str(SEND_MESSAGES),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_flags": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "joined_at": iso(),
            "channels": [self.text_channel()],
            "threads": list(self.threads.values()),
            "members": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "stickers": [],
        }

    def feed(self, event: str, payload: dict[str, Any]) -> None:
        """Hand one gateway event to the client, as its websocket would."""
        assert self.client is not None, "connect a client first"
        self.client._connection.parsers[event](payload)

    async def connect(self, client: discord.Client, token: str = "test-token") -> None:
        """Log ``client`` in through the fake transport (setup_hook runs, commands sync),
        then READY + GUILD_CREATE; returns once the client is ready."""
        self.client = client
        http = client.http

        async def static_login(token: str) -> dict[str, Any]:
            http._HTTPClient__session = FakeSession(self)  # the one replaced piece
            http._global_over = asyncio.Event()
            http._global_over.set()
            http.token = token
            return await http.request(Route("GET", "/users/@me"))

        http.static_login = static_login
        await client.login(token)
        self.feed("READY", self.ready())
        self.feed("GUILD_CREATE", self.guild_create())
        await asyncio.wait_for(client.wait_until_ready(), 10)

    def send_message(
        self,
        author: dict[str, Any],
        content: str,
        channel_id: int | None = None,
        attachments: list[dict[str, Any]] = (),
        mentions: list[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A user posts: MESSAGE_CREATE (with the author as a guild member)."""
        msg = self.message(
            channel_id or self.channel_id,
            author,
            content,
            attachments=list(attachments),
            mentions=list(mentions),
            member={"roles": [], "joined_at": iso(), "deaf": False, "mute": False, "flags": 0},
        )
        self.feed("MESSAGE_CREATE", msg)
        return msg

    def _interaction(
        self,
        type_: int,
        user: dict[str, Any],
        channel_id: int | None,
        data: dict[str, Any],
        permissions: int,
        **extra: Any,
    ) -> dict[str, Any]:
        channel_id = channel_id or self.channel_id
        channel = self.threads.get(channel_id) or self.text_channel()
        token = f"itoken-{self.snowflake()}"
        payload = {
            "id": str(self.snowflake()),
            "application_id": str(self.app_id),
            "type": type_,
            "token": token,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(channel_id),
            "channel": channel,
            "member": self.member(user, permissions),
            "app_permissions": str(SEND_MESSAGES | MANAGE_GUILD),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "data": data,
        }
        payload.update(extra)
        self.interactions[token] = payload
        self.feed("INTERACTION_CREATE", payload)
        return payload

    def slash(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        user: dict[str, Any],
        channel_id: int | None = None,
        permissions: int = SEND_MESSAGES,
        resolved: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A slash command; ``name`` may be "group sub" (e.g. "pipelines enable")."""
        parts = name.split()
        opts = options or []
        if len(parts) == 2:
            opts = [{"name": parts[1], "type": 1, "options": opts}]
        data = {
            "id": str(self.command_ids.get(parts[0], self.snowflake())),
            "name": parts[0],
            "type": 1,
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        return self._interaction(2, user, channel_id, data, permissions)

    def click(
        self, message: dict[str, Any], custom_id: str, *, user: dict[str, Any], permissions: int = SEND_MESSAGES
    ) -> dict[str, Any]:
        """A button click on a message the bot posted."""
        assert custom_id in [
            c.get("custom_id") for row in message.get("components", []) for c in row.get("components", [])
        ], f"{custom_id} is not on that message"
        return self._interaction(
            3,
            user,
            int(message["channel_id"]),
            {"custom_id": custom_id, "component_type": 2},
            permissions,
            message=message,
        )

    def submit_modal(
        self,
        custom_id: str,
        values: dict[str, str],
        *,
        user: dict[str, Any],
        channel_id: int,
        permissions: int = SEND_MESSAGES,
    ) -> dict[str, Any]:
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in values.items()]
        return self._interaction(5, user, channel_id, {"custom_id": custom_id, "components": rows}, permissions)

    # ----- the REST side -----

    def handle(self, method: str, url: str, kwargs: dict[str, Any]) -> FakeResponse:
        parts = urlsplit(url)
        if parts.netloc.startswith("cdn."):
            data = self.cdn.get(url)
            self.requests.append(Request(method, url, at=time.perf_counter()))
            return FakeResponse(200, data) if data is not None else FakeResponse(404, {"message": "Unknown"})
        path = parts.path[len(API) :] if parts.path.startswith(API) else parts.path
        body, files = _decode_body(kwargs.get("data"))
        req = Request(method, path, body, files, dict(kwargs.get("params") or {}), time.perf_counter())
        status, answer = self.answer(req)
        req.response = answer
        self.requests.append(req)
        if self.on_request is not None:
            self.on_request(req)
        return FakeResponse(status, answer if answer is not None else "")

    def answer(self, req: Request) -> tuple[int, Any]:
        m, p, body = req.method, req.path, req.json or {}
        if (m, p) == ("GET", "/users/@me"):
            return 200, self.bot_user
        if (m, p) == ("GET", "/oauth2/applications/@me"):
            return 200, {
                "id": str(self.app_id),
                "name": "DialogDraw",
                "icon": None,
                "description": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.user("owner"),
                "summary": "",
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
            }
        if m == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", p):
            out = []
            for cmd in body:
                cmd_id = self.command_ids.setdefault(cmd["name"], self.snowflake())
                out.append(
                    {
                        **cmd,
                        "id": str(cmd_id),
                        "application_id": str(self.app_id),
                        "version": "1",
                        "default_member_permissions": cmd.get("default_member_permissions"),
                    }
                )
            return 200, out
        if match := re.fullmatch(r"/channels/(\d+)/messages", p):
            if m == "POST":
                return 200, self._store(int(match[1]), body, req.files)
        if match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", p):
            if m == "PATCH":
                return 200, self._edit(int(match[2]), body, req.files)
            if m == "GET":
                return 200, self.messages[int(match[2])]
        if (match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", p)) and m == "POST":
            return 201, self._thread(int(match[1]), int(match[2]), body)
        if (match := re.fullmatch(r"/interactions/(\d+)/([\w-]+)/callback", p)) and m == "POST":
            return 200, self._callback(match[1], match[2], body, req.files)
        if match := re.fullmatch(r"/webhooks/(\d+)/([\w-]+)/messages/@original", p):
            msg_id = self.originals.get(match[2])
            if msg_id is None:
                return 404, {"message": "Unknown Message", "code": 10008}
            return 200, (self._edit(msg_id, body, req.files) if m == "PATCH" else self.messages[msg_id])
        if (match := re.fullmatch(r"/webhooks/(\d+)/([\w-]+)", p)) and m == "POST":
            inter = self.interactions[match[2]]
            return 200, self._store(int(inter["channel_id"]), body, req.files)
        return 200, {}

    def _attachments(self, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
        return [self.attachment(name, data, None) for name, data in files]

    def _store(self, channel_id: int, body: dict[str, Any], files) -> dict[str, Any]:
        msg = self.message(
            channel_id,
            self.bot_user,
            body.get("content") or "",
            components=body.get("components") or [],
            embeds=body.get("embeds") or [],
            attachments=self._attachments(files),
            flags=body.get("flags") or 0,
        )
        self.messages[int(msg["id"])] = msg
        return msg

    def _edit(self, message_id: int, body: dict[str, Any], files) -> dict[str, Any]:
        msg = self.messages[message_id]
        for key in ("content", "components", "embeds"):
            if key in body:
                msg[key] = body[key] or ([] if key != "content" else "")
        if "attachments" in body:  # kept ones by id, plus the files uploaded now
            kept = {str(a.get("id")) for a in body["attachments"]}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in kept] + self._attachments(files)
        msg["edited_timestamp"] = iso()
        return msg

    def _thread(self, channel_id: int, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        thread = {
            "id": str(message_id),
            "type": 11,
            "guild_id": str(self.guild_id),
            "parent_id": str(channel_id),
            "owner_id": str(self.app_id),
            "name": body["name"],
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": iso(),
                "locked": False,
            },
        }
        self.threads[message_id] = thread
        # Discord announces the new thread on the gateway, shortly after answering.
        asyncio.get_running_loop().call_soon(self.feed, "THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def _callback(self, interaction_id: str, token: str, body: dict[str, Any], files) -> dict[str, Any]:
        inter = self.interactions[token]
        kind = body.get("type")
        data = body.get("data") or {}
        out: dict[str, Any] = {"interaction": {"id": interaction_id, "type": inter["type"]}}
        if kind in (4, 5):  # a message (or "thinking…") in the channel
            msg = self._store(int(inter["channel_id"]), data, files)
            self.originals[token] = int(msg["id"])
            out["interaction"].update(
                response_message_id=msg["id"],
                response_message_loading=kind == 5,
                response_message_ephemeral=bool((data.get("flags") or 0) & 64),
            )
            out["resource"] = {"type": kind, "message": msg}
        elif kind == 7:  # update the clicked message
            msg_id = int(inter["message"]["id"])
            msg = self._edit(msg_id, data, files)
            self.originals[token] = msg_id
            out["resource"] = {"type": kind, "message": msg}
        elif kind == 6:
            self.originals[token] = int(inter["message"]["id"]) if "message" in inter else 0
        return out

    # ----- what the tests look at -----

    def mark(self) -> int:
        return len(self.requests)

    def find(
        self, method: str, pattern: str, since: int = 0, where: Callable[[Request], bool] | None = None
    ) -> list[Request]:
        """Requests since ``since`` whose path fully matches ``pattern`` (a regex)."""
        return [
            r
            for r in self.requests[since:]
            if r.method == method and re.fullmatch(pattern, r.path) and (where is None or where(r))
        ]

    async def wait_for(
        self,
        method: str,
        pattern: str,
        since: int = 0,
        where: Callable[[Request], bool] | None = None,
        timeout: float = 30.0,
        count: int = 1,
    ) -> Request:
        """The ``count``-th matching request, waiting for it as the client works."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(method, pattern, since, where)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                seen = "\n  ".join(f"{r.method} {r.path} {str(r.json)[:150]}" for r in self.requests[since:])
                raise AssertionError(f"no {method} {pattern} within {timeout}s; requests since:\n  {seen}")
            await asyncio.sleep(0.01)

    def message_payload(self, message_id: int | str) -> dict[str, Any]:
        return self.messages[int(message_id)]


def png_bytes(size: tuple[int, int] = (32, 32), color: str = "red") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()
