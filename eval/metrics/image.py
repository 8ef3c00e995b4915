"""Image metrics of the DialogDraw benchmark: Multi-turn VQA Score (M-VQA), Multi-turn CLIP
Similarity (M-CLIP) and Instruct Edit Coherence (IEC).

A dialogue is scored as a list of ``Round``s, one per assistant answer, each with its type:

- ``"generate"``: a new image from text (text2image and friends);
- ``"edit"``: an image made from a source image (instruction edit, inpaint, img2img, ...);
- ``"describe"`` (VQA about an image) and ``"chat"``: no new image; they are not scored.

Rules (documented here and tested in tests/test_metrics_image.py):

**Merged prompt F(text_1..text_i)** (``merged_prompts``/``merge_texts``). The texts of the
image rounds (generate/edit) of the current image's lineage are merged: from the most recent
generate round up to round i (from the first round when the dialogue starts from an uploaded
image); chat and describe texts never enter it, as they say nothing about the picture. Texts
are stripped, empty ones dropped, and joined oldest first with ``"; "``. When the result is
longer than ``max_chars`` (300), whole oldest texts are dropped until it fits (the most recent
is always kept); a newest text that alone is too long is cut to its first ``max_chars``
characters (at a word boundary when there is one).

**VQAScore** (``VqaScorer``): the probability that a VQA model (BLIP) answers "yes" to
``Does this figure show '{text}'? Please answer yes or no.`` for the image: the product of the
probabilities of the answer's tokens (``tokenizer("yes")`` without special tokens, no end
token) under the answer decoder started with its decoder-start token, given the question and
image: ``exp(sum log p)``.

**M-VQA** of a dialogue: the mean VQAScore of its image rounds, each against its merged prompt.

**M-CLIP** of a dialogue (``mclip_similarity``): with e_1..e_n the L2-normalized open_clip
image embeddings of the dialogue's output images (generate/edit rounds; user uploads are not
outputs), the mean pairwise cosine ``2/(n(n-1)) sum_{i>j} cos(e_i, e_j)``; undefined (None)
when n < 2.

**IEC** (``iec_round``/``iec``): per image round, ``1*VQA + 0*CLIP`` for generate rounds and
``0.5*VQA + 0.5*CLIP`` for edit rounds, where the CLIP term of an edit round is the cosine
between the edited image and its source image (``Round.source_image``; when not given, the
output image of the closest earlier image round). An edit round with no source image at all
is weighted as a generation. Chat and describe rounds are excluded. A dialogue's IEC is the
mean over its counted rounds (None when it has none). Cosines are used as they are (not
clipped), so IEC lies in [-0.5, 1]; with real CLIP models image cosines are positive.

The scorers are injected (``score_dialogue(rounds, vqa=..., clip=...)``): anything with
``score(images, texts) -> list[float]`` and ``embed(images) -> Tensor[n, d]`` works, so the
arithmetic is testable with known probabilities and embeddings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from engine.models import ModelCache

RoundType = Literal["generate", "edit", "describe", "chat"]
ROUND_TYPES: tuple[str, ...] = ("generate", "edit", "describe", "chat")
IMAGE_ROUNDS: tuple[str, ...] = ("generate", "edit")
# IEC weights (VQA, CLIP) per counted round type
IEC_WEIGHTS: dict[str, tuple[float, float]] = {"generate": (1.0, 0.0), "edit": (0.5, 0.5)}

VQA_QUESTION = "Does this figure show '{text}'? Please answer yes or no."
VQA_ANSWER = "yes"
MERGE_SEPARATOR = "; "
MERGE_MAX_CHARS = 300


# ----------------------------------------------------------------- pure math


def _as_matrix(embeddings: Sequence[Any]):
    import numpy as np

    rows = []
    for e in embeddings:
        if hasattr(e, "detach"):  # torch.Tensor
            e = e.detach().float().cpu().numpy()
        rows.append(np.asarray(e, dtype=np.float64).reshape(-1))
    return np.stack(rows)


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity of two vectors (numpy arrays or tensors)."""
    import numpy as np

    m = _as_matrix([a, b])
    norms = np.linalg.norm(m, axis=1)
    if (norms == 0).any():
        raise ValueError("cosine of a zero vector is undefined")
    return float(m[0] @ m[1] / (norms[0] * norms[1]))


