"""Tiny random-weight stand-ins for every model family, built locally and offline.

Each builder creates a model (or diffusers pipeline) of the real architecture with very
small dimensions, seeds its weights, and saves it with ``save_pretrained``, so that the
normal ``from_pretrained`` code path loads it like a hub checkpoint. Tests assert shapes,
types and plumbing with these models, never image quality.

``ensure_tiny(family, root)`` builds a family once under ``root/<family>``: it writes into
a temporary sibling directory and renames it into place, so an interrupted build never
leaves a directory that looks complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

from engine.cachedir import build_once

# Bump when a builder changes: cached directories of another version are rebuilt.
TINY_VERSION = "1"
# Native output size of the tiny diffusion models (pixels); UNet latents are 1/8 of it.
TINY_IMAGE_SIZE = 64

_CLIP_BOS, _CLIP_EOS = "<|startoftext|>", "<|endoftext|>"


def clip_tokenizer():
    """A CLIP BPE tokenizer over a tiny vocabulary: printable ASCII characters, each also
    as an end-of-word piece (``c</w>``), and the CLIP special tokens. No merges, so every
    word is spelled character by character."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {_CLIP_BOS: 0, _CLIP_EOS: 1}
    for code in range(33, 127):
        ch = chr(code)
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _clip_text_config(tokenizer, hidden: int = 16, projection: int = 16):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=77,
        projection_dim=projection,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _sd_components(unet_in_channels: int, seed: int):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    tokenizer = clip_tokenizer()
    _seed(seed)
    unet = UNet2DConditionModel(
        sample_size=TINY_IMAGE_SIZE // 8,
        in_channels=unet_in_channels,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    # four blocks: the same 8x downsampling factor as the real SD VAE
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 8, 8, 8),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=TINY_IMAGE_SIZE,
    )
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    # the SD 1.x noise schedule
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return dict(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_stable_diffusion(out: Path) -> None:
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(**_sd_components(4, seed=0)).save_pretrained(out)


def build_instruct_pix2pix(out: Path) -> None:
    from diffusers import StableDiffusionInstructPix2PixPipeline

    # 8 input channels: noisy latents + the encoded input image
    StableDiffusionInstructPix2PixPipeline(**_sd_components(8, seed=1)).save_pretrained(out)


def build_clipseg(out: Path) -> None:
    from transformers import (
        CLIPSegConfig,
        CLIPSegForImageSegmentation,
        CLIPSegProcessor,
        CLIPSegVisionConfig,
        ViTImageProcessor,
    )

    tokenizer = clip_tokenizer()
    vision = CLIPSegVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=4
    )
    config = CLIPSegConfig(
        text_config=_clip_text_config(tokenizer).to_dict(),
        vision_config=vision.to_dict(),
        projection_dim=16,
        extract_layers=(0, 1),
        reduce_dim=8,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=16,
    )
    _seed(2)
    CLIPSegForImageSegmentation(config).save_pretrained(out)
    image_processor = ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]
    )
    CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)


def build_swin2sr(out: Path) -> None:
    from transformers import Swin2SRConfig, Swin2SRForImageSuperResolution, Swin2SRImageProcessor

    config = Swin2SRConfig(
        image_size=32,
        patch_size=1,
        embed_dim=8,
        depths=(1,),
        num_heads=(2,),
        window_size=4,
        mlp_ratio=1.0,
        upscale=2,
        upsampler="pixelshuffle",
        drop_path_rate=0.0,
    )
    _seed(3)
    Swin2SRForImageSuperResolution(config).save_pretrained(out)
    Swin2SRImageProcessor(size_divisor=config.window_size).save_pretrained(out)


_BERT_WORDS = (
    "what is the a an of in on color colour how many there this it picture image photo "
    "yes no red green blue black white yellow cat dog sky tree person man woman one two three "
    "?"
).split()


