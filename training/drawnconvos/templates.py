"""Per-intent templates of DrawnConvos: how a user asks for each kind, and the gold answer.

``TEMPLATES`` maps a pipeline *kind*, a built-in intent, or a configured *instance id* (for
instances of one kind that mean different things, e.g. style presets of img2img) to an
``IntentTemplate``. Adding a kind to DrawnConvos means adding one entry here. A template's
``build`` gets a ``Ctx`` (random source, split, session state, the image it should act on)
and returns a ``Request``: the user's words and the gold params. Phrasings are picked through
``ctx.phrase``, which draws only from the split's share of each list (see ``vocab.pool``) and
records the phrasing's id, so TEST uses phrasings no training dialogue contains.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

from training.drawnconvos import vocab
from training.drawnconvos.language import TYPO_TURN_RATE, fill
from training.drawnconvos.vocab import pool


@dataclass
class Image:
    """An image of the session: what it shows, as far as the dialogue says."""

    subject: str | None  # "a fluffy owl" (None: an upload nobody described)
    noun: str | None


@dataclass
class Session:
    images: list[Image] = field(default_factory=list)
    current: int | None = None
    # the current image after each change, for undo (undo pops, revert pushes)
    history: list[int] = field(default_factory=list)

    @property
    def current_image(self) -> Image | None:
        return self.images[self.current - 1] if self.current else None


@dataclass
class Request:
    text: str  # the core request, before wrappers and dressing
    params: dict[str, Any]
    response: str
    negatives: list[str] = field(default_factory=list)
    # what the new image shows (for kinds that make one); None keeps the source's subject
    result: Image | None = None


class Ctx:
    """What a template builds from: a random source bound to one split and one session."""

    def __init__(self, rng: random.Random, split: str, session: Session, key: str,
                 target: int | None = None) -> None:
        self.rng = rng
        self.split = split
        self.session = session
        self.key = key  # the template's key: names its phrasings in meta and stats
        self.list_sizes: dict[str, int] = {}
        self.target = target  # an earlier image to act on (None: the current one)
        self.templates: list[str] = []
        self.noisy = rng.random() < TYPO_TURN_RATE

    def pick(self, items: Sequence[Any]) -> Any:
        return self.rng.choice(pool(items, self.split))

    def phrase(self, group: str, phrasings: Sequence[str], **slots: str) -> str:
        return self.phrase_pair(group, phrasings, **slots)[0]

    def phrase_pair(self, group: str, phrasings: Sequence[str], **slots: str) -> tuple[str, str]:
        """One phrasing of the split's share, filled: (as the user typed it, clean)."""
        allowed = [i for i in range(len(phrasings)) if vocab.is_held_out(i) == (self.split == "test")]
        i = self.rng.choice(allowed)
        name = f"{self.key}.{group}"
        self.templates.append(f"{name}.{i}")
        self.list_sizes[name] = len(phrasings)
        return fill(phrasings[i], slots, self.rng, self.noisy), phrasings[i].format(**slots)

    def subject(self) -> tuple[str, str]:
        """A new subject ("a fluffy owl") and its noun."""
        noun = self.pick(vocab.NOUNS)
        adj = self.pick(vocab.ADJECTIVES) if self.rng.random() < 0.75 else ""
        words = f"{adj} {noun}".strip()
        return f"{'an' if words[0] in 'aeiou' else 'a'} {words}", noun

    def source(self) -> Image:
        """The image this request acts on."""
        n = self.target or self.session.current
        return self.session.images[n - 1]

    def image_param(self) -> dict[str, str]:
        return {"image": f"#{self.target}"} if self.target else {}


@dataclass(frozen=True)
class IntentTemplate:
    build: Callable[[Ctx], Request]
    needs_image: bool
    # "imperative" requests wrap as "go back to the second one and <req>"; "question" ones
    # as "in #2, <req>"; None: never aimed at an earlier image
    ref_style: Literal["imperative", "question"] | None = "imperative"
    weight: float = 1.0  # relative frequency when the session has images
    opening_weight: float = 0.0  # relative frequency as a first turn without images
    changes_image: bool = True  # the answer produces a new image