def mclip_similarity(embeddings: Sequence[Any]) -> float | None:
    """Mean cosine similarity over all unordered pairs: 2/(n(n-1)) sum_{i>j} cos(e_i, e_j).
    The embeddings need not be normalized. None when there are fewer than two."""
    import numpy as np

    if len(embeddings) < 2:
        return None
    m = _as_matrix(embeddings)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("cosine of a zero vector is undefined")
    unit = m / norms
    sims = unit @ unit.T
    n = len(m)
    lower = sims[np.tril_indices(n, k=-1)]
    return float(lower.sum() * 2.0 / (n * (n - 1)))


def merge_texts(texts: Sequence[str], max_chars: int = MERGE_MAX_CHARS) -> str:
    """Merge the texts (oldest first) into one prompt: strip, drop empty ones, join with
    ``"; "``; drop whole oldest texts while longer than ``max_chars``; cut a newest text
    that alone is too long to its first ``max_chars`` characters (at a word boundary if
    possible)."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    kept = [t.strip() for t in texts if t and t.strip()]
    if not kept:
        return ""
    while len(kept) > 1 and len(MERGE_SEPARATOR.join(kept)) > max_chars:
        kept.pop(0)
    merged = MERGE_SEPARATOR.join(kept)
    if len(merged) > max_chars:  # one text, too long on its own
        cut = merged[:max_chars]
        space = cut.rfind(" ")
        if space > 0 and merged[max_chars] != " ":
            cut = cut[:space]
        merged = cut.rstrip()
    return merged


def iec_round(kind: str, vqa: float, clip: float | None = None) -> float | None:
    """IEC of one round: generate -> 1*vqa + 0*clip; edit -> 0.5*vqa + 0.5*clip (clip is
    required); describe and chat -> None (excluded)."""
    if kind not in ROUND_TYPES:
        raise ValueError(f"unknown round type {kind!r} (known: {', '.join(ROUND_TYPES)})")
    if kind not in IEC_WEIGHTS:
        return None
    w_vqa, w_clip = IEC_WEIGHTS[kind]
    if w_clip:
        if clip is None:
            raise ValueError(f"an {kind!r} round needs the CLIP similarity to its source image")
        return w_vqa * vqa + w_clip * clip
    return w_vqa * vqa


def _mean(values: Sequence[float | None]) -> float | None:
    counted = [v for v in values if v is not None]
    return sum(counted) / len(counted) if counted else None


def iec(rounds: Sequence[tuple[str, float | None, float | None]]) -> float | None:
    """A dialogue's IEC: the mean of ``iec_round`` over its counted rounds, given as
    ``(kind, vqa, clip)`` (vqa may be None for excluded rounds). None if none is counted."""
    return _mean([iec_round(k, v, c) if k in IEC_WEIGHTS else None for k, v, c in rounds])


# ----------------------------------------------------------------- dialogues


@dataclass
class Round:
    """One assistant answer of a dialogue. ``text`` is the user's request it answers;
    ``image`` its output image (generate/edit); ``source_image`` the image an edit started
    from (default: the previous output image)."""

    type: str
    text: str = ""
    image: Image.Image | None = None
    source_image: Image.Image | None = None

    def __post_init__(self) -> None:
        if self.type not in ROUND_TYPES:
            raise ValueError(f"unknown round type {self.type!r} (known: {', '.join(ROUND_TYPES)})")
        if self.type in IMAGE_ROUNDS and self.image is None:
            raise ValueError(f"a {self.type!r} round needs its output image")


@dataclass
class RoundScores:
    type: str
    prompt: str | None = None  # the merged prompt the VQA score was taken against
    vqa: float | None = None
    clip: float | None = None  # edit rounds: cosine(output, source)
    iec: float | None = None


@dataclass
class DialogueImageScores:
    rounds: list[RoundScores] = field(default_factory=list)
    m_vqa: float | None = None
    m_clip: float | None = None
    iec: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"m_vqa": self.m_vqa, "m_clip": self.m_clip, "iec": self.iec}


def merged_prompts(rounds: Sequence[Round], max_chars: int = MERGE_MAX_CHARS) -> list[str | None]:
    """The merged prompt F(text_1..text_i) of each image round (None for chat/describe):
    image-round texts from the latest generate round up to this one."""
    prompts: list[str | None] = []
    lineage: list[str] = []
    for r in rounds:
        if r.type not in IMAGE_ROUNDS:
            prompts.append(None)
            continue
        if r.type == "generate":
            lineage = []
        lineage.append(r.text)
        prompts.append(merge_texts(lineage, max_chars))
    return prompts


class VqaModel(Protocol):
    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> list[float]: ...


class ImageEmbedder(Protocol):
    def embed(self, images: Sequence[Image.Image]) -> torch.Tensor: ...


def score_dialogue(
    rounds: Sequence[Round], vqa: VqaModel, clip: ImageEmbedder, max_chars: int = MERGE_MAX_CHARS
) -> DialogueImageScores:
    """M-VQA, M-CLIP, per-round and mean IEC of one dialogue (rules in the module doc).
    Each distinct image object is embedded once; all VQA questions go in one call."""
    prompts = merged_prompts(rounds, max_chars)
    image_idx = [i for i, r in enumerate(rounds) if r.type in IMAGE_ROUNDS]

    # source of each edit round: given, else the closest earlier output image
    sources: dict[int, Any] = {}
    last_output = None
    for i, r in enumerate(rounds):
        if r.type == "edit":
            src = r.source_image if r.source_image is not None else last_output
            if src is not None:
                sources[i] = src
        if r.type in IMAGE_ROUNDS:
            last_output = r.image

    # one embedding per distinct image object
    distinct: list[Any] = []
    slot: dict[int, int] = {}
    for img in [rounds[i].image for i in image_idx] + list(sources.values()):
        if id(img) not in slot:
            slot[id(img)] = len(distinct)
            distinct.append(img)
    emb = clip.embed(distinct) if distinct else None

    def e(img: Any):
        return emb[slot[id(img)]]

    vqa_scores = []
    if image_idx:
        vqa_scores = vqa.score([rounds[i].image for i in image_idx], [prompts[i] for i in image_idx])
    if len(vqa_scores) != len(image_idx):
        raise ValueError(f"the VQA model returned {len(vqa_scores)} scores for {len(image_idx)} images")
    by_round = dict(zip(image_idx, (float(s) for s in vqa_scores)))

    out = DialogueImageScores()
    for i, r in enumerate(rounds):
        rs = RoundScores(type=r.type, prompt=prompts[i])
        if r.type in IMAGE_ROUNDS:
            rs.vqa = by_round[i]
            if r.type == "edit" and i in sources:
                rs.clip = cosine(e(r.image), e(sources[i]))
                rs.iec = iec_round("edit", rs.vqa, rs.clip)
            else:  # generation, or an edit with no known source: weighted as a generation
                rs.iec = iec_round("generate", rs.vqa)
        out.rounds.append(rs)
    out.m_vqa = _mean([rs.vqa for rs in out.rounds])
    out.m_clip = mclip_similarity([e(rounds[i].image) for i in image_idx])
    out.iec = _mean([rs.iec for rs in out.rounds])
    return out


def aggregate(dialogues: Sequence[DialogueImageScores]) -> dict[str, float | None]:
    """Benchmark-level M-VQA, M-CLIP, IEC: means over the dialogues where each is defined."""
    return {key: _mean([d.as_dict()[key] for d in dialogues]) for key in ("m_vqa", "m_clip", "iec")}


# ----------------------------------------------------------------- model-backed scorers


class ClipEmbedder:
    """L2-normalized open_clip image embeddings."""

    def __init__(self, model: Any, preprocess: Any, device: str = "cpu", batch_size: int = 16):
        self.model = model.eval()
        self.preprocess = preprocess
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def load(cls, location: str, device: str = "cpu", **kwargs: Any) -> ClipEmbedder:
        """From an open_clip location (see ``eval.metrics.clip_model.parse_clip_location``)."""
        from eval.metrics.clip_model import load_open_clip

        model, preprocess = load_open_clip(location, device=device)
        return cls(model, preprocess, device=device, **kwargs)

    @classmethod
    def from_cache(cls, cache: ModelCache, name: str = "clip", **kwargs: Any) -> ClipEmbedder:
        """The ``[models.<name>]`` open_clip model of the config (a tiny one in profile tiny),
        loaded once per ModelCache."""
        return cache.get(("open_clip", name), lambda: cls.load(cache.location(name), cache.device, **kwargs))

    def embed(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """``[n, d]`` float32 on the CPU, each row of unit norm."""
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = torch.stack(
                    [self.preprocess(im.convert("RGB")) for im in images[start : start + self.batch_size]]
                )
                feats = self.model.encode_image(batch.to(self.device), normalize=True)
                chunks.append(feats.float().cpu())
        if not chunks:
            return torch.zeros((0, 0))
        return torch.cat(chunks)


class VqaScorer:
    """VQAScore with a BLIP question-answering model: P(answer = "yes" | image, question)."""

    def __init__(
        self, model: Any, processor: Any, question: str = VQA_QUESTION, answer: str = VQA_ANSWER, batch_size: int = 8
    ):
        self.model = model.eval()
        self.processor = processor
        self.question = question
        self.batch_size = batch_size
        answer_ids = processor.tokenizer(answer, add_special_tokens=False)["input_ids"]
        if not answer_ids:
            raise ValueError(f"the answer {answer!r} encodes to no tokens")
        self.answer_ids = list(answer_ids)

    @classmethod
    def load(cls, location: str, device: str = "cpu", **kwargs: Any) -> VqaScorer:
        """From a hub id or a local ``save_pretrained`` directory."""
        from transformers import BlipForQuestionAnswering, BlipProcessor

        model = BlipForQuestionAnswering.from_pretrained(location).to(device)
        return cls(model, BlipProcessor.from_pretrained(location), **kwargs)

    @classmethod
    def from_cache(cls, cache: ModelCache, name: str = "blip_vqa", **kwargs: Any) -> VqaScorer:
        """The ``[models.<name>]`` BLIP of the config, shared through the ModelCache (the
        same objects the vqa pipeline uses)."""
        from transformers import BlipForQuestionAnswering, BlipProcessor

        return cls(
            cache.transformers(name, BlipForQuestionAnswering), cache.transformers(name, BlipProcessor), **kwargs
        )

    def score(self, images: Sequence[Image.Image], texts: Sequence[str]) -> list[float]:
        """VQAScore of each (image, text) pair, a probability in [0, 1]."""
        if len(images) != len(texts):
            raise ValueError(f"{len(images)} images but {len(texts)} texts")
        out: list[float] = []
        for start in range(0, len(images), self.batch_size):
            out += self._score_batch(images[start : start + self.batch_size], texts[start : start + self.batch_size])
        return out

    def _score_batch(self, images: Sequence[Image.Image], texts: Sequence[str]) -> list[float]:
        import torch

        model = self.model
        device = next(model.parameters()).device
        dtype = next(model.parameters()).dtype
        questions = [self.question.format(text=t) for t in texts]
        inputs = self.processor(
            images=[im.convert("RGB") for im in images], text=questions, padding=True, return_tensors="pt"
        )
        pixel_values = inputs["pixel_values"].to(device, dtype)
        input_ids = inputs["input_ids"].to(device)
        attention_mask = inputs["attention_mask"].to(device)
        n = len(images)
        with torch.inference_mode():
            # the steps of BlipForQuestionAnswering.generate, with the answer teacher-forced
            image_embeds = model.vision_model(pixel_values=pixel_values)[0]
            image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=device)
            question_embeds = model.text_encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                encoder_hidden_states=image_embeds,
                encoder_attention_mask=image_mask,
                return_dict=False,
            )[0]
            answer = torch.tensor([self.answer_ids], dtype=torch.long, device=device).expand(n, -1)
            bos = torch.full((n, 1), model.decoder_start_token_id, dtype=torch.long, device=device)
            decoder_ids = torch.cat([bos, answer], dim=1)
            logits = model.text_decoder(
                input_ids=decoder_ids,
                encoder_hidden_states=question_embeds,
                encoder_attention_mask=attention_mask,
                return_dict=True,
            ).logits
            # logits at position t predict token t+1
            logp = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
            token_logp = logp.gather(-1, answer.unsqueeze(-1)).squeeze(-1).sum(-1)
        return [min(1.0, max(0.0, math.exp(v))) for v in token_logp.tolist()]
