"""Running a turn in a thread: store it and queue its job (``Conversation``), post the
status message, follow the job, and turn its outcome into the final message."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.conversation import Attachment, JobOutcome, NewImage, TurnReceipt
from bot.discordbot import views
from bot.discordbot.status import StatusMessage, progress_text, queued_text
from bot.discordbot.upload import fit_for_upload

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot

log = logging.getLogger(__name__)

PLATFORM = "discord"
MAX_CONTENT = 2000  # Discord's message length limit
NO_MENTIONS = discord.AllowedMentions.none()


def clip(text: str, limit: int = MAX_CONTENT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TurnRunner:
    def __init__(self, bot: DialogDrawBot) -> None:
        self.bot = bot
        self.conversation = bot.app.conversation
        self._followers: set[asyncio.Task] = set()

    # ----- starting -----

    async def start_turn(
        self,
        channel: discord.abc.Messageable,
        session_id: int,
        author_id: str,
        text: str,
        attachments: list[Attachment] = (),
    ) -> TurnReceipt:
        receipt = await self.conversation.user_turn(session_id, author_id, text, attachments)
        await self.show(channel, receipt)
        return receipt

    async def show(self, channel: discord.abc.Messageable, receipt: TurnReceipt) -> None:
        """Post a turn's status message and follow its job; or say why it has none."""
        if receipt.job_id is None:
            note = " ".join(f"#{n}" for n in receipt.attached)
            prefix = f"{note} received. " if note else ""
            await channel.send(clip(f"{prefix}{receipt.refusal}"), allowed_mentions=NO_MENTIONS)
            return
        position = await self.conversation.queue_position(receipt.job_id)
        view = views.running_view(receipt.job_id)
        text = queued_text(position, receipt.attached)
        message = await channel.send(text, view=view)
        views.sent(view)
        await self.conversation.remember_status_message(receipt.job_id, str(message.id))
        self.follow(channel.id, message.id, receipt.job_id, shown=text)

    def follow(self, channel_id: int, message_id: int, job_id: int, shown: str | None = None) -> asyncio.Task:
        """Follow a job whose status message (showing ``shown``, if known) is posted."""
        task = asyncio.create_task(self._follow(channel_id, message_id, job_id, shown), name=f"follow-job-{job_id}")
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)
        return task

    async def resume(self) -> int:
        """Follow the jobs an earlier process left unfinished (the worker resumes them):
        their status messages are found again by id; a job whose message was never posted
        gets one now."""
        count = 0
        for job in await self.conversation.unfinished_jobs(PLATFORM):
            channel_id = int(job.channel_id)
            if job.message_id is None:
                try:
                    channel = self.bot.get_partial_messageable(channel_id)
                    message = await channel.send("⏳ Queued", view=views.running_view(job.job_id))
                except discord.HTTPException as err:
                    log.warning("cannot post the status of job %s: %s", job.job_id, err)
                    continue
                await self.conversation.remember_status_message(job.job_id, str(message.id))
                message_id = message.id
            else:
                message_id = int(job.message_id)
            self.follow(channel_id, message_id, job.job_id)
            count += 1
        return count

    async def close(self) -> None:
        for task in list(self._followers):
            task.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)

    # ----- following -----

    async def _follow(self, channel_id: int, message_id: int, job_id: int, shown: str | None = None) -> None:
        message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        status = StatusMessage(message, self.bot.app.settings.bot.status_interval_seconds, shown=shown)

        async def on_progress(event) -> None:
            status.update(progress_text(event))

        try:
            outcome = await self.conversation.wait(job_id, on_progress)
            await status.close()
            kwargs = await self.render(outcome, message)
            view = kwargs.get("view")
            await message.edit(**kwargs)
            views.sent(view)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one lost reply must not take the bot down
            log.exception("could not deliver the result of job %s", job_id)

    async def render(self, outcome: JobOutcome, message: discord.PartialMessage) -> dict[str, Any]:
        """The final message's content, files and buttons."""
        if outcome.status != "done":
            text = outcome.error or ("✖ Cancelled." if outcome.status == "cancelled" else "That request failed.")
            return {
                "content": clip(f"⚠️ {text}" if outcome.status == "failed" else text),
                "view": None,
                "attachments": [],
            }
        turn_id = outcome.turn_id
        if len(outcome.candidates) >= 2:
            lines = ["Two takes — which is closer to what you meant?"]
            files = []
            for label, cand in zip("AB", outcome.candidates):
                numbers = " ".join(f"#{img.number}" for img in cand.images)
                lines.append(f"**{label}** {numbers}: {cand.reply or cand.intent.get('intent')}".rstrip())
                files += await self._files(cand.images, prefix=label)
            return {"content": clip("\n".join(lines)), "attachments": files, "view": views.choice_view(turn_id)}
        files = await self._files(outcome.images)
        text = outcome.reply or ""
        if outcome.images:
            numbers = ", ".join(f"#{img.number}" for img in outcome.images)
            text = f'{text}\n-# image {numbers} — say "go back to #{outcome.images[0].number}" to return to it'
        elif outcome.current_image is not None and (outcome.intent or {}).get("intent") in ("undo", "revert"):
            text = f"{text}\n-# current image: #{outcome.current_image}"
        view = views.result_view(turn_id, outcome.actions)
        return {"content": clip(text.strip() or "Done."), "attachments": files, "view": view}

    async def _files(self, images: list[NewImage], prefix: str = "") -> list[discord.File]:
        limit = self.bot.app.settings.bot.upload_limit_bytes
        files = []
        for img in images:
            data, ext = await asyncio.to_thread(fit_for_upload, img.path, limit)
            files.append(
                discord.File(io.BytesIO(data), filename=f"{prefix}{'-' if prefix else ''}image-{img.number}.{ext}")
            )
        return files