def _responses(ctx: Ctx, lines: Sequence[str], **slots: str) -> str:
    return ctx.pick(lines).format(**slots)


def _negatives(ctx: Ctx) -> list[str]:
    r = ctx.rng.random()
    if r < 0.25:
        return [ctx.pick(vocab.NEGATIVES)]
    if r < 0.32:
        first, second = ctx.rng.sample(pool(vocab.NEGATIVES, ctx.split), 2)
        return [first, second]
    return []


NEG_ONE = [
    "{req}, no {neg}", "{req} without {neg}", "{req}. please don't include {neg}", "{req} but no {neg}",
    "{req}, and no {neg} please", "{req} - avoid {neg}", "{req}, leave out the {neg}",
    "{req} with absolutely no {neg}", "{req}; I don't want any {neg}", "{req}, exclude {neg}",
]
NEG_TWO = [
    "{req}, no {neg} and no {neg2}", "{req} without {neg} or {neg2}",
    "{req}. no {neg}, no {neg2}", "{req} but leave out {neg} and {neg2}",
    "{req}, avoid {neg} and {neg2}", "{req} - I don't want {neg} or {neg2} in it",
]


def _with_negatives(ctx: Ctx, req: str, negatives: list[str]) -> str:
    if not negatives:
        return req
    if len(negatives) == 1:
        return ctx.phrase("neg1", NEG_ONE, req=req, neg=negatives[0])
    return ctx.phrase("neg2", NEG_TWO, req=req, neg=negatives[0], neg2=negatives[1])


# ----- text2image -----

T2I = [
    "draw {desc}", "can you paint {desc}?", "I'd like a picture of {desc}", "{desc}",
    "generate an image of {desc}", "make me {desc}", "show me {desc}", "create {desc}",
    "could you please draw {desc}?", "new picture: {desc}", "I want to see {desc}",
    "illustrate {desc}", "picture {desc} for me", "render {desc}", "sketch out {desc}",
    "how about {desc}?", "now draw {desc}", "let's do a new one: {desc}", "give me {desc}",
    "can i get {desc}", "paint me {desc}", "imagine {desc}", "design {desc}",
    "would love an image of {desc}", "draw me {desc} pls",
]
T2I_SIZE = [("wide format", 768, 512), ("landscape orientation", 768, 512), ("portrait format", 512, 768),
            ("as a tall phone wallpaper", 512, 896), ("square", 512, 512), ("1024x1024", 1024, 1024)]
DESC_STYLE = ["{subject}{setting}, {style}", "{subject}{setting} in {style}", "{style} of {subject}{setting}",
              "{subject}{setting} as {style}", "{subject}{setting}, {style} look"]
T2I_RESPONSES = ["Here is {subject}.", "Drawing {subject} for you.", "Here you go: {subject}.",
                 "Coming right up: {subject}.", "Painting {subject} now.", "One {noun} picture, on its way.",
                 "Here's my take on {subject}."]


def _desc(ctx: Ctx) -> tuple[str, str, str]:
    subject, noun = ctx.subject()
    setting = " " + ctx.pick(vocab.SETTINGS) if ctx.rng.random() < 0.55 else ""
    if ctx.rng.random() < 0.45:
        desc = ctx.phrase("desc", DESC_STYLE, subject=subject, setting=setting, style=ctx.pick(vocab.STYLES))
        desc = desc.strip()
    else:
        desc = subject + setting
    return desc, subject, noun


def text2image(ctx: Ctx) -> Request:
    desc, subject, noun = _desc(ctx)
    negatives = _negatives(ctx)
    params: dict[str, Any] = {"prompt": desc}
    if negatives:
        params["negative_prompt"] = ", ".join(negatives)
    text = _with_negatives(ctx, ctx.phrase("ask", T2I, desc=desc), negatives)
    if ctx.rng.random() < 0.08:
        words, w, h = ctx.pick(T2I_SIZE)
        text = f"{text}, {words}"
        params.update(width=w, height=h)
    return Request(text, params, _responses(ctx, T2I_RESPONSES, subject=subject, noun=noun),
                   negatives, Image(subject, noun))


