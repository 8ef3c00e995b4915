"""The pipeline kinds. Importing this package registers every kind in
``engine.registry.KINDS``; each module's docstring says what its kinds do."""

from engine.pipelines import (  # noqa: F401
    add_text,
    adjust,
    chat,
    control,
    cutout,
    describe,
    filters,
    img2img,
    inpaint,
    instruct_edit,
    outpaint,
    text2image,
    transform,
    upscale,
    vqa,
)