def _blip_parts():
    """Tokenizer, config and processor of a tiny BLIP; captioning and VQA differ only in
    the head class."""
    from transformers import BertTokenizer, BlipConfig, BlipImageProcessor, BlipProcessor

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += _BERT_WORDS
    tokens += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += [str(d) for d in range(10)] + [".", ",", "!", "'"]
    tokens += ["[DEC]"]  # BLIP's decoder start token, last as in the real vocabulary
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]", model_max_length=64)
    hidden = 16
    config = BlipConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=hidden,
            encoder_hidden_size=hidden,
            intermediate_size=32,
            projection_dim=hidden,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=64,
            bos_token_id=vocab["[DEC]"],
            pad_token_id=vocab["[PAD]"],
            sep_token_id=vocab["[SEP]"],
            eos_token_id=vocab["[SEP]"],
        ),
        vision_config=dict(
            hidden_size=hidden,
            intermediate_size=32,
            projection_dim=hidden,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=hidden,
        image_text_hidden_size=hidden,
    )
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    return config, BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_blip_vqa(out: Path) -> None:
    from transformers import BlipForQuestionAnswering

    config, processor = _blip_parts()
    _seed(4)
    BlipForQuestionAnswering(config).save_pretrained(out)
    processor.save_pretrained(out)


def build_blip_caption(out: Path) -> None:
    from transformers import BlipForConditionalGeneration

    config, processor = _blip_parts()
    _seed(6)
    BlipForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)


def build_controlnet(out: Path) -> None:
    """A ControlNet that fits the tiny Stable Diffusion UNet (same blocks and cross
    attention width). Its conditioning embedding downsamples 8x, as the real one does, so
    control images have the picture's pixel size."""
    from diffusers import ControlNetModel

    _seed(7)
    ControlNetModel(
        in_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
        conditioning_embedding_out_channels=(4, 4, 8, 8),
    ).save_pretrained(out)


def build_depth_estimator(out: Path) -> None:
    """A DPT depth estimator (the architecture of Intel/dpt-large); the pipelines load it
    with ``AutoModelForDepthEstimation``, so Depth Anything checkpoints work the same way."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 8, 8, 8],
        fusion_hidden_size=8,
        reassemble_factors=[4, 2, 1, 0.5],
        head_in_index=-1,
    )
    _seed(8)
    DPTForDepthEstimation(config).save_pretrained(out)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(out)


TINY_OPEN_CLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "head_width": 8, "patch_size": 8},
        # the default open_clip tokenizer's vocabulary, so text encoding works as well
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {"size": 32},
}


def build_open_clip(out: Path) -> None:
    """A real open_clip CLIP of tiny size in open_clip's local-dir layout
    (open_clip_config.json + open_clip_model.safetensors)."""
    import open_clip
    from safetensors.torch import save_file

    (out / "open_clip_config.json").write_text(json.dumps(TINY_OPEN_CLIP_CONFIG, indent=1))
    _seed(5)
    model = open_clip.model.CLIP(**TINY_OPEN_CLIP_CONFIG["model_cfg"])
    save_file(
        {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()},
        str(out / "open_clip_model.safetensors"),
    )


BUILDERS: dict[str, Callable[[Path], None]] = {
    "stable-diffusion": build_stable_diffusion,
    "instruct-pix2pix": build_instruct_pix2pix,
    "clipseg": build_clipseg,
    "swin2sr": build_swin2sr,
    "blip-vqa": build_blip_vqa,
    "blip-caption": build_blip_caption,
    "controlnet": build_controlnet,
    "depth-estimator": build_depth_estimator,
    "open-clip": build_open_clip,
}


def ensure_tiny(family: str, root: Path) -> Path:
    """Return ``root/<family>``, building the tiny model there first if it is missing or was
    built by another version of the builders (see ``engine.cachedir.build_once``)."""
    if family not in BUILDERS:
        raise KeyError(f"no tiny builder for model family {family!r} (known: {', '.join(BUILDERS)})")
    return build_once(Path(root) / family, TINY_VERSION, BUILDERS[family], f"tiny {family} model")


def build_all(root: Path) -> dict[str, Path]:
    return {family: ensure_tiny(family, root) for family in BUILDERS}


if __name__ == "__main__":  # python -m engine.tiny_models DIR
    import sys

    logging.basicConfig(level=logging.INFO)
    print(
        json.dumps(
            {k: str(v) for k, v in build_all(Path(sys.argv[1] if len(sys.argv) > 1 else "data/tiny-models")).items()},
            indent=1,
        )
    )