# ----- img2img (restyle the whole picture) -----

I2I = [
    "turn it into {style}", "redo it as {style}", "make a {style} version", "restyle it as {style}",
    "can you make this {style}?", "I want it in {style}", "{style} version please",
    "convert it to {style}", "redraw it in {style}", "same thing but {style}",
    "try it as {style}", "make it look like {style}", "reimagine it as {style}",
    "do it in {style}", "switch the style to {style}",
]
I2I_STRENGTH = [("just slightly", 0.3), ("subtly", 0.3), ("keep it close to the original", 0.35),
                ("go wild with it", 0.85), ("completely", 0.9), ("a lot", 0.8)]
I2I_RESPONSES = ["Restyled as {style}.", "Here it is in {style}.", "A {style} take on it.",
                 "Redrawn as {style}.", "Trying {style}."]


def img2img(ctx: Ctx) -> Request:
    style = ctx.pick(vocab.STYLES)
    src = ctx.source()
    params: dict[str, Any] = {"prompt": f"{src.subject}, {style}" if src.subject else style}
    negatives = _negatives(ctx) if ctx.rng.random() < 0.5 else []
    if negatives:
        params["negative_prompt"] = ", ".join(negatives)
    params |= ctx.image_param()
    text = ctx.phrase("ask", I2I, style=style)
    if ctx.rng.random() < 0.2:
        words, strength = ctx.pick(I2I_STRENGTH)
        text = f"{text}, {words}"
        params["strength"] = strength
    text = _with_negatives(ctx, text, negatives)
    return Request(text, params, _responses(ctx, I2I_RESPONSES, style=style), negatives,
                   Image(params["prompt"], src.noun))


# ----- instruct_edit -----

EDIT_COLOR = ["make the {part} {color}", "change the {part} to {color}", "turn the {part} {color}",
              "color the {part} {color}", "paint the {part} {color}", "recolor the {part} {color}"]
EDIT_ADD = ["add {thing}", "put {thing} in it", "add {thing} to the scene", "include {thing}",
            "give it {thing}", "throw in {thing}"]
EDIT_REMOVE = ["remove {thing}", "get rid of {thing}", "take out {thing}", "erase {thing}", "delete {thing}"]
EDIT_ASK = ["{edit}", "can you {edit}?", "please {edit}", "now {edit}", "{edit} pls",
            "could you {edit}", "let's {edit}", "I'd like you to {edit}", "ok now {edit}",
            "next, {edit}", "hmm, {edit}", "{edit} instead", "maybe {edit}?", "go ahead and {edit}",
            "{edit}, that would look cool"]
EDIT_RESPONSES = ["Done: {edit}.", "Okay, I'll {edit}.", "Editing it now.", "Sure, applying that edit.",
                  "Here is the edited picture.", "Changed it for you."]


def instruct_edit(ctx: Ctx) -> Request:
    # the instruction is the clean edit; typos stay in the user's words only
    r = ctx.rng.random()
    if r < 0.35:
        edit, clean = ctx.phrase_pair("color", EDIT_COLOR, part=ctx.pick(vocab.PARTS), color=ctx.pick(vocab.COLORS))
    elif r < 0.6:
        edit, clean = ctx.phrase_pair("add", EDIT_ADD, thing=ctx.pick(vocab.ADDITIONS))
    elif r < 0.75:
        edit, clean = ctx.phrase_pair("remove", EDIT_REMOVE, thing=ctx.pick(vocab.REMOVALS))
    else:
        edit = clean = ctx.pick(vocab.TRANSFORMS)
    params = {"instruction": clean} | ctx.image_param()
    text = ctx.phrase("ask", EDIT_ASK, edit=edit)
    return Request(text, params, _responses(ctx, EDIT_RESPONSES, edit=clean))


# ----- inpaint -----

