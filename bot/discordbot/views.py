"""Persistent buttons. Each is a ``DynamicItem`` whose custom_id carries the id it acts on
(``dd:<action>:...:<id>``); the client registers the classes at start, so a click on any
message ever posted, by this process or an earlier one, reaches the same callback. Views
are only containers for sending: they are stopped right after (see ``sent``), so clicks
never also reach an in-memory copy.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import ButtonStyle
from discord.ui import Button, DynamicItem

if TYPE_CHECKING:
    from bot.discordbot.client import DialogDrawBot

CORRECTION_MODAL = "dd:correct:"  # + turn id; handled by FeedbackCog.on_interaction


def _bot(interaction: discord.Interaction) -> DialogDrawBot:
    return interaction.client  # type: ignore[return-value]


class VoteButton(DynamicItem[Button], template=r"dd:vote:(?P<kind>up|down):(?P<turn>\d+)"):
    def __init__(self, kind: str, turn_id: int) -> None:
        super().__init__(
            Button(
                style=ButtonStyle.secondary,
                emoji="👍" if kind == "up" else "👎",
                custom_id=f"dd:vote:{kind}:{turn_id}",
            )
        )
        self.kind, self.turn_id = kind, turn_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):
        return cls(match["kind"], int(match["turn"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _bot(interaction).actions.vote(interaction, self.turn_id, self.kind)


ACTION_LOOK = {
    "reroll": ("🔁", "Reroll"),
    "undo": ("↩️", "Undo"),
    "upscale": ("⬆️", "Upscale"),
    "vary": ("🔀", "Vary"),
}


class ActionButton(DynamicItem[Button], template=r"dd:(?P<action>reroll|undo|upscale|vary):(?P<turn>\d+)"):
    """Edit actions: they run as new turns of the thread, for whoever may talk in it."""

    def __init__(self, action: str, turn_id: int) -> None:
        emoji, label = ACTION_LOOK[action]
        super().__init__(
            Button(style=ButtonStyle.secondary, emoji=emoji, label=label, custom_id=f"dd:{action}:{turn_id}")
        )
        self.action, self.turn_id = action, turn_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):
        return cls(match["action"], int(match["turn"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _bot(interaction).actions.edit_action(interaction, self.turn_id, self.action)


class DetailsButton(DynamicItem[Button], template=r"dd:details:(?P<turn>\d+)"):
    def __init__(self, turn_id: int) -> None:
        super().__init__(Button(style=ButtonStyle.secondary, emoji="ℹ️", custom_id=f"dd:details:{turn_id}"))
        self.turn_id = turn_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):
        return cls(int(match["turn"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _bot(interaction).actions.details(interaction, self.turn_id)


class CancelButton(DynamicItem[Button], template=r"dd:cancel:(?P<job>\d+)"):
    def __init__(self, job_id: int) -> None:
        super().__init__(Button(style=ButtonStyle.danger, emoji="✖", label="Cancel", custom_id=f"dd:cancel:{job_id}"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _bot(interaction).actions.cancel(interaction, self.job_id)


CHOICE_LOOK = {
    "a": ("A is better", ButtonStyle.primary),
    "b": ("B is better", ButtonStyle.primary),
    "neither": ("Neither", ButtonStyle.secondary),
}


class ChoiceButton(DynamicItem[Button], template=r"dd:ab:(?P<choice>a|b|neither):(?P<turn>\d+)"):
    def __init__(self, choice: str, turn_id: int) -> None:
        label, style = CHOICE_LOOK[choice]
        super().__init__(Button(style=style, label=label, custom_id=f"dd:ab:{choice}:{turn_id}"))
        self.choice, self.turn_id = choice, turn_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):
        return cls(match["choice"], int(match["turn"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _bot(interaction).actions.choose(interaction, self.turn_id, self.choice)


PERSISTENT_ITEMS = (VoteButton, ActionButton, DetailsButton, CancelButton, ChoiceButton)


def running_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


def result_view(turn_id: int, actions: list[str]) -> discord.ui.View:
    """👍 👎 · the answer's actions (🔁 ↩️ ⬆️ 🔀 for a picture, as ``Conversation`` says) · ℹ️"""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton("up", turn_id))
    view.add_item(VoteButton("down", turn_id))
    for action in actions:
        view.add_item(ActionButton(action, turn_id))
    view.add_item(DetailsButton(turn_id))
    return view


def choice_view(turn_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for choice in CHOICE_LOOK:
        view.add_item(ChoiceButton(choice, turn_id))
    return view


def sent(view: discord.ui.View | None) -> None:
    """Forget a view once its message is sent: the registered DynamicItems answer clicks."""
    if view is not None:
        view.stop()


class CorrectionModal(discord.ui.Modal):
    """ "Neither" -> what did you mean? Answered statelessly by custom_id (see module doc)."""

    def __init__(self, turn_id: int, intent: str, text: str, choices: list[str]) -> None:
        super().__init__(title="What did you mean?", custom_id=f"{CORRECTION_MODAL}{turn_id}", timeout=None)
        self.intent = discord.ui.TextInput(
            label="What should I have done?",
            custom_id="intent",
            default=intent,
            max_length=40,
            placeholder=", ".join(choices)[:100],
        )
        self.text = discord.ui.TextInput(
            label="Describe it",
            custom_id="text",
            style=discord.TextStyle.paragraph,
            default=text[:1000] or None,
            max_length=1000,
        )
        self.add_item(self.intent)
        self.add_item(self.text)


def submitted_values(components: list[dict[str, Any]]) -> dict[str, str]:
    """custom_id -> value of every text input in a modal submit (action rows or labels)."""
    values: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "custom_id" in node and "value" in node:
                values[node["custom_id"]] = node["value"]
            for child in node.get("components", []) or []:
                walk(child)
            if "component" in node:
                walk(node["component"])
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(components)
    return values
