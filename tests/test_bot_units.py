"""The Discord front end's small parts: status throttling, upload re-encoding, start-up."""

from __future__ import annotations

import asyncio
import io
import os
import time

from PIL import Image

from bot.cli import main
from bot.discordbot.status import StatusMessage
from bot.discordbot.upload import fit_for_upload


class SlowMessage:
    """A message whose edits take a while, like an HTTP round trip."""

    def __init__(self) -> None:
        self.edits: list[tuple[float, str]] = []

    async def edit(self, *, content: str) -> None:
        await asyncio.sleep(0.01)
        self.edits.append((time.monotonic(), content))


async def test_progress_edits_are_throttled_and_the_latest_wins():
    message = SlowMessage()
    status = StatusMessage(message, interval=0.1)
    start = time.monotonic()
    for step in range(1, 51):  # 50 progress events in ~0.25 s
        status.update(f"step {step}/50")
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.15)
    await status.close()
    times = [t for t, _ in message.edits]
    assert len(message.edits) <= 1 + (times[-1] - start) / 0.1 + 1
    assert all(b - a >= 0.09 for a, b in zip(times, times[1:]))  # never faster than the interval
    assert message.edits[0][1] == "step 1/50" and message.edits[-1][1] == "step 50/50"


async def test_close_drops_unsent_progress():
    message = SlowMessage()
    status = StatusMessage(message, interval=10)
    status.update("one")
    await asyncio.sleep(0.05)
    status.update("two")  # waits for a slot 10 s away
    await status.close()
    assert [text for _, text in message.edits] == ["one"]


def test_a_large_image_is_re_encoded_under_the_upload_limit(tmp_path):
    noise = Image.frombytes("RGB", (512, 512), os.urandom(512 * 512 * 3))
    path = tmp_path / "big.png"
    noise.save(path)
    assert path.stat().st_size > 700_000
    data, ext = fit_for_upload(path, 100_000)
    assert ext == "jpg" and len(data) <= 100_000
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    small, ext = fit_for_upload(path, 10_000_000)
    assert ext == "png" and small == path.read_bytes()  # fits: sent as stored


def test_bot_without_a_token_exits_2_saying_how_to_set_it(monkeypatch, capsys):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["bot"]) == 2
    err = capsys.readouterr().err
    assert "export DISCORD_TOKEN=" in err and "never logged" in err