INPAINT = ["replace {target} with {new}", "swap {target} for {new}", "put {new} where {target} is",
           "replace {target} by {new}", "swap out {target} and put in {new}",
           "exchange {target} for {new}", "{target} should be {new} instead",
           "can you replace {target} with {new}?", "i want {new} in place of {target}",
           "substitute {new} for {target}"]
INPAINT_RESPONSES = ["Replacing {target} with {new}.", "Swapped {target} for {new}.",
                     "Here it is with {new}.", "{new} instead of {target}, done."]


def inpaint(ctx: Ctx) -> Request:
    src = ctx.source()
    obj = src.noun if src.noun and ctx.rng.random() < 0.6 else ctx.pick(vocab.NOUNS)
    target = f"the {obj}"
    new, noun = ctx.subject()
    params = {"target": target, "prompt": new} | ctx.image_param()
    text = ctx.phrase("ask", INPAINT, target=target, new=new)
    subject = (src.subject or "the picture").replace(obj, noun) if src.subject else None
    return Request(text, params, _responses(ctx, INPAINT_RESPONSES, target=target, new=new),
                   result=Image(subject, src.noun))


# ----- upscale -----

UPSCALE = ["upscale it", "make it bigger", "can I get a higher resolution version?", "enlarge it",
           "increase the resolution", "it's too small, blow it up", "hd version please",
           "super-resolution please", "upscale this", "make it larger and sharper",
           "higher res please", "can you upsize it", "I need it bigger for printing",
           "bump up the resolution", "make a high-res copy"]
UPSCALE_FACTOR = [(" 4x", 4), (" four times", 4), (" by 4", 4), (" 2x", 2), (" double size", 2), (" x2", 2)]
UPSCALE_RESPONSES = ["Upscaling it now.", "Here's a bigger version.", "Enlarged.", "Higher resolution coming up."]


