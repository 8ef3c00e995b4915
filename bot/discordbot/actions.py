"""What the persistent buttons and the "Neither" modal do. Every handler reads its state
from the database by the id in the custom_id, so it works for messages of earlier runs."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.discordbot import views
from bot.discordbot.turns import clip, may_talk
from bot.store import repository as repo
from engine.registry import IntentError

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot

log = logging.getLogger(__name__)

NOT_YOURS = "Only the person who started this thread can do that here."
TEXT_FIELDS = ("prompt", "instruction", "question", "text")  # what a correction's words fill


async def ephemeral(interaction: discord.Interaction, text: str, **kwargs: Any) -> None:
    if interaction.response.is_done():
        await interaction.followup.send(clip(text), ephemeral=True, **kwargs)
    else:
        await interaction.response.send_message(clip(text), ephemeral=True, **kwargs)


class Actions:
    def __init__(self, bot: "DialogDrawBot") -> None:
        self.bot = bot
        self.db = bot.app.conversation.db
        self.registry = bot.app.conversation.registry

    async def _turn_context(self, turn_id: int):
        turn = await repo.get_turn(self.db, turn_id)
        if turn is None:
            return None, None, None
        session = await repo.get_session(self.db, turn.session_id)
        guild = await repo.guild_settings(self.db, session.guild_id) if session.guild_id else None
        return turn, session, guild

    # ----- feedback -----

    async def vote(self, interaction: discord.Interaction, turn_id: int, kind: str) -> None:
        """Anyone may vote; a second click by the same user changes their vote."""
        turn, _, _ = await self._turn_context(turn_id)
        if turn is None or turn.role != "assistant":
            return await ephemeral(interaction, "That message is no longer in my records.")
        await repo.set_vote(self.db, turn_id, str(interaction.user.id), kind)
        await ephemeral(interaction, "Thanks — noted 👍" if kind == "up" else "Thanks — noted 👎. Tell me what to change.")

    async def choose(self, interaction: discord.Interaction, turn_id: int, choice: str) -> None:
        turn, session, guild = await self._turn_context(turn_id)
        if turn is None or not turn.candidates:
            return await ephemeral(interaction, "There is no choice to make on that message.")
        user = str(interaction.user.id)
        if not may_talk(session, guild, user):
            return await ephemeral(interaction, NOT_YOURS)
        if choice == "neither":
            await repo.set_vote(self.db, turn_id, user, "neither")
            first = turn.candidates[0]["intent"]
            text = next((str(v) for k, v in first.get("params", {}).items() if k in TEXT_FIELDS), "")
            modal = views.CorrectionModal(turn_id, first.get("intent", ""), text, self.registry.intents(guild.enabled_pipelines if guild else None))
            await interaction.response.send_modal(modal)
            views.sent(modal)  # answered by custom_id (FeedbackCog), also after a restart
            return
        index = 0 if choice == "a" else 1
        await repo.set_vote(self.db, turn_id, user, f"choice_{choice}", candidate=index)
        await repo.choose_candidate(self.db, turn_id, index)
        chosen = turn.candidates[index]
        content = clip(f"**{choice.upper()}** it is: {chosen['reply']}".rstrip(": ")
                       + ("\n-# current image: #" + str(chosen["numbers"][-1]) if chosen["numbers"] else ""))
        view = views.result_view(turn_id, images=bool(chosen["numbers"]), upscale=False)
        await interaction.response.edit_message(content=content, view=view)
        views.sent(view)

    async def correction(self, interaction: discord.Interaction, turn_id: int, values: dict[str, str]) -> None:
        """The "Neither" modal: the user's words become the preferred IRPEM answer (stored as
        a correction), and the corrected request runs as the thread's next turn."""
        turn, session, guild = await self._turn_context(turn_id)
        if turn is None:
            return await ephemeral(interaction, "That message is no longer in my records.")
        user = str(interaction.user.id)
        if not may_talk(session, guild, user):
            return await ephemeral(interaction, NOT_YOURS)
        enabled = guild.enabled_pipelines if guild else None
        intent_id = values.get("intent", "").strip()
        text = values.get("text", "").strip()
        try:
            corrected = self.corrected_intent(turn, intent_id, text, enabled)
        except IntentError as err:
            return await ephemeral(interaction, f"I couldn't use that correction: {err}")
        await repo.set_vote(self.db, turn_id, user, "correction", payload={"text": text, "intent": corrected})
        await interaction.response.send_message("Thanks — I'll learn from that. Trying it now.", ephemeral=True)
        await self.bot.turns.start_turn(interaction.channel, session.id, user, text or intent_id, forced_intent=corrected)

    def corrected_intent(self, turn, intent_id: str, text: str, enabled: list[str] | None) -> dict[str, Any]:
        """An IRPEM answer built from the modal: the chosen intent, with the words in its text
        input, keeping a candidate's other parameters when it had the same intent."""
        params: dict[str, Any] = {}
        for cand in turn.candidates or []:
            if cand["intent"].get("intent") == intent_id:
                params = dict(cand["intent"].get("params") or {})
                break
        if intent_id not in self.registry.intents(enabled):
            raise IntentError(f"{intent_id!r} is not one of {', '.join(self.registry.intents(enabled))}")
        fields = self.registry.inputs_model(intent_id).model_fields
        field = next((f for f in TEXT_FIELDS if f in fields), None)
        if field and text:
            params[field] = text
        return self.registry.validate({"intent": intent_id, "params": params, "response": ""}, enabled).as_dict()

    # ----- edits -----

    async def edit_action(self, interaction: discord.Interaction, turn_id: int, action: str) -> None:
        turn, session, guild = await self._turn_context(turn_id)
        if turn is None or turn.role != "assistant":
            return await ephemeral(interaction, "That message is no longer in my records.")
        user = str(interaction.user.id)
        if not may_talk(session, guild, user):
            return await ephemeral(interaction, NOT_YOURS)
        enabled = guild.enabled_pipelines if guild else None
        images = [img for img in await repo.session_images(self.db, session.id) if img.turn_id == turn.id]
        forced, text = None, ""
        if action == "undo":
            forced, text = {"intent": "undo", "params": {}, "response": ""}, "↩️ undo"
        elif action == "reroll" and turn.intent and images:
            forced = json.loads(json.dumps(turn.intent))
            fields = self.registry.inputs_model(forced["intent"]).model_fields
            if "image" in fields and images[0].parent_number is not None:
                forced["params"]["image"] = f"#{images[0].parent_number}"  # the same source again
            text = f"🔁 reroll #{images[-1].number}"
        elif action == "upscale" and images:
            upscale = self.bot.turns.upscale_id(enabled)
            if upscale is None:
                return await ephemeral(interaction, "Upscaling is not enabled on this server.")
            number = images[-1].number
            forced = {"intent": upscale, "params": {"image": f"#{number}"}, "response": f"Upscaled #{number}."}
            text = f"⬆️ upscale #{number}"
        if forced is None:
            return await ephemeral(interaction, f"There is nothing to {action} on that message.")
        await interaction.response.defer()
        await self.bot.turns.start_turn(interaction.channel, session.id, user, text, forced_intent=forced)

    async def cancel(self, interaction: discord.Interaction, job_id: int) -> None:
        job = await repo.get_job(self.db, job_id)
        if job is None:
            return await ephemeral(interaction, "That request is no longer in my records.")
        session = await repo.get_session(self.db, job.session_id)
        guild = await repo.guild_settings(self.db, session.guild_id) if session.guild_id else None
        if not may_talk(session, guild, str(interaction.user.id)):
            return await ephemeral(interaction, NOT_YOURS)
        if await self.bot.app.conversation.cancel(job_id):
            await interaction.response.defer()  # the follower edits the message to "Cancelled"
        else:
            await ephemeral(interaction, "That request has already finished.")

    async def details(self, interaction: discord.Interaction, turn_id: int) -> None:
        """The intent JSON and parameters, only to the clicker."""
        turn, _, _ = await self._turn_context(turn_id)
        if turn is None or turn.role != "assistant":
            return await ephemeral(interaction, "That message is no longer in my records.")
        shown: dict[str, Any] = {"intent": turn.intent}
        if turn.candidates:
            shown["candidates"] = [c["intent"] for c in turn.candidates]
        body = json.dumps(shown, indent=2, ensure_ascii=False)
        await ephemeral(interaction, f"```json\n{clip(body, 1900)}\n```")
