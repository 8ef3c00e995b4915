"""Image metrics: M-VQA, M-CLIP, IEC — hand-computed values with known probabilities and
embeddings, then the real scorers on tiny random-weight BLIP and open_clip models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from eval.metrics.image import (
    VQA_QUESTION,
    ClipEmbedder,
    Round,
    VqaScorer,
    aggregate,
    cosine,
    iec,
    iec_round,
    mclip_similarity,
    merge_texts,
    merged_prompts,
    score_dialogue,
)

# ----------------------------------------------------------------- M-CLIP


def test_mclip_of_three_known_vectors():
    # cos(e1,e2) = 0, cos(e1,e3) = 0.6, cos(e2,e3) = 0.8 -> 2/(3*2) * 1.4 = 0.4666...
    e = [np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0.6, 0.8, 0])]
    assert mclip_similarity(e) == pytest.approx(1.4 / 3)
    # not normalized, and as tensors: the same cosines
    t = [torch.tensor([2.0, 0, 0]), torch.tensor([0, 5.0, 0]), torch.tensor([3.0, 4.0, 0])]
    assert mclip_similarity(t) == pytest.approx(1.4 / 3)


def test_mclip_pairs_and_degenerate_cases():
    assert mclip_similarity([np.array([1.0, 0])]) is None
    assert mclip_similarity([]) is None
    assert mclip_similarity([np.array([1.0, 1.0]), np.array([-2.0, -2.0])]) == pytest.approx(-1.0)
    assert mclip_similarity([np.array([1.0, 2.0])] * 4) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mclip_similarity([np.array([0.0, 0.0]), np.array([1.0, 0.0])])
    assert cosine([3.0, 4.0], [4.0, 3.0]) == pytest.approx(24 / 25)


# ----------------------------------------------------------------- merged prompt


def test_merge_texts_rule():
    merged = merge_texts(["a cat", " make it black ", "", "add a hat"])
    assert merged == "a cat; make it black; add a hat"
    assert merge_texts([]) == ""
    # too long: whole oldest texts go first, the newest stays
    assert merge_texts(["aaaa", "bbbb", "cccc"], max_chars=10) == "bbbb; cccc"
    assert merge_texts(["aaaa", "bbbb", "cccc"], max_chars=9) == "cccc"
    # the newest alone too long: its beginning, cut at a word boundary
    assert merge_texts(["old", "one two three four"], max_chars=10) == "one two"
    assert merge_texts(["abcdefghijkl"], max_chars=5) == "abcde"
    assert len(merge_texts(["word " * 200])) <= 300


def test_merged_prompts_follow_the_image_lineage():
    rounds = [
        Round("generate", "a cat", Image.new("RGB", (8, 8))),
        Round("chat", "thanks!"),
        Round("edit", "make it black", Image.new("RGB", (8, 8))),
        Round("describe", "what color is it?"),
        Round("generate", "a dog on a beach", Image.new("RGB", (8, 8))),
        Round("edit", "add a ball", Image.new("RGB", (8, 8))),
    ]
    assert merged_prompts(rounds) == [
        "a cat",
        None,
        "a cat; make it black",
        None,
        "a dog on a beach",
        "a dog on a beach; add a ball",
    ]


# ----------------------------------------------------------------- IEC


def test_iec_round_weights_by_type():
    assert iec_round("generate", 0.8) == pytest.approx(0.8)
    assert iec_round("generate", 0.8, 0.1) == pytest.approx(0.8)  # CLIP weight 0
    assert iec_round("edit", 0.6, 0.9) == pytest.approx(0.75)
    assert iec_round("chat", 0.9, 0.9) is None
    assert iec_round("describe", 0.9) is None
    with pytest.raises(ValueError):
        iec_round("edit", 0.6, None)
    with pytest.raises(ValueError):
        iec_round("paint", 0.6)


def test_iec_dialogue_mean_excludes_chat_and_describe():
    rounds = [("generate", 0.8, None), ("chat", None, None), ("edit", 0.6, 0.9), ("describe", 0.1, None)]
    assert iec(rounds) == pytest.approx((0.8 + 0.75) / 2)
    assert iec([("chat", None, None), ("describe", 0.5, None)]) is None
    assert iec([]) is None


# ----------------------------------------------------------------- score_dialogue with fakes


class FakeVqa:
    def __init__(self, probs: dict[str, float]):
        self.probs = probs
        self.calls: list[list[str]] = []

    def score(self, images, texts):
        self.calls.append(list(texts))
        return [self.probs[t] for t in texts]


class FakeClip:
    def __init__(self, vectors: dict[int, list[float]]):
        self.vectors = vectors
        self.calls = 0

    def embed(self, images):
        self.calls += 1
        return torch.tensor([self.vectors[id(im)] for im in images])


def test_score_dialogue_exact_values():
    a, b, c = (Image.new("RGB", (8, 8), col) for col in ("red", "green", "blue"))
    rounds = [
        Round("generate", "a cat on a sofa", a),
        Round("chat", "thanks!"),
        Round("edit", "make it black", b),  # source: the previous output, a
        Round("describe", "what color is it?"),
        Round("edit", "add a hat", c),  # source: b
    ]
    vqa = FakeVqa(
        {
            "a cat on a sofa": 0.8,
            "a cat on a sofa; make it black": 0.6,
            "a cat on a sofa; make it black; add a hat": 0.5,
        }
    )
    # cos(a,b) = 0.6, cos(b,c) = 0.8, cos(a,c) = 0
    clip = FakeClip({id(a): [1.0, 0, 0], id(b): [3.0, 4.0, 0], id(c): [0, 2.0, 0]})
    scores = score_dialogue(rounds, vqa=vqa, clip=clip)

    assert [r.vqa for r in scores.rounds] == [0.8, None, 0.6, None, 0.5]
    assert scores.rounds[2].clip == pytest.approx(0.6)
    assert scores.rounds[4].clip == pytest.approx(0.8)
    assert scores.rounds[0].clip is None
    iecs = [r.iec for r in scores.rounds]
    assert iecs[1] is None and iecs[3] is None
    assert iecs[0] == pytest.approx(0.8)
    assert iecs[2] == pytest.approx(0.5 * 0.6 + 0.5 * 0.6)
    assert iecs[4] == pytest.approx(0.5 * 0.5 + 0.5 * 0.8)
    assert scores.m_vqa == pytest.approx((0.8 + 0.6 + 0.5) / 3)
    assert scores.m_clip == pytest.approx((0.6 + 0.0 + 0.8) / 3)
    assert scores.iec == pytest.approx((0.8 + 0.6 + 0.65) / 3)
    assert vqa.calls == [
        ["a cat on a sofa", "a cat on a sofa; make it black", "a cat on a sofa; make it black; add a hat"]
    ]
    assert clip.calls == 1  # each distinct image embedded once, in one call


def test_score_dialogue_explicit_source_and_missing_source():
    upload, out1, out2 = (Image.new("RGB", (8, 8), col) for col in ("white", "gray", "black"))
    clip = FakeClip({id(upload): [1.0, 0], id(out1): [1.0, 1.0], id(out2): [0, 1.0]})
    # an edit of a user upload: the upload is the source, but not an output for M-CLIP
    rounds = [
        Round("edit", "make it night", out1, source_image=upload),
        Round("edit", "add stars", out2, source_image=upload),
    ]
    vqa = FakeVqa({"make it night": 0.4, "make it night; add stars": 0.2})
    s = score_dialogue(rounds, vqa=vqa, clip=clip)
    assert s.rounds[0].clip == pytest.approx(math.sqrt(0.5))
    assert s.rounds[1].clip == pytest.approx(0.0)
    assert s.m_clip == pytest.approx(math.sqrt(0.5))  # only cos(out1, out2)
    assert s.iec == pytest.approx((0.5 * 0.4 + 0.5 * math.sqrt(0.5) + 0.5 * 0.2) / 2)
    # an edit with no source image at all counts as a generation
    lone = score_dialogue([Round("edit", "make it night", out1)], vqa=vqa, clip=clip)
    assert lone.rounds[0].clip is None
    assert lone.iec == pytest.approx(0.4) and lone.m_vqa == pytest.approx(0.4)
    assert lone.m_clip is None
    # a dialogue without images: nothing is defined, no model is called
    empty = score_dialogue([Round("chat", "hi")], vqa=FakeVqa({}), clip=FakeClip({}))
    assert (empty.m_vqa, empty.m_clip, empty.iec) == (None, None, None)
    assert aggregate([s, lone, empty]) == pytest.approx(
        {"m_vqa": (s.m_vqa + 0.4) / 2, "m_clip": s.m_clip, "iec": (s.iec + 0.4) / 2}
    )


def test_round_validation():
    with pytest.raises(ValueError):
        Round("generate", "a cat")  # no image
    with pytest.raises(ValueError):
        Round("upscale", "x", Image.new("RGB", (4, 4)))


# ----------------------------------------------------------------- tiny real models


@pytest.fixture(scope="module")
def clip_embedder(tiny_root):
    from engine.tiny_models import ensure_tiny

    return ClipEmbedder.load(str(ensure_tiny("open-clip", tiny_root)))


@pytest.fixture(scope="module")
def vqa_scorer(tiny_root):
    from engine.tiny_models import ensure_tiny

    return VqaScorer.load(str(ensure_tiny("blip-vqa", tiny_root)))


def _images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)) for i in range(3)]


def test_clip_embedder_is_normalized_and_deterministic(clip_embedder):
    ims = _images()
    emb = clip_embedder.embed(ims + [ims[0]])
    assert emb.shape == (4, 16) and emb.dtype == torch.float32
    assert torch.allclose(emb.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert cosine(emb[0], emb[3]) == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(clip_embedder.embed(ims + [ims[0]]), emb)  # deterministic
    assert torch.allclose(clip_embedder.embed(ims), emb[:3], atol=1e-5)  # batch-independent
    assert -1.0 <= mclip_similarity(list(emb[:3])) <= 1.0


def test_vqa_scorer_probability_matches_the_model_loss(vqa_scorer):
    ims = _images()
    texts = ["a red cat", "a dog on a beach; make it night", "x"]
    p = vqa_scorer.score(ims, texts)
    assert len(p) == 3 and all(0.0 <= v <= 1.0 for v in p)
    assert vqa_scorer.score(ims, texts) == p  # deterministic
    assert vqa_scorer.score(ims[1:2], texts[1:2])[0] == pytest.approx(p[1], rel=1e-4)  # batching
    # cross-check with the model's own teacher-forced loss: labels [DEC] yes -> -log p(yes)
    model, proc = vqa_scorer.model, vqa_scorer.processor
    inputs = proc(images=ims[0], text=VQA_QUESTION.format(text=texts[0]), return_tensors="pt")
    assert len(vqa_scorer.answer_ids) == 1
    labels = torch.tensor([[model.decoder_start_token_id, *vqa_scorer.answer_ids]])
    with torch.no_grad():
        loss = model(**inputs, labels=labels).loss
    assert p[0] == pytest.approx(math.exp(-loss.item()), rel=1e-4)


def test_score_dialogue_with_tiny_models(clip_embedder, vqa_scorer):
    a, b, c = _images()
    rounds = [
        Round("generate", "a cat", a),
        Round("chat", "nice"),
        Round("edit", "make it black", b),
        Round("describe", "what is it?"),
        Round("edit", "add a hat", c, source_image=a),
    ]
    s1 = score_dialogue(rounds, vqa=vqa_scorer, clip=clip_embedder)
    s2 = score_dialogue(rounds, vqa=vqa_scorer, clip=clip_embedder)
    assert s1.as_dict() == s2.as_dict()
    assert 0.0 <= s1.m_vqa <= 1.0 and -1.0 <= s1.m_clip <= 1.0 and -0.5 <= s1.iec <= 1.0
    assert [r.iec is None for r in s1.rounds] == [False, True, False, True, False]
    edit = s1.rounds[2]
    assert edit.iec == pytest.approx(0.5 * edit.vqa + 0.5 * edit.clip)


def test_vqa_scorer_from_model_cache(tiny_settings):
    from engine.models import ModelCache

    scorer = VqaScorer.from_cache(ModelCache(tiny_settings))
    [p] = scorer.score([Image.new("RGB", (32, 32), "red")], ["a red cat"])
    assert 0.0 <= p <= 1.0