def upscale(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", UPSCALE)
    params: dict[str, Any] = dict(ctx.image_param())
    if ctx.rng.random() < 0.35:
        words, scale = ctx.pick(UPSCALE_FACTOR)
        text += words
        params["scale"] = scale
    return Request(text, params, ctx.pick(UPSCALE_RESPONSES))


# ----- adjust -----

ADJUST_WORDS = {
    # property: [(phrase, sign)]
    "brightness": [("brighter", 1), ("darker", -1), ("lighter", 1), ("dimmer", -1), ("brighten", 1),
                   ("darken", -1), ("more exposure", 1), ("less bright", -1)],
    "contrast": [("more contrast", 1), ("less contrast", -1), ("punchier", 1), ("flatter", -1),
                 ("higher contrast", 1), ("lower contrast", -1)],
    "saturation": [("more saturated", 1), ("less saturated", -1), ("more vivid", 1), ("more muted", -1),
                   ("more colorful", 1), ("desaturated", -1), ("washed out", -1), ("richer colors", 1)],
    "hue": [("hue shifted", 1), ("hue rotated", 1), ("hue shifted the other way", -1),
            ("warmer in hue", 1), ("cooler in hue", -1)],
    "sharpness": [("sharper", 1), ("softer", -1), ("crisper", 1), ("blurrier", -1), ("more detailed", 1)],
}
ADJUST_AMOUNT = [("", 0.3), ("a bit ", 0.15), ("slightly ", 0.15), ("a little ", 0.15),
                 ("much ", 0.6), ("way ", 0.6), ("a lot ", 0.6), ("somewhat ", 0.3), ("really ", 0.6),
                 ("a touch ", 0.15)]
ADJUST = ["make it {amount}{word}", "{amount}{word} please", "can you make it {amount}{word}?",
          "I'd like it {amount}{word}", "it should be {amount}{word}", "make the image {amount}{word}",
          "could it be {amount}{word}", "needs to be {amount}{word}", "{amount}{word}",
          "go {amount}{word}"]
ADJUST_REGION = ["make {region} {amount}{word}", "{region} should be {amount}{word}",
                 "can you make {region} {amount}{word}?", "only {region}: {amount}{word}",
                 "{amount}{word} on {region} only", "just {region}, {amount}{word}"]
BW = ["make it black and white", "black and white please", "convert it to grayscale",
      "remove all the color", "make it monochrome", "greyscale it"]
ADJUST_RESPONSES = ["Adjusting the {prop}.", "Tweaked the {prop}.", "Here it is with adjusted {prop}.",
                    "Changed the {prop} a little."]


def adjust(ctx: Ctx) -> Request:
    params: dict[str, Any]
    if ctx.rng.random() < 0.1:
        text = ctx.phrase("bw", BW)
        params = {"property": "saturation", "amount": -1.0}
    else:
        prop = ctx.rng.choice(sorted(ADJUST_WORDS))
        word, sign = ctx.pick(ADJUST_WORDS[prop])
        amount_words, size = ctx.pick(ADJUST_AMOUNT)
        params = {"property": prop, "amount": sign * size}
        if ctx.rng.random() < 0.25:
            region = f"the {ctx.pick(vocab.PARTS)}"
            text = ctx.phrase("region", ADJUST_REGION, region=region, amount=amount_words, word=word)
            params["region"] = region
        else:
            text = ctx.phrase("ask", ADJUST, amount=amount_words, word=word)
    params |= ctx.image_param()
    return Request(text, params, _responses(ctx, ADJUST_RESPONSES, prop=params["property"]))


# ----- vqa -----

VQA = ["{q}?", "can you tell me {q}?", "quick question: {q}?", "{q}", "I wonder, {q}?",
       "tell me {q}", "do you know {q}?", "{q}? just curious", "question - {q}?", "hey, {q}?"]
VQA_RESPONSES = ["Let me look.", "Let me check the picture.", "Looking at it now.", "Good question, checking."]


def vqa(ctx: Ctx) -> Request:
    src = ctx.source()
    q = ctx.pick(vocab.QUESTIONS).format(part=ctx.pick(vocab.PARTS), noun=src.noun or ctx.pick(vocab.NOUNS))
    params = {"question": q + "?"} | ctx.image_param()
    return Request(ctx.phrase("ask", VQA, q=q), params, ctx.pick(VQA_RESPONSES))


# ----- chat -----

CHAT = [
    ("hi there!", "Hello! What shall we draw?"), ("thanks, that's lovely", "Glad you like it!"),
    ("what can you do?", "I can draw new pictures, edit them, and answer questions about them."),
    ("who are you?", "I'm DialogDraw, a drawing bot. Tell me what to draw!"),
    ("haha nice", "Thanks! Want to change anything?"), ("perfect, thank you!", "You're welcome!"),
    ("how do I get better results?", "Describe the subject, the setting and a style."),
    ("good morning", "Good morning! What are we drawing today?"), ("wow", "Glad it worked out!"),
    ("that's amazing", "Thank you! Anything else?"), ("lol", "Happy to amuse. What next?"),
    ("are you an AI?", "Yes, I'm a bot that draws and edits pictures."),
    ("can you help me?", "Of course! Tell me what you'd like to see."),
    ("I love it", "Great! Tell me if you want more."), ("bye!", "Bye! Come back any time."),
    ("what styles do you know?", "Lots: watercolor, pixel art, oil painting, anime and more."),
    ("you're fast", "Thanks! What's next?"), ("hello bot", "Hi! What would you like me to draw?"),
    ("nice work", "Thank you!"), ("ok cool", "Anything else you'd like?"),
    ("how does this work?", "Describe a picture and I'll draw it; then ask for changes."),
    ("is this free?", "Yes, just ask for a picture."), ("cute!", "Glad you like it!"),
    ("what's your name?", "I'm DialogDraw."), ("that's not bad at all", "Thanks! Want any changes?"),
]


def chat(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", [c[0] for c in CHAT])
    picked = int(ctx.templates[-1].rsplit(".", 1)[1])
    return Request(text, {}, CHAT[picked][1])


# ----- built-ins: clarify, undo, revert -----

CLARIFY_EDIT = ["change it to something else", "make it better", "hmm, fix it", "do something different with it",
                "can you change it", "not quite, try again differently", "I don't like it", "make it nicer",
                "change something", "make it more interesting", "it needs something", "edit it somehow",
                "tweak it", "it's not right", "make it pop"]
CLARIFY_NEW = ["draw something", "make me a picture", "can you draw?", "I want an image", "make art",
               "draw a thing", "create something for me", "picture please", "make an image", "I need a drawing"]
CLARIFY_EDIT_RESPONSES = ["What would you like me to change: the colors, the style, or something in the scene?",
                          "Sure! What exactly should I change?", "Which part should change, and how?",
                          "Happy to. What should be different?"]
CLARIFY_NEW_RESPONSES = ["What would you like me to draw?", "Sure! What should the picture show?",
                         "Of course. What subject and style do you have in mind?"]


def clarify(ctx: Ctx) -> Request:
    if ctx.session.current is not None and ctx.rng.random() < 0.75:
        return Request(ctx.phrase("edit", CLARIFY_EDIT), {}, ctx.pick(CLARIFY_EDIT_RESPONSES))
    return Request(ctx.phrase("new", CLARIFY_NEW), {}, ctx.pick(CLARIFY_NEW_RESPONSES))


UNDO = ["undo", "undo that", "undo the last change", "go back one step", "revert that", "take that back",
        "I liked it better before", "ctrl+z", "that's worse, undo it", "cancel the last edit",
        "back to how it was", "nope, undo", "put it back the way it was", "step back", "undo please"]
UNDO_RESPONSES = ["Undone.", "Back to the previous version.", "Okay, reverted the last change."]


def undo(ctx: Ctx) -> Request:
    return Request(ctx.phrase("ask", UNDO), {}, ctx.pick(UNDO_RESPONSES))


REVERT = ["go back to #{k}", "go back to the {ord} one", "restore image #{k}", "I want the {ord} picture back",
          "let's return to #{k}", "switch back to the {ord} version", "use #{k} again",
          "bring back the {ord} image", "return to image {k}", "revert to the {ord} one"]
REVERT_ORIGINAL = ["the original was better, bring it back", "go back to the original", "restore the original"]
REVERT_RESPONSES = ["Back to #{k}.", "Image #{k} is current again.", "Returning to #{k}."]


def revert(ctx: Ctx) -> Request:
    k = ctx.target or 1
    if k == 1 and ctx.rng.random() < 0.3:
        text = ctx.phrase("original", REVERT_ORIGINAL)
    else:
        text = ctx.phrase("ask", REVERT, k=str(k), ord=vocab.ORDINALS.get(k, f"#{k}"))
    return Request(text, {"image": f"#{k}"}, _responses(ctx, REVERT_RESPONSES, k=str(k)))


TEMPLATES: dict[str, IntentTemplate] = {
    "text2image": IntentTemplate(text2image, needs_image=False, ref_style=None, weight=1.5, opening_weight=6.0),
    "img2img": IntentTemplate(img2img, needs_image=True, weight=1.2),
    "instruct_edit": IntentTemplate(instruct_edit, needs_image=True, weight=2.0),
    "inpaint": IntentTemplate(inpaint, needs_image=True, weight=1.0),
    "upscale": IntentTemplate(upscale, needs_image=True, weight=0.6),
    "adjust": IntentTemplate(adjust, needs_image=True, weight=1.0),
    "vqa": IntentTemplate(vqa, needs_image=True, ref_style="question", weight=1.0, changes_image=False),
    "chat": IntentTemplate(chat, needs_image=False, ref_style=None, weight=0.6, opening_weight=1.0,
                           changes_image=False),
    "clarify": IntentTemplate(clarify, needs_image=False, ref_style=None, weight=0.5, opening_weight=0.6,
                              changes_image=False),
    "undo": IntentTemplate(undo, needs_image=True, ref_style=None, weight=1.0, changes_image=False),
    "revert": IntentTemplate(revert, needs_image=True, ref_style=None, weight=0.9, changes_image=False),
}


def template_for(intent: str, kind: str | None) -> IntentTemplate | None:
    """The template of an intent: by instance id first (presets), then by kind."""
    return TEMPLATES.get(intent) or (TEMPLATES.get(kind) if kind else None)
