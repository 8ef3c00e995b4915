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
    description = "Just talk; no picture work needed."
    example = {}
    Inputs = ChatInputs

    def run(self, inputs: ChatInputs, ctx: RunContext) -> PipelineOutput:
        return PipelineOutput(text=None)
