"""The pipeline kinds. Importing this package registers every kind in
``engine.registry.KINDS``."""

from engine.pipelines import (  # noqa: F401
    adjust,
    chat,
    img2img,
    inpaint,
    instruct_edit,
    text2image,
    upscale,
    vqa,
)
