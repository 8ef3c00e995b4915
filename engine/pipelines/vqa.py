"""vqa: answer a question about a picture (BLIP VQA)."""

from __future__ import annotations

from pydantic import Field

from engine.pipelines.common import Kind
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind


class VqaInputs(Inputs):
    question: str = Field(min_length=1, max_length=300)
    image: ImageRef | None = None


@register_kind
class Vqa(Kind):
    kind = "vqa"
    type = "describe"
    description = "Answer a question about the picture."
    example = {"question": "what color is the ball?"}
    Inputs = VqaInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"vqa": "blip_vqa"}
    max_new_tokens = 20

    def run(self, inputs: VqaInputs, ctx: RunContext) -> PipelineOutput:
        import torch
        from transformers import BlipForQuestionAnswering, BlipProcessor

        name = self.model_name("vqa")
        model = self.models.transformers(name, BlipForQuestionAnswering)
        processor = self.models.transformers(name, BlipProcessor)
        batch = processor(images=self.image(ctx), text=inputs.question, return_tensors="pt")
        batch = {
            k: (v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device))
            for k, v in batch.items()
        }
        with torch.inference_mode():
            ids = model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False)
        ctx.progress(1, 1)
        return PipelineOutput(text=processor.decode(ids[0], skip_special_tokens=True).strip())
