"""chat: conversation that needs no image work; the intent model's response is the reply."""

from __future__ import annotations

from engine.pipelines.common import Kind
from engine.registry import Inputs, PipelineOutput, RunContext, register_kind


class ChatInputs(Inputs):
    pass


@register_kind
class Chat(Kind):
    kind = "chat"
    type = "chat"
    description = ("Just talk: greetings, thanks, questions about the bot or about drawing "
                   "that need no picture to be made, changed or looked at.")
    Inputs = ChatInputs

    def run(self, inputs: ChatInputs, ctx: RunContext) -> PipelineOutput:
        return PipelineOutput(text=None)
