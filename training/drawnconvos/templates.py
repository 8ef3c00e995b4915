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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.session import ImageState
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
    """The dialogue's images (what each shows) and their numbering, current image and undo
    history, which follow the bot's own rules (``engine.session``)."""

    images: list[Image] = field(default_factory=list)
    state: ImageState = field(default_factory=ImageState)

    @property
    def current(self) -> int | None:
        return self.state.current

    @property
    def current_image(self) -> Image | None:
        return self.images[self.current - 1] if self.current else None

    def add(self, image: Image) -> int:
        """A new image (an upload or an output) becomes the current one; its number."""
        self.images.append(image)
        self.state, (number,) = self.state.add(1)
        return number


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

    def __init__(
        self,
        rng: random.Random,
        split: str,
        session: Session,
        key: str,
        target: int | None = None,
        offered: frozenset[str] = frozenset(),
    ) -> None:
        self.rng = rng
        self.split = split
        self.session = session
        self.key = key  # the template's key: names its phrasings in the turns and stats
        self.list_sizes: dict[str, int] = {}
        self.target = target  # an earlier image to act on (None: the current one)
        # the intents this run generates: a request has one right intent only among those
        # offered (an "anime" restyle goes to the anime preset where there is one)
        self.offered = offered
        self.templates: list[str] = []
        self.noisy = rng.random() < TYPO_TURN_RATE

    def pick(self, items: Sequence[Any]) -> Any:
        return self.rng.choice(pool(items, self.split))

    def picked(self) -> int:
        """Index of the phrasing the last ``phrase`` call chose."""
        return int(self.templates[-1].rsplit(".", 1)[1])

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
    # share of requests that come with an upload once the session has images (None: the
    # generator's default); 1.0 for kinds whose input is naturally the user's own picture
    attach_rate: float | None = None
    # relative share of this intent among first turns that come with an upload
    opening_upload: float = 1.0
    min_images: int = 1  # images the session needs before this request makes sense
    # wrappers for an uploaded image ("here's my doodle. {req}"); None: the generator's
    attach_phrasings: Sequence[str] | None = None


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
    "{req}, no {neg}",
    "{req} without {neg}",
    "{req}. please don't include {neg}",
    "{req} but no {neg}",
    "{req}, and no {neg} please",
    "{req} - avoid {neg}",
    "{req}, leave out the {neg}",
    "{req} with absolutely no {neg}",
    "{req}; I don't want any {neg}",
    "{req}, exclude {neg}",
    "{req}, skip the {neg}",
    "{req}, keep {neg} out of it",
    "{req}, and make sure there's no {neg}",
    "{req}, minus any {neg}",
]
NEG_TWO = [
    "{req}, no {neg} and no {neg2}",
    "{req} without {neg} or {neg2}",
    "{req}. no {neg}, no {neg2}",
    "{req} but leave out {neg} and {neg2}",
    "{req}, avoid {neg} and {neg2}",
    "{req} - I don't want {neg} or {neg2} in it",
    "{req}, skip {neg} and {neg2}",
    "{req}, nothing with {neg} or {neg2}",
    "{req} minus {neg} and {neg2}",
]


def _with_negatives(ctx: Ctx, req: str, negatives: list[str]) -> str:
    if not negatives:
        return req
    if len(negatives) == 1:
        return ctx.phrase("neg1", NEG_ONE, req=req, neg=negatives[0])
    return ctx.phrase("neg2", NEG_TWO, req=req, neg=negatives[0], neg2=negatives[1])


# ----- text2image -----

T2I = [
    "draw {desc}",
    "can you paint {desc}?",
    "I'd like a picture of {desc}",
    "{desc}",
    "generate an image of {desc}",
    "make me {desc}",
    "show me {desc}",
    "create {desc}",
    "could you please draw {desc}?",
    "new picture: {desc}",
    "I want to see {desc}",
    "illustrate {desc}",
    "picture {desc} for me",
    "render {desc}",
    "sketch out {desc}",
    "how about {desc}?",
    "now draw {desc}",
    "let's do a new one: {desc}",
    "give me {desc}",
    "can i get {desc}",
    "paint me {desc}",
    "imagine {desc}",
    "design {desc}",
    "would love an image of {desc}",
    "draw me {desc} pls",
    "create an image of {desc}",
    "can you create {desc}?",
    "design me {desc}",
    "please create a picture of {desc}",
    "design an image of {desc}",
    "generate {desc}",
    "I'd like an image of {desc}",
    "could you make a picture of {desc}?",
    "make a picture of {desc}",
    "create a new image: {desc}",
    "draw up {desc}",
    "can you design {desc} for me?",
    "whip up {desc}",
    "come up with a picture of {desc}",
    "I need a picture of {desc}",
    "yo, draw {desc}",
    "i wanna see {desc}",
    "{desc}, please",
    "paint a picture of {desc}",
    "produce an image of {desc}",
    "quick one: {desc}",
    "could you render {desc}?",
    "visualize {desc} for me",
    "art of {desc} pls",
    "I'm picturing {desc}, can you draw that?",
]
T2I_SIZE = [
    ("wide format", 768, 512),
    ("landscape orientation", 768, 512),
    ("portrait format", 512, 768),
    ("as a tall phone wallpaper", 512, 896),
    ("square", 512, 512),
    ("1024x1024", 1024, 1024),
]
DESC_STYLE = [
    "{subject}{setting}, {style}",
    "{subject}{setting} in {style}",
    "{style} of {subject}{setting}",
    "{subject}{setting} as {style}",
    "{subject}{setting}, {style} look",
]
T2I_RESPONSES = [
    "Here is {subject}.",
    "Drawing {subject} for you.",
    "Here you go: {subject}.",
    "Coming right up: {subject}.",
    "Painting {subject} now.",
    "One {noun} picture, on its way.",
    "Here's my take on {subject}.",
]


def _desc(ctx: Ctx, style_rate: float = 0.45) -> tuple[str, str, str]:
    subject, noun = ctx.subject()
    setting = " " + ctx.pick(vocab.SETTINGS) if ctx.rng.random() < 0.55 else ""
    if ctx.rng.random() < style_rate:
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
    return Request(
        text, params, _responses(ctx, T2I_RESPONSES, subject=subject, noun=noun), negatives, Image(subject, noun)
    )


# ----- img2img and its style presets (restyle the whole picture) -----

I2I = [
    "turn it into {style}",
    "redo it as {style}",
    "make a {style} version",
    "restyle it as {style}",
    "can you make this {style}?",
    "I want it in {style}",
    "{style} version please",
    "convert it to {style}",
    "redraw it in {style}",
    "same thing but {style}",
    "try it as {style}",
    "make it look like {style}",
    "reimagine it as {style}",
    "do it in {style}",
    "switch the style to {style}",
    "give it a {style} look",
    "restyle this in {style}",
    "could you redo this picture in {style}?",
    "{style} please",
    "change the art style to {style}",
    "convert this to {style}",
    "can you convert it into {style}?",
    "reimagine this in {style}",
    "reinterpret it as {style}",
    "transform it into {style}",
    "recreate it in {style}",
    "render it as {style}",
    "rework it in {style}",
    "could you reimagine the picture as {style}?",
    "redo this image as {style}",
    "give me this in {style}",
    "recast it in {style}",
    "show it as {style}",
    "can I see this as {style}?",
    "let's see it as {style}",
    "redo the whole picture as {style}",
    "make this one {style}",
    "restyle: {style}",
    "could you turn this picture into {style}?",
    "I'd love to see this done as {style}",
    "give the whole image the {style} treatment",
    "what would this look like as {style}? show me",
]
I2I_STRENGTH = [
    ("just slightly", 0.3),
    ("subtly", 0.3),
    ("keep it close to the original", 0.35),
    ("go wild with it", 0.85),
    ("completely", 0.9),
    ("a lot", 0.8),
    ("only a little", 0.25),
    ("don't change it too much", 0.35),
    ("strongly", 0.8),
    ("barely", 0.2),
]
I2I_RESPONSES = [
    "Restyled as {style}.",
    "Here it is in {style}.",
    "A {style} take on it.",
    "Redrawn as {style}.",
    "Trying {style}.",
]

# Style words a configured preset answers for, by instance id. The same I2I phrasings carry
# them, so the style word alone decides between a preset and plain img2img: a 135M model
# must see that "anime" always means style_anime when that preset exists.
STYLE_PRESETS: dict[str, tuple[str, list[str]]] = {
    # id: (words that mark the style in any phrasing, what users call it)
    "style_anime": (
        r"anime|manga|ghibli",
        [
            "anime",
            "anime style",
            "manga style",
            "cel-shaded anime",
            "studio ghibli style",
            "japanese anime style",
            "anime art",
            "anime illustration",
            "an anime drawing",
            "90s anime style",
        ],
    ),
    "style_watercolor": (
        r"watercol|aquarel|acuarela",
        [
            "watercolor",
            "watercolour",
            "a watercolor painting",
            "aquarelle",
            "acuarela",
            "soft watercolor",
            "watercolor style",
            "a watercolour painting",
            "loose watercolor washes",
            "watercolors",
        ],
    ),
    "style_sketch": (
        r"sketch|pencil|graphite|charcoal",
        [
            "a pencil sketch",
            "a sketch",
            "a pencil drawing",
            "a graphite sketch",
            "a charcoal sketch",
            "a rough sketch",
            "a hand-drawn sketch",
            "sketch style",
            "pencil art",
            "a quick sketch",
        ],
    ),
}
PRESET_RESPONSES = [
    "Here it is as {name}.",
    "Restyled as {name}.",
    "A {name} version, coming up.",
    "Redrawing it as {name}.",
]


def _strength(ctx: Ctx, text: str, params: dict[str, Any]) -> str:
    if ctx.rng.random() < 0.2:
        words, strength = ctx.pick(I2I_STRENGTH)
        params["strength"] = strength
        return f"{text}, {words}"
    return text


def img2img(ctx: Ctx) -> Request:
    taken = "|".join(cue for i, (cue, _) in STYLE_PRESETS.items() if i in ctx.offered)
    styles = [s for s in pool(vocab.STYLES, ctx.split) if not (taken and re.search(taken, s))]
    style = ctx.rng.choice(styles)
    src = ctx.source()
    params: dict[str, Any] = {"style": style}
    negatives = _negatives(ctx) if ctx.rng.random() < 0.3 else []
    if negatives:
        params["negative_prompt"] = ", ".join(negatives)
    params |= ctx.image_param()
    text = _strength(ctx, ctx.phrase("ask", I2I, style=style), params)
    text = _with_negatives(ctx, text, negatives)
    subject = f"{src.subject}, {style}" if src.subject else None
    return Request(text, params, _responses(ctx, I2I_RESPONSES, style=style), negatives, Image(subject, src.noun))


def preset(instance: str) -> Callable[[Ctx], Request]:
    """The template of a style preset: an img2img instance whose config sets the style, so
    the gold answer names the instance and leaves the style out."""
    _, names = STYLE_PRESETS[instance]

    def build(ctx: Ctx) -> Request:
        name = ctx.pick(names)
        src = ctx.source()
        params: dict[str, Any] = dict(ctx.image_param())
        text = _strength(ctx, ctx.phrase("ask", I2I, style=name), params)
        subject = f"{src.subject}, {name}" if src.subject else None
        return Request(text, params, _responses(ctx, PRESET_RESPONSES, name=name), result=Image(subject, src.noun))

    return build


# ----- instruct_edit: free-form instructions that no dedicated kind covers -----

EDIT_ADD = [
    "add {thing}",
    "put {thing} in it",
    "add {thing} to the scene",
    "include {thing}",
    "give it {thing}",
    "throw in {thing}",
    "can we have {thing} in there",
    "add some {thing}",
    "add {thing} to the picture",
    "put {thing} in the picture",
    "place {thing} in the scene",
    "stick {thing} in there",
    "drop {thing} into the scene",
    "insert {thing}",
    "slip {thing} into the picture",
    "also add {thing}",
    "add {thing} somewhere",
    "put {thing} into the image",
    "add {thing} in there",
    "draw {thing} into the picture",
    "include {thing} in the scene",
    "add in {thing}",
    "put {thing} somewhere in the scene",
    "sneak {thing} into the picture",
    "draw in {thing}",
    "give the scene {thing}",
]
EDIT_FREE = [
    "make the {noun} smile",
    "make the {noun} look surprised",
    "make the {noun} jump",
    "make the {noun} look happier",
    "make the {noun} sleep",
    "make the {noun} wave",
    "make the {noun} look wet",
    "have the {noun} look at the camera",
    "make the {noun} laugh",
    "make the {noun} look angry",
    "make the {noun} run",
    "have the {noun} sit down",
    "make the {noun} look sad",
    "make the {noun} dance",
    "have the {noun} turn around",
    "make the {noun} look scared",
    "make the {noun} close its eyes",
    "make the {noun} fly",
    "make the {noun} look tired",
    "have the {noun} wink",
    "make the {noun} stand up",
    "have the {noun} lie down",
    "have the {noun} take a bow",
]
EDIT_ASK = [
    "{edit}",
    "can you {edit}?",
    "please {edit}",
    "now {edit}",
    "{edit} pls",
    "could you {edit}",
    "let's {edit}",
    "I'd like you to {edit}",
    "ok now {edit}",
    "next, {edit}",
    "hmm, {edit}",
    "{edit} instead",
    "maybe {edit}?",
    "go ahead and {edit}",
    "{edit}, that would look cool",
    "maybe we could {edit}?",
    "perhaps {edit}?",
    "how about you {edit}",
    "what if you {edit}?",
    "{edit}?",
    "try to {edit}",
    "can we {edit}?",
    "would you {edit}?",
    "ok, {edit} please",
    "one more thing: {edit}",
    "I think you should {edit}",
    "{edit} if you can",
    "would you {edit} for me?",
    "{edit}, thanks",
    "pls {edit}",
    "could you please {edit}?",
    "I want you to {edit}",
    "is it possible to {edit}?",
    "quick edit: {edit}",
    "alright, {edit}",
    "let's try and {edit}",
    "{edit}, if that's ok",
]
EDIT_RESPONSES = [
    "Done: {edit}.",
    "Okay, I'll {edit}.",
    "Editing it now.",
    "Sure, applying that edit.",
    "Here is the edited picture.",
    "Changed it for you.",
]


def instruct_edit(ctx: Ctx) -> Request:
    # the instruction is the clean edit; typos stay in the user's words only
    r = ctx.rng.random()
    if r < 0.4:
        edit, clean = ctx.phrase_pair("add", EDIT_ADD, thing=ctx.pick(vocab.ADDITIONS))
    elif r < 0.6:
        noun = ctx.source().noun or ctx.pick(vocab.NOUNS)
        edit, clean = ctx.phrase_pair("free", EDIT_FREE, noun=noun)
    else:
        edit = clean = ctx.pick(vocab.TRANSFORMS)
    params = {"instruction": clean} | ctx.image_param()
    text = ctx.phrase("ask", EDIT_ASK, edit=edit)
    return Request(text, params, _responses(ctx, EDIT_RESPONSES, edit=clean))


# ----- inpaint: a named part repainted in its own shape ("make the car red") -----

INPAINT_COLOR = [
    "make {target} {look}",
    "turn {target} {look}",
    "paint {target} {look}",
    "recolor {target} {look}",
    "color {target} {look}",
    "change the color of {target} to {look}",
    "{target} should be {look}",
    "can {target} be {look}?",
    "I want {target} in {look}",
    "make {target} {look} please",
    "dye {target} {look}",
    "repaint {target} in {look}",
    "I'd like {target} to be {look}",
    "can you make {target} {look}?",
    "could {target} be {look}?",
    "switch the color of {target} to {look}",
    "{target} in {look} please",
    "have {target} be {look}",
    "what if {target} were {look}?",
    "recolour {target} to {look}",
    "let's make {target} {look}",
    "tint {target} {look}",
    "paint over {target} in {look}",
    "give {target} a coat of {look} paint",
    "I want {target} to be {look}",
    "{target} needs to be {look}",
    "I'd prefer {target} in {look}",
    "can we get {target} in {look}?",
    "{target}: make it {look}",
]
INPAINT_MATERIAL = [
    "turn {target} into {look}",
    "make {target} out of {look}",
    "make {target} look like it's made of {look}",
    "I want {target} made of {look}",
    "change {target} to {look}",
    "redo {target} in {look}",
    "can {target} be made of {look}?",
    "give {target} a {look} finish",
    "make {target} {look} instead",
    "make {target} look like {look}",
    "make it so {target} is made of {look}",
    "can you make {target} look like it's made out of {look}?",
    "render {target} in {look}",
    "give {target} a {look} texture",
    "{target} should look like it's made of {look}",
    "I want {target} to look like {look}",
    "make {target} from {look}",
    "build {target} out of {look}",
    "rebuild {target} in {look}",
    "give {target} a {look} surface",
    "change the material of {target} to {look}",
    "have {target} made of {look}",
    "give {target} the look of {look}",
    "make {target} look like real {look}",
    "can you make {target} out of {look}?",
    "what if {target} were made of {look}?",
]
INPAINT_PATTERN = [
    "cover {target} in {look}",
    "put {look} on {target}",
    "decorate {target} with {look}",
    "repaint {target} with {look}",
    "I want {target} with {look}",
    "paint {look} on {target}",
    "decorate {target} in {look}",
    "cover {target} with {look}",
    "paint {target} with {look}",
    "pattern {target} with {look}",
    "I'd like {look} on {target}",
    "can {target} have {look}?",
    "can you put {look} on {target}?",
    "decorate {target} using {look}",
    "give {target} a pattern of {look}",
    "print {look} on {target}",
    "make {target} covered in {look}",
    "{target} with {look} please",
    "dress {target} up in {look}",
    "can you cover {target} in {look}?",
    "I want {look} on {target}",
    "stick {look} all over {target}",
]
INPAINT_RESPONSES = [
    "Repainting {target} as {look}.",
    "{target} in {look}, coming up.",
    "Here's {target}, now {look}.",
    "Changed {target} to {look}.",
]


def inpaint(ctx: Ctx) -> Request:
    src = ctx.source()
    # "the background" is change_background's: repainting it means a new backdrop
    parts = [p for p in pool(vocab.PARTS, ctx.split) if p != "background"]
    obj = src.noun if src.noun and ctx.rng.random() < 0.35 else ctx.rng.choice(parts)
    target = f"the {obj}"
    r = ctx.rng.random()
    if r < 0.5:
        look = ctx.pick(vocab.COLORS)
        text = ctx.phrase("color", INPAINT_COLOR, target=target, look=look)
    elif r < 0.8:
        look = ctx.pick(vocab.MATERIALS)
        text = ctx.phrase("material", INPAINT_MATERIAL, target=target, look=look)
    else:
        look = ctx.pick(vocab.PATTERNS)
        text = ctx.phrase("pattern", INPAINT_PATTERN, target=target, look=look)
    params = {"target": target, "prompt": look} | ctx.image_param()
    return Request(text, params, _responses(ctx, INPAINT_RESPONSES, target=target, look=look))


# ----- replace_object: swap one thing for another -----

REPLACE = [
    "replace {target} with {new}",
    "swap {target} for {new}",
    "put {new} where {target} is",
    "replace {target} by {new}",
    "swap out {target} and put in {new}",
    "exchange {target} for {new}",
    "{target} should be {new} instead",
    "can you replace {target} with {new}?",
    "i want {new} in place of {target}",
    "substitute {new} for {target}",
    "swap {target} with {new}",
    "change {target} into {new}",
    "lose {target} and have {new} there instead",
    "replace {target} and use {new}",
    "turn {target} into {new}",
    "replace {target} with {new} please",
    "swap {target} out for {new}",
    "use {new} in place of {target}",
    "put {new} instead of {target}",
    "could you swap {target} for {new}?",
    "{new} instead of {target}",
    "trade {target} for {new}",
    "I'd rather have {new} than {target}",
    "make {target} into {new}",
    "{target} -> {new}",
    "replace {target}, use {new} instead",
    "can {target} be {new} instead?",
]
REPLACE_RESPONSES = [
    "Replacing {target} with {new}.",
    "Swapped {target} for {new}.",
    "Here it is with {new}.",
    "{new} instead of {target}, done.",
]


def replace_object(ctx: Ctx) -> Request:
    src = ctx.source()
    obj = src.noun if src.noun and ctx.rng.random() < 0.6 else ctx.pick(vocab.NOUNS)
    target = f"the {obj}"
    new, noun = ctx.subject()
    params = {"target": target, "prompt": new} | ctx.image_param()
    text = ctx.phrase("ask", REPLACE, target=target, new=new)
    subject = src.subject.replace(obj, noun) if src.subject else None
    return Request(
        text,
        params,
        _responses(ctx, REPLACE_RESPONSES, target=target, new=new),
        result=Image(subject, noun if obj == src.noun else src.noun),
    )


# ----- remove_object: take something out -----

REMOVE = [
    "remove {target}",
    "get rid of {target}",
    "scrub {target} out of the scene",
    "erase {target}",
    "delete {target}",
    "can you remove {target}?",
    "{target} has to go",
    "take {target} out of the picture",
    "make {target} disappear",
    "remove {target} from the scene",
    "please erase {target}",
    "wipe {target} out",
    "lose {target}",
    "I don't want {target} in the picture anymore, remove it",
    "clean up the picture by removing {target}",
    "take {target} out",
    "could you take out {target}?",
    "ditch {target}",
    "drop {target} from the picture",
    "lose {target}, it's distracting",
    "get {target} out of there",
    "can we lose {target}?",
    "remove {target} please",
    "erase {target} from the image",
    "I want {target} gone",
    "scrub out {target}",
    "get {target} out of the shot",
    "delete {target} from the picture",
    "edit out {target}",
    "paint out {target}",
    "take away {target}",
    "can you get rid of {target}?",
    "could you erase {target}?",
    "no more {target}, remove it",
    "clear out {target}",
    "I don't want {target}, take it out",
]
REMOVE_RESPONSES = ["Removing {target}.", "{target} is gone.", "Erased {target}.", "Here it is without {target}."]


def remove_object(ctx: Ctx) -> Request:
    src = ctx.source()
    r = ctx.rng.random()
    target = f"the {src.noun}" if src.noun and r < 0.25 else ctx.pick(vocab.REMOVALS)
    params = {"target": target} | ctx.image_param()
    text = ctx.phrase("ask", REMOVE, target=target)
    return Request(text, params, _responses(ctx, REMOVE_RESPONSES, target=target))


# ----- upscale -----

UPSCALE = [
    "upscale it",
    "make it bigger",
    "can I get a higher resolution version?",
    "enlarge it",
    "increase the resolution",
    "it's too small, blow it up",
    "hd version please",
    "super-resolution please",
    "upscale this",
    "make it larger in high definition",
    "higher res please",
    "can you upsize it",
    "I need it bigger for printing",
    "bump up the resolution",
    "make a high-res copy",
    "enlarge the image please",
    "give me a bigger, high resolution copy",
    "upres it",
    "upscale it please",
    "can you upscale this?",
    "make a higher resolution copy",
    "boost the resolution",
    "upscale the image",
    "raise the resolution",
    "full resolution please",
    "scale it up",
    "upscale please",
    "make it high-res",
    "hi-res version please",
    "give me the hi-res version",
    "upsample it",
    "I need a bigger version of this",
    "blow it up",
    "make it print quality",
    "upscale it for me",
]
UPSCALE_FACTOR = [
    (" 4x", 4),
    (" four times", 4),
    (" by 4", 4),
    (" 2x", 2),
    (" double size", 2),
    (" x2", 2),
    (" to 200%", 2),
    (" to four times its size", 4),
]
UPSCALE_RESPONSES = ["Upscaling it now.", "Here's a bigger version.", "Enlarged.", "Higher resolution coming up."]


def upscale(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", UPSCALE)
    params: dict[str, Any] = dict(ctx.image_param())
    if ctx.rng.random() < 0.35:
        words, scale = ctx.pick(UPSCALE_FACTOR)
        text += words
        params["scale"] = scale
    return Request(text, params, ctx.pick(UPSCALE_RESPONSES))


# ----- adjust: comparatives of brightness, contrast, saturation, hue, sharpness -----

ADJUST_WORDS = {
    # property: [(phrase, sign)]; blur, grayscale and "more colour" belong to filter and colorize
    "brightness": [
        ("brighter", 1),
        ("darker", -1),
        ("lighter", 1),
        ("dimmer", -1),
        ("brighter overall", 1),
        ("darker overall", -1),
        ("more exposed", 1),
        ("less bright", -1),
    ],
    "contrast": [
        ("more contrasty", 1),
        ("less contrasty", -1),
        ("punchier", 1),
        ("flatter", -1),
        ("higher in contrast", 1),
        ("lower in contrast", -1),
    ],
    "saturation": [
        ("more saturated", 1),
        ("less saturated", -1),
        ("more vivid", 1),
        ("more muted", -1),
        ("richer in color", 1),
        ("washed out", -1),
        ("more vibrant", 1),
        ("paler", -1),
    ],
    "hue": [
        ("hue shifted", 1),
        ("hue rotated", 1),
        ("hue shifted the other way", -1),
        ("warmer in hue", 1),
        ("cooler in hue", -1),
    ],
    "sharpness": [("sharper", 1), ("softer", -1), ("crisper", 1), ("less crisp", -1), ("more detailed", 1)],
}
ADJUST_AMOUNT = [
    ("", 0.3),
    ("a bit ", 0.15),
    ("slightly ", 0.15),
    ("a little ", 0.15),
    ("much ", 0.6),
    ("way ", 0.6),
    ("a lot ", 0.6),
    ("somewhat ", 0.3),
    ("really ", 0.6),
    ("a touch ", 0.15),
]
ADJUST = [
    "make it {amount}{word}",
    "{amount}{word} please",
    "can you make it {amount}{word}?",
    "I'd like it {amount}{word}",
    "it should be {amount}{word}",
    "make the image {amount}{word}",
    "could it be {amount}{word}",
    "needs to be {amount}{word}",
    "{amount}{word}",
    "go {amount}{word}",
    "make the picture {amount}{word}",
    "it's too dull, {amount}{word}",
    "{amount}{word} would be nice",
    "could you make it {amount}{word}?",
    "make this {amount}{word}",
    "i want it {amount}{word}",
    "it needs to be {amount}{word}",
    "can it be {amount}{word}?",
    "make the whole thing {amount}{word}",
    "try it {amount}{word}",
    "let's make it {amount}{word}",
    "adjust it to be {amount}{word}",
    "make the photo {amount}{word}",
    "turn it {amount}{word}",
    "make everything {amount}{word}",
    "I think it should be {amount}{word}",
    "could you make the image {amount}{word}?",
    "hmm, {amount}{word} maybe?",
    "let's try {amount}{word}",
    "please make it {amount}{word}",
    "can we get it {amount}{word}?",
    "it looks off, make it {amount}{word}",
]
ADJUST_REGION = [
    "make {region} {amount}{word}",
    "{region} should be {amount}{word}",
    "can you make {region} {amount}{word}?",
    "only {region}: {amount}{word}",
    "{amount}{word} on {region} only",
    "just {region}, {amount}{word}",
    "make only {region} {amount}{word}",
    "{region}: {amount}{word}",
    "can {region} be {amount}{word}?",
    "i want {region} {amount}{word}",
    "{region} needs to be {amount}{word}",
    "could you make {region} {amount}{word}",
    "{region} {amount}{word} please",
    "make just {region} {amount}{word}",
    "adjust {region} to be {amount}{word}",
    "let's make {region} {amount}{word}",
    "only make {region} {amount}{word}",
    "leave the rest, {region} {amount}{word}",
    "make {region} look {amount}{word}",
    "{region} could be {amount}{word}",
    "just make {region} {amount}{word}, nothing else",
    "tweak {region} so it's {amount}{word}",
    "can you get {region} {amount}{word}?",
    "i'd like {region} {amount}{word}",
    "only touch {region}: make it {amount}{word}",
]
ADJUST_RESPONSES = [
    "Adjusting the {prop}.",
    "Tweaked the {prop}.",
    "Here it is with adjusted {prop}.",
    "Changed the {prop} a little.",
]


def adjust(ctx: Ctx) -> Request:
    prop = ctx.rng.choice(sorted(ADJUST_WORDS))
    word, sign = ctx.pick(ADJUST_WORDS[prop])
    amount_words, size = ctx.pick(ADJUST_AMOUNT)
    params: dict[str, Any] = {"property": prop, "amount": sign * size}
    if ctx.rng.random() < 0.25:
        region = f"the {ctx.pick(vocab.PARTS)}"
        text = ctx.phrase("region", ADJUST_REGION, region=region, amount=amount_words, word=word)
        params["region"] = region
    else:
        text = ctx.phrase("ask", ADJUST, amount=amount_words, word=word)
    params |= ctx.image_param()
    return Request(text, params, _responses(ctx, ADJUST_RESPONSES, prop=params["property"]))


# ----- filter: named photo filters -----

FILTERS = {
    "grayscale": [
        "make it black and white",
        "black and white please",
        "convert it to grayscale",
        "greyscale it",
        "make it monochrome",
        "grayscale filter please",
        "b&w please",
        "drain all the color out",
        "apply a black and white filter",
        "turn it grayscale",
        "convert it to black and white",
        "make it greyscale",
        "turn it black and white",
        "black and white version please",
        "go monochrome",
        "give it a grayscale look",
        "desaturate it completely",
        "take all the color out",
        "make it black & white",
        "grayscale please",
        "convert to monochrome",
        "can you make it black and white?",
        "turn it into a black and white photo",
        "go full black and white",
    ],
    "sepia": [
        "make it sepia",
        "sepia tone please",
        "give it a sepia filter",
        "old-timey sepia look",
        "add a sepia effect",
        "apply sepia",
        "sepia it",
        "turn it sepia like an old photo",
        "sepia filter please",
        "make it look like an old sepia photo",
        "sepia version please",
        "put a sepia tone on it",
        "tint it sepia",
        "turn it into a sepia photo",
        "give it a warm sepia tone",
        "sepia please",
        "make it look like a sepia photograph",
        "apply a sepia tone",
        "put a sepia filter on it",
        "vintage sepia effect please",
        "go sepia",
    ],
    "blur": [
        "blur it",
        "add a blur",
        "apply a gaussian blur",
        "make it blurry",
        "blur filter please",
        "put a blur on it",
        "blur the whole thing",
        "give it a soft blur effect",
        "blur the image",
        "can you blur it?",
        "gaussian blur please",
        "blur it out",
        "add a blur filter",
        "blur this picture",
        "make it all blurry",
        "add some blur",
        "blur the picture",
        "soften it with a blur",
        "blurry version please",
    ],
    "sharpen": [
        "apply a sharpen filter",
        "run the sharpen filter on it",
        "could you put it through a sharpen filter?",
        "use the sharpening filter",
        "put a sharpen filter on it",
        "sharpen filter, please",
        "add a sharpen filter",
        "run a sharpening filter",
        "apply the sharpening filter",
        "sharpen filter on the image",
        "can you run a sharpen filter?",
        "use a sharpen filter on it",
        "run a sharpen filter over it",
        "can you apply a sharpen filter?",
        "sharpening filter please",
        "hit it with the sharpen filter",
        "use the sharpen filter",
        "put the sharpening filter on it",
        "sharpening filter on it please",
    ],
    "invert": [
        "invert the colors",
        "invert it",
        "make it a color negative",
        "negative effect please",
        "invert the colours",
        "apply an invert filter",
        "turn the colors into their negative",
        "invert the image",
        "invert colors please",
        "can you invert it?",
        "make it a negative",
        "color negative please",
        "invert the picture's colors",
        "negative please",
        "make it look like a film negative",
        "inverted colors please",
        "reverse the colors",
        "invert this",
    ],
    "posterize": [
        "posterize it",
        "posterize effect please",
        "apply a posterize filter",
        "make it posterized",
        "reduce it to a few flat color bands",
        "give it a posterized look",
        "posterize the image",
        "posterize filter please",
        "can you posterize it?",
        "posterise it",
        "do a posterize effect",
        "posterize this picture",
        "posterize",
        "give it a posterize effect",
        "posterized version please",
        "apply posterization",
        "cut it down to a few flat colors",
        "posterize filter on it",
        "add a posterize effect",
    ],
}
FILTER_REGION = {
    "grayscale": [
        "make {region} black and white",
        "turn {region} grayscale",
        "only {region} in black and white",
        "grayscale {region} only",
        "drain the color from {region}",
        "only make {region} monochrome",
        "make {region} greyscale",
        "desaturate {region} to gray",
    ],
    "sepia": [
        "make {region} sepia",
        "sepia on {region} only",
        "give {region} a sepia tone",
        "turn {region} sepia",
        "apply sepia to {region}",
        "put a sepia filter on {region}",
        "sepia tone on {region} only",
    ],
    "blur": [
        "blur {region}",
        "blur out {region}",
        "make {region} blurry",
        "apply a blur to {region}",
        "put a blur on {region}",
        "blur {region} only",
        "can you blur {region}?",
        "add blur to {region}",
        "blur out {region} please",
        "obscure {region} with a blur",
        "put a gaussian blur on {region}",
    ],
}
FILTER_REGIONS = ["the background", "the faces", "the license plate", "the sky", "the people", "the sign"]
FILTER_STRENGTH = [
    (" slightly", 0.2),
    (" a little", 0.2),
    (" heavily", 0.9),
    (" a lot", 0.9),
    (" strongly", 0.8),
    (" lightly", 0.2),
]
FILTER_RESPONSES = ["Applying the {f} filter.", "Here it is with {f}.", "{f} filter applied.", "Filtering: {f}."]


def filter_(ctx: Ctx) -> Request:
    name = ctx.rng.choice(sorted(FILTERS))
    params: dict[str, Any] = {"filter": name}
    if name in FILTER_REGION and ctx.rng.random() < 0.3:
        region = ctx.pick(FILTER_REGIONS)
        text = ctx.phrase(f"{name}_region", FILTER_REGION[name], region=region)
        params["region"] = region
    else:
        text = ctx.phrase(name, FILTERS[name])
    # strength means a blur radius, a sharpening or posterize coarseness, nothing else
    if name in ("blur", "sharpen", "posterize") and ctx.rng.random() < 0.3:
        words, strength = ctx.pick(FILTER_STRENGTH)
        text += words
        params["strength"] = strength
    params |= ctx.image_param()
    return Request(text, params, _responses(ctx, FILTER_RESPONSES, f=name))


# ----- transform: geometry -----

ROTATE = [
    "rotate it {angle} degrees {dir}",
    "turn it {angle}° {dir}",
    "rotate the picture {dir} by {angle} degrees",
    "can you rotate it {angle} degrees {dir}?",
    "spin it {angle} degrees {dir}",
    "rotate {angle} {dir}",
    "tilt it {angle} degrees {dir}",
    "rotate the image {angle}° {dir}",
    "rotate it by {angle} degrees {dir}",
    "turn the image {angle} degrees {dir}",
    "rotate {angle}° {dir} please",
    "can you turn it {angle} degrees {dir}?",
    "rotate this {angle} degrees {dir}",
    "spin the picture {angle}° {dir}",
    "rotate by {angle} {dir}",
    "turn it {dir} by {angle} degrees",
    "I need it rotated {angle} degrees {dir}",
    "could the picture go {angle} degrees {dir}?",
    "tilt the image {angle}° {dir}",
    "give it a {angle} degree turn {dir}",
    "could you rotate it {angle}° {dir}?",
    "spin it {dir} by {angle}°",
    "rotate the whole thing {angle} degrees {dir}",
    "give it a {angle}° rotation {dir}",
    "i need a {angle} degree rotation {dir}",
]
ROTATE_DIRS = [
    ("clockwise", -1),
    ("counterclockwise", 1),
    ("to the right", -1),
    ("to the left", 1),
    ("anticlockwise", 1),
    ("counter-clockwise", 1),
    ("cw", -1),
    ("ccw", 1),
]
ROTATE_ANGLES = [90, 45, 180, 30, 15, 90, 270, 60]
ROTATE_PLAIN = [
    "rotate it",
    "rotate the picture",
    "can you rotate it?",
    "rotate this",
    "rotate the image",
    "rotate it please",
    "can you rotate the picture?",
    "rotate this one",
    "please rotate it",
    "rotate",
    "could you rotate the image?",
    "rotate the photo",
    "can you rotate this one?",
]  # default 90
UPSIDE_DOWN = [
    "turn it upside down",
    "put it upside down",
    "rotate it upside down",
    "turn the picture upside down",
    "make it upside down",
    "can you turn it upside down?",
    "turn this upside down",
    "upside down please",
    "can you put it upside down?",
    "make the picture upside down",
    "put the image upside down",
    "turn the whole thing upside down",
    "rotate it so it's upside down",
    "turn this image upside down please",
]
FLIP_H = [
    "flip it horizontally",
    "mirror it",
    "mirror the image left to right",
    "flip it left to right",
    "make a mirror image of it",
    "flip horizontal",
    "mirror it sideways",
    "flip it horizontally please",
    "mirror it horizontally",
    "flip the image horizontally",
    "flip it left-right",
    "horizontal flip please",
    "can you mirror it?",
    "flip it so it faces the other way",
    "mirror the picture",
    "flip the picture left to right",
    "reverse it left to right",
    "mirror this image",
    "flip horizontally",
    "flip it sideways",
    "mirror it left-right",
    "flip it side to side",
    "horizontal mirror please",
    "can you flip it horizontally?",
    "mirror image please",
    "flip the photo horizontally",
]
FLIP_V = [
    "flip it vertically",
    "flip it top to bottom",
    "mirror it vertically",
    "flip vertical",
    "flip it so the top is at the bottom",
    "flip the image vertically",
    "vertical flip please",
    "mirror it top to bottom",
    "flip the picture vertically",
    "can you flip it vertically?",
    "flip it over vertically",
    "flip top and bottom",
    "mirror the image vertically",
    "flip it vertically please",
    "reflect it top to bottom",
    "flip vertically",
    "flip the image top to bottom",
    "vertical mirror please",
    "can you flip it top to bottom?",
    "flip the photo vertically",
    "mirror it so the bottom is on top",
    "reflect it vertically",
]
RESIZE = [
    "shrink it to {size}",
    "resize it to {size}",
    "scale it down to {size}",
    "downscale it to {size}",
    "make it smaller, {size}",
    "reduce it to {size}",
    "resize the image to {size}",
    "scale it to {size}",
    "shrink the picture to {size}",
    "can you resize it to {size}?",
    "reduce the size to {size}",
    "resize to {size} please",
    "downsize it to {size}",
    "scale the image down to {size}",
    "shrink this to {size}",
    "make it smaller: {size}",
    "bring it down to {size}",
    "make it {size}",
    "resize this to {size}",
    "can you shrink it to {size}?",
    "resize the picture to {size}",
    "downscale this to {size}",
    "cut the size down to {size}",
    "I need it at {size}",
    "resize down to {size}",
    "reduce the image to {size}",
]
RESIZE_SIZES = [
    ("half the size", 0.5),
    ("a quarter of the size", 0.25),
    ("50%", 0.5),
    ("25%", 0.25),
    ("75%", 0.75),
    ("10%", 0.1),
    ("a third of the size", 0.33),
    ("60%", 0.6),
]
RESIZE_PLAIN = [
    "make it smaller",
    "shrink it",
    "scale it down",
    "downsize it",
    "make the image smaller",
    "shrink the image",
    "can you shrink it?",
    "make the picture smaller",
    "reduce the size",
    "scale the picture down",
    "smaller please",
    "shrink this",
    "downscale it",
    "shrink the picture",
    "smaller version please",
    "it's too big, shrink it",
    "resize it smaller",
    "make this smaller",
]
CROP_ASPECT = [
    "crop it to {aspect}",
    "make a {aspect} crop",
    "crop to {aspect} please",
    "can you crop this to {aspect}?",
    "trim it to {aspect}",
    "crop the picture {aspect}",
    "crop it {aspect}",
    "crop this into {aspect}",
    "crop to {aspect}",
    "give me a {aspect} crop",
    "can you crop it {aspect}?",
    "crop the image to {aspect}",
    "trim the picture to {aspect}",
    "make it {aspect} by cropping",
    "crop it down to {aspect}",
    "I need a {aspect} crop of this",
    "crop for {aspect}",
    "recrop it as {aspect}",
    "can I get a {aspect} crop?",
    "recrop to {aspect}",
    "crop the photo to {aspect}",
    "make a {aspect} crop of it",
]
CROP_ASPECTS = [
    ("square", "1:1"),
    ("16:9", "16:9"),
    ("widescreen 16:9", "16:9"),
    ("4:3", "4:3"),
    ("3:4", "3:4"),
    ("portrait 2:3", "2:3"),
    ("3:2", "3:2"),
    ("vertical 9:16", "9:16"),
    ("1:1", "1:1"),
    ("9:16", "9:16"),
]
CROP_REGION = [
    "crop it to {region}",
    "crop so only {region} is left",
    "crop in on {region}",
    "crop around {region}",
    "crop it tight on {region}",
    "trim it down to {region}",
    "crop to {region}",
    "crop it down to {region}",
    "crop in on {region} please",
    "crop it so it's just {region}",
    "crop everything but {region}",
    "crop the picture around {region}",
    "can you crop to {region}?",
    "crop tight around {region}",
    "crop so {region} fills the frame",
    "crop close to {region}",
    "crop out everything except {region}",
    "crop it around {region} only",
    "crop out everything but {region}",
    "crop tightly to {region}",
    "just crop to {region} please",
    "crop so only {region} shows",
]
OPERATION_NAMES = {
    "rotate": "rotation",
    "flip_horizontal": "horizontal flip",
    "flip_vertical": "vertical flip",
    "resize": "resize",
    "crop": "crop",
}
TRANSFORM_RESPONSES = ["Done: {op}.", "Applying the {op}.", "Here it is after the {op}.", "{op}, done."]


def transform(ctx: Ctx) -> Request:
    r = ctx.rng.random()
    params: dict[str, Any]
    if r < 0.3:
        if ctx.rng.random() < 0.15:
            text, params = ctx.phrase("rotate_plain", ROTATE_PLAIN), {"operation": "rotate"}
        elif ctx.rng.random() < 0.15:
            text, params = ctx.phrase("upside_down", UPSIDE_DOWN), {"operation": "rotate", "angle": 180}
        else:
            angle = ctx.pick(ROTATE_ANGLES)
            dir_words, sign = ctx.pick(ROTATE_DIRS)
            text = ctx.phrase("rotate", ROTATE, angle=str(angle), dir=dir_words)
            params = {"operation": "rotate", "angle": sign * angle}
    elif r < 0.45:
        text, params = ctx.phrase("flip_h", FLIP_H), {"operation": "flip_horizontal"}
    elif r < 0.55:
        text, params = ctx.phrase("flip_v", FLIP_V), {"operation": "flip_vertical"}
    elif r < 0.75:
        if ctx.rng.random() < 0.3:
            text, params = ctx.phrase("resize_plain", RESIZE_PLAIN), {"operation": "resize"}
        else:
            words, scale = ctx.pick(RESIZE_SIZES)
            text, params = ctx.phrase("resize", RESIZE, size=words), {"operation": "resize", "scale": scale}
    elif ctx.rng.random() < 0.6:
        words, aspect = ctx.pick(CROP_ASPECTS)
        text, params = ctx.phrase("crop_aspect", CROP_ASPECT, aspect=words), {"operation": "crop", "aspect": aspect}
    else:
        src = ctx.source()
        region = f"the {src.noun}" if src.noun and ctx.rng.random() < 0.7 else f"the {ctx.pick(vocab.NOUNS)}"
        text, params = ctx.phrase("crop_region", CROP_REGION, region=region), {"operation": "crop", "region": region}
    op = OPERATION_NAMES[params["operation"]]
    params |= ctx.image_param()
    return Request(text, params, _responses(ctx, TRANSFORM_RESPONSES, op=op))


# ----- outpaint (zoom out) and pan (extend one side) -----

OUTPAINT = [
    "zoom out",
    "zoom out please",
    "show more of the scene around it",
    "extend it on all sides",
    "uncrop it",
    "pull the camera back",
    "make the view wider on every side",
    "expand the picture in all directions",
    "zoom out and show the surroundings",
    "can you zoom out?",
    "widen the shot on all sides",
    "give it more surroundings",
    "zoom out so we see more",
    "zoom out on it",
    "show more around it",
    "pull back to show more",
    "widen the view all around",
    "extend it in every direction",
    "expand the canvas on all sides",
    "can you uncrop it?",
    "give me a wider shot",
    "make the frame bigger all around",
    "reveal what's around it",
    "back the camera up",
    "grow the canvas on every side",
    "show the wider scene",
    "zoom it out",
    "pull the view back so we see more around it",
    "expand it out on all four sides",
    "zoom out, I want to see the whole scene",
    "widen it out in every direction",
    "outpaint it",
    "outpaint it all around",
    "extend the canvas all the way around",
    "step back and show more of the surroundings",
    "make it a wider shot with more all around",
]
OUTPAINT_ZOOM = [
    (" 2x", 2.0),
    (" by 2x", 2.0),
    (" a little", 1.25),
    (" slightly", 1.25),
    (" a lot", 2.5),
    (" 3x", 3.0),
    (" 1.5x", 1.5),
    (" just a bit", 1.2),
]
OUTPAINT_PROMPT = [
    ", showing {bg} around it",
    ", with {bg} all around",
    ", and fill the new space with {bg}",
    ", surrounded by {bg}",
]
OUTPAINT_RESPONSES = ["Zooming out.", "Here's the wider view.", "Extended on all sides.", "Showing more of the scene."]
PAN = [
    "extend it {side}",
    "show more {side}",
    "expand the image {side}",
    "continue the scene {side}",
    "add more room {side}",
    "grow the canvas {side}",
    "can you extend it {side}?",
    "stretch the scene out {side}",
    "reveal more {side}",
    "pan {bare}",
    "pan the view {bare}",
    "I want to see what's {side}, extend it",
    "expand it {side}",
    "expand the picture {side}",
    "stretch it {side}",
    "stretch the image out {side}",
    "extend the picture {side}",
    "give it more space {side}",
    "widen the view {side}",
    "continue the picture {side}",
    "open up the scene {side}",
    "let me see more {side}",
    "can you expand it {side}?",
    "expand the canvas {side}",
    "move the view {bare}",
    "shift the camera {bare}",
    "extend the scene {side}",
    "add more to the picture {side}",
    "could you extend the scene {side}?",
    "pan it {bare}",
    "continue it {side}",
    "make the canvas bigger {side}",
    "add extra space {side}",
    "extend it so I can see what's {side}",
    "pan the camera {bare}",
    "expand {side} please",
]
PAN_SIDES = {
    "left": ["to the left", "on the left side", "leftwards", "on the left"],
    "right": ["to the right", "on the right side", "rightwards", "on the right"],
    "up": ["upwards", "at the top", "above", "on the top side"],
    "down": ["downwards", "at the bottom", "below", "on the bottom side"],
}
PAN_AMOUNT = [
    (" a little", 0.25),
    (" slightly", 0.25),
    (" by a lot", 1.0),
    (" quite a bit", 0.75),
    (" by half", 0.5),
    (" just a bit", 0.2),
]
PAN_PROMPT = [", with {bg} there", " and put {bg} there", ", showing {bg}", ", filled with {bg}"]
PAN_RESPONSES = ["Extending it {dir}.", "Panning {dir}.", "Here's more on the {dir} side.", "Extended {dir}."]


def _scene_prompt(ctx: Ctx, group: str, phrasings: Sequence[str], text: str, params: dict[str, Any]) -> str:
    if ctx.rng.random() < 0.2:
        bg = ctx.pick(vocab.BACKGROUNDS)
        params["prompt"] = bg
        return text + ctx.phrase(group, phrasings, bg=bg)
    return text


def outpaint(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", OUTPAINT)
    params: dict[str, Any] = {}
    if ctx.rng.random() < 0.35:
        words, zoom = ctx.pick(OUTPAINT_ZOOM)
        text += words
        params["zoom"] = zoom
    text = _scene_prompt(ctx, "prompt", OUTPAINT_PROMPT, text, params)
    params |= ctx.image_param()
    return Request(text, params, ctx.pick(OUTPAINT_RESPONSES))


def pan(ctx: Ctx) -> Request:
    direction = ctx.rng.choice(sorted(PAN_SIDES))
    text = ctx.phrase("ask", PAN, side=ctx.pick(PAN_SIDES[direction]), bare=direction)
    params: dict[str, Any] = {"direction": direction}
    if ctx.rng.random() < 0.3:
        words, amount = ctx.pick(PAN_AMOUNT)
        text += words
        params["amount"] = amount
    text = _scene_prompt(ctx, "prompt", PAN_PROMPT, text, params)
    params |= ctx.image_param()
    return Request(text, params, _responses(ctx, PAN_RESPONSES, dir=direction))


# ----- change_background and remove_background -----

CHANGE_BG = [
    "change the background to {bg}",
    "put it in front of {bg}",
    "new background: {bg}",
    "replace the background with {bg}",
    "swap the background for {bg}",
    "make the background {bg}",
    "set it against {bg}",
    "I want {bg} behind it",
    "background should be {bg}",
    "give it a new background, {bg}",
    "can the background be {bg}?",
    "put {bg} in the background",
    "new backdrop: {bg}",
    "background: {bg}",
    "put {bg} behind it",
    "I'd like {bg} behind it",
    "can you put {bg} behind it?",
    "change the backdrop to {bg}",
    "give it {bg} as a background",
    "use {bg} as the background",
    "switch the background to {bg}",
    "have {bg} behind it",
    "background to {bg} please",
    "let the background be {bg}",
    "I want the background to be {bg}",
    "set the background to {bg}",
    "the background should become {bg}",
    "swap in {bg} as the background",
    "can you change the background to {bg}?",
    "I'd like the background to be {bg}",
    "change the scenery behind it to {bg}",
    "place it in front of {bg}",
    "new bg: {bg}",
    "make the backdrop {bg}",
]
CHANGE_BG_SUBJECT = [
    "keep the {noun} but change the background to {bg}",
    "put the {noun} in front of {bg}",
    "give the {noun} a new background: {bg}",
    "place the {noun} against {bg}",
    "leave the {noun} as is and make the background {bg}",
    "put {bg} behind the {noun}",
    "give the {noun} {bg} as a background",
    "keep the {noun}, new background: {bg}",
    "the {noun} stays, the background becomes {bg}",
    "set the {noun} in front of {bg}",
    "I want {bg} behind the {noun}",
    "change what's behind the {noun} to {bg}",
    "swap the background behind the {noun} for {bg}",
    "new backdrop for the {noun}: {bg}",
    "have the {noun} in front of {bg}",
    "background behind the {noun}: {bg}",
    "keep the {noun} and put {bg} behind it",
    "put the {noun} on a background of {bg}",
    "change the background behind the {noun} to {bg}",
    "can the {noun} be in front of {bg}?",
    "move the {noun} in front of {bg}",
    "I'd like the {noun} against {bg}",
    "same {noun}, but with {bg} behind it",
    "don't touch the {noun}, just make the background {bg}",
]
CHANGE_BG_RESPONSES = [
    "New background: {bg}.",
    "Putting it in front of {bg}.",
    "Background changed to {bg}.",
    "Here it is with {bg} behind.",
]
REMOVE_BG = [
    "remove the background",
    "cut out the subject",
    "make the background transparent",
    "transparent background please",
    "cut it out onto a transparent background",
    "isolate the subject",
    "delete the background",
    "give me a png cutout",
    "background removal please",
    "erase the background",
    "make it a sticker with no background",
    "get rid of the background",
    "no background, just the subject",
    "cut it out",
    "cut the subject out",
    "make a cutout of it",
    "cut it out from the background",
    "can you remove the background?",
    "strip the background",
    "strip out the background",
    "png with a transparent background please",
    "I need a transparent png of this",
    "knock out the background",
    "remove bg",
    "lose the background",
    "just the subject on transparency please",
    "make a sticker out of it",
    "separate the subject from the background",
    "remove the bg",
    "transparent bg please",
    "can you cut it out?",
    "background remover please",
    "i need this without a background",
    "drop the background",
    "turn it into a transparent png",
    "clear the background to transparent",
    "png cutout please",
]
REMOVE_BG_SUBJECT = [
    "cut out the {noun}",
    "isolate the {noun} on a transparent background",
    "lift the {noun} off its background",
    "remove everything except the {noun}",
    "make a transparent cutout of the {noun}",
    "cut the {noun} out for me",
    "cut the {noun} out of the picture",
    "just the {noun} on a transparent background",
    "make a sticker of the {noun}",
    "isolate the {noun}",
    "extract the {noun}",
    "pull the {noun} out onto transparency",
    "remove the background behind the {noun}",
    "keep only the {noun} and drop the background",
    "give me the {noun} as a png cutout",
    "can you cut out the {noun}?",
    "separate the {noun} from the background",
    "I want just the {noun}, no background",
    "make the {noun} a sticker",
    "isolate the {noun} from everything else",
    "extract the {noun} onto transparency",
    "keep just the {noun}, make the rest transparent",
    "png of just the {noun} please",
]
REMOVE_BG_RESPONSES = [
    "Cutting it out.",
    "Here's the cut-out on a transparent background.",
    "Background removed.",
    "Isolating the subject.",
]


def change_background(ctx: Ctx) -> Request:
    bg = ctx.pick(vocab.BACKGROUNDS)
    src = ctx.source()
    params: dict[str, Any] = {"prompt": bg}
    if src.noun and ctx.rng.random() < 0.3:
        text = ctx.phrase("subject", CHANGE_BG_SUBJECT, noun=src.noun, bg=bg)
        params["subject"] = f"the {src.noun}"
    else:
        text = ctx.phrase("ask", CHANGE_BG, bg=bg)
    params |= ctx.image_param()
    return Request(text, params, _responses(ctx, CHANGE_BG_RESPONSES, bg=bg))


def remove_background(ctx: Ctx) -> Request:
    src = ctx.source()
    params: dict[str, Any] = {}
    if src.noun and ctx.rng.random() < 0.3:
        text = ctx.phrase("subject", REMOVE_BG_SUBJECT, noun=src.noun)
        params["subject"] = f"the {src.noun}"
    else:
        text = ctx.phrase("ask", REMOVE_BG)
    params |= ctx.image_param()
    return Request(text, params, ctx.pick(REMOVE_BG_RESPONSES))


# ----- variation and colorize -----

VARIATION = [
    "give me a variation",
    "make a variation of it",
    "another version of this please",
    "something similar but different",
    "show me a variant",
    "make a similar one",
    "a different take on the same picture",
    "variation please",
    "similar image, different details",
    "make another one like this",
    "one more like this",
    "riff on this image",
    "give me an alternative version",
    "can I get a variation of this?",
    "vary it",
    "another version please",
    "make another version of this",
    "can I get another version?",
    "give me another take on this",
    "one more version like this",
    "alternate version please",
    "do another one in the same vein",
    "a fresh take on this please",
    "something like this but different",
    "try another version of it",
    "similar picture please",
    "do another take of this",
    "another take please",
    "give me something similar",
    "can you do a similar one?",
    "more like this",
    "reroll this one",
    "alternative take on this image",
    "vary this one a bit",
    "same idea, new version please",
]
VARIATION_STRENGTH = [
    (", only slightly different", 0.3),
    (", keep it very close", 0.25),
    (", make it quite different", 0.8),
    (", feel free to change a lot", 0.85),
    (", subtle changes only", 0.3),
    (", really different", 0.8),
]
VARIATION_RESPONSES = ["Here's a variation.", "A similar one, coming up.", "Another take on it.", "Making a variant."]
COLORIZE = [
    "colorize it",
    "colorize this black and white photo",
    "add color to it",
    "can you colorize this?",
    "bring this old photo to life with color",
    "make this b&w picture colored",
    "color it in",
    "restore the colors of this old photo",
    "give this grayscale image natural colors",
    "turn it into a color photo",
    "add realistic colours to this",
    "colourise it",
    "this photo is black and white, add color",
    "colorize the picture please",
    "restore the color of this photo",
    "bring back the colors in this old photo",
    "give this old photo its colors back",
    "restore this old photo in color",
    "add colors to this old black and white photo",
    "put color in this b&w picture",
    "can you color this old photo?",
    "colorise this",
    "turn this grayscale photo into color",
    "make it a colour photo",
    "fill in the colors of this b&w photo",
    "bring some color back to this old photo",
    "colorize this old photo",
    "add color to this black and white picture",
    "can you add some color to it?",
    "make this old photo colored",
    "bring color to this grayscale picture",
    "turn this b&w shot into color",
    "give it color, it's a black and white photo",
    "colour it in please",
    "make it full color",
    "put realistic color into this old photo",
]
COLORIZE_HINT = [", with {hint}", ". {hint} please", ", {hint}", " - {hint}"]
COLORIZE_RESPONSES = ["Colorizing it.", "Adding color.", "Here it is in color.", "Bringing in the colors."]


def variation(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", VARIATION)
    params: dict[str, Any] = {}
    if ctx.rng.random() < 0.3:
        words, strength = ctx.pick(VARIATION_STRENGTH)
        text += words
        params["strength"] = strength
    params |= ctx.image_param()
    return Request(text, params, ctx.pick(VARIATION_RESPONSES))


def colorize(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", COLORIZE)
    params: dict[str, Any] = {}
    if ctx.rng.random() < 0.3:
        # "background" is the cue of the background kinds; colour hints name other parts
        parts = ctx.rng.sample([p for p in pool(vocab.PARTS, ctx.split) if p != "background"], 2)
        hint = " and ".join(f"a {ctx.pick(vocab.COLORS)} {p}" for p in parts[: ctx.rng.choice((1, 2))])
        text += ctx.phrase("hint", COLORIZE_HINT, hint=hint)
        params["prompt"] = hint
    params |= ctx.image_param()
    return Request(text, params, ctx.pick(COLORIZE_RESPONSES))


# ----- ControlNet kinds: a new picture that keeps the sketch, the outlines or the layout -----

SKETCH = [
    "turn my sketch into {desc}",
    "make this doodle into {desc}",
    "finish my drawing as {desc}",
    "turn this scribble into {desc}",
    "render my sketch as {desc}",
    "make a finished picture from my sketch: {desc}",
    "use my doodle as the base for {desc}",
    "convert my line drawing into {desc}",
    "make my rough sketch a real picture of {desc}",
    "turn the doodle into {desc}",
    "my scribble is {desc}, make it look finished",
    "work my sketch up into {desc}",
    "complete my drawing as {desc}",
    "finish this drawing of mine as {desc}",
    "turn my drawing into {desc}",
    "convert my drawing into {desc}",
    "make my line drawing into {desc}",
    "render my line drawing as {desc}",
    "turn what I drew into {desc}",
    "polish my drawing into {desc}",
    "take my hand drawing and make it {desc}",
    "finish off my rough drawing as {desc}",
    "I drew this, make it into {desc}",
    "make a proper picture of {desc} from my drawing",
    "bring my drawing to life as {desc}",
    "paint over my drawing to make {desc}",
    "use my sketch to make {desc}",
    "make my scribble look like {desc}",
    "here's a rough drawing, make it {desc}",
    "turn my quick drawing into {desc}",
    "base {desc} on my sketch",
    "make {desc} out of my drawing",
]
SKETCH_ATTACH = [
    "{req}",
    "here's my doodle. {req}",
    "{req} (sketch attached)",
    "just drew this. {req}",
    "see my scribble: {req}",
    "I sketched this on paper. {req}",
    "{req}, I drew it myself",
    "quick doodle attached - {req}",
    "here's my drawing. {req}",
    "{req} (drawing attached)",
    "I drew this: {req}",
    "made this sketch. {req}",
    "attached my drawing - {req}",
    "{req}, it's my own drawing",
    "this is my rough drawing. {req}",
    "hand-drawn, so be kind. {req}",
    "{req} - it's just a quick drawing",
    "I scribbled this. {req}",
    "drew this in paint lol. {req}",
    "my kid drew this! {req}",
    "{req} (my doodle)",
    "did a quick drawing, {req}",
    "I sketched this out. {req}",
    "here's what I drew - {req}",
    "{req}. the drawing is mine",
    "drew this on my tablet. {req}",
]
CANNY = [
    "keep the outlines but make it {desc}",
    "use the edges of this picture to draw {desc}",
    "same line work, but {desc}",
    "trace the edges and turn it into {desc}",
    "keep the contours and make it {desc}",
    "redraw it as {desc} following the outlines",
    "use its edge map for {desc}",
    "follow the lines of this image and make {desc}",
    "keep the exact outlines, new picture: {desc}",
    "keep the edges, but {desc}",
    "same lines, but make it {desc}",
    "keep the line work and make it {desc}",
    "use the line art of this for {desc}",
    "follow the lines of this picture to draw {desc}",
    "follow its lines and make {desc}",
    "keep the linework, new picture: {desc}",
    "trace this image and make it {desc}",
    "trace the outlines into {desc}",
    "use the outlines of this as a guide for {desc}",
    "follow the contours of this and draw {desc}",
    "keep the same lines but turn it into {desc}",
    "same edges, different picture: {desc}",
    "keep all the lines and make {desc}",
    "extract the edges and draw {desc}",
    "use the lines in this photo for {desc}",
    "keep the line art and make it {desc}",
    "keep the outlines and draw {desc}",
    "use the edges from this for {desc}",
    "stick to the outlines but make it {desc}",
    "keep its contours but turn it into {desc}",
    "use the outlines of this image to make {desc}",
    "redraw it as {desc} but keep every outline",
    "trace its edges and make {desc}",
    "same outlines, but now it's {desc}",
    "keep the edges of this photo, make {desc}",
]
CANNY_DETAIL = [
    (", keep every fine edge", 0.9),
    (", only the main outlines", 0.2),
    (", just the strongest lines", 0.15),
    (", lots of edge detail", 0.85),
]
DEPTH = [
    "keep the same layout but make it {desc}",
    "same composition and depth, but {desc}",
    "use the 3d structure of this for {desc}",
    "keep the perspective and turn it into {desc}",
    "follow the depth of this scene and make {desc}",
    "same spatial layout, new picture: {desc}",
    "keep where everything is but make it {desc}",
    "use this as a depth map for {desc}",
    "keep the composition, change it into {desc}",
    "keep the 3d shapes and depth, make {desc}",
    "use the 3d shape of this for {desc}",
    "use the structure of this scene for {desc}",
    "use its 3d layout to make {desc}",
    "keep the 3d structure and make it {desc}",
    "use the depth of this picture for {desc}",
    "same depth and layout, but make {desc}",
    "keep the geometry but turn it into {desc}",
    "use this picture's depth for {desc}",
    "keep the spatial layout and draw {desc}",
    "same 3d shapes, but {desc}",
    "keep the scene's depth, new picture: {desc}",
    "build {desc} on the same structure",
    "keep the positions and depth, make it {desc}",
    "same composition, new content: {desc}",
    "use the geometry of this scene for {desc}",
    "match the layout of this and make {desc}",
    "same scene layout, but {desc}",
    "reuse this layout for {desc}",
    "make {desc} with the same depth and composition",
    "preserve the 3d layout and make {desc}",
]
CONTROL_RESPONSES = [
    "Drawing {subject} on that structure.",
    "Here is {subject}, following your picture.",
    "Turning it into {subject}.",
    "Working from your image: {subject}.",
]


def _controlled(lines: Sequence[str], detail: bool = False) -> Callable[[Ctx], Request]:
    def build(ctx: Ctx) -> Request:
        desc, subject, noun = _desc(ctx, style_rate=0.3)
        negatives = _negatives(ctx) if ctx.rng.random() < 0.4 else []
        params: dict[str, Any] = {"prompt": desc}
        if negatives:
            params["negative_prompt"] = ", ".join(negatives)
        text = ctx.phrase("ask", lines, desc=desc)
        if detail and ctx.rng.random() < 0.25:
            words, value = ctx.pick(CANNY_DETAIL)
            text += words
            params["detail"] = value
        text = _with_negatives(ctx, text, negatives)
        params |= ctx.image_param()
        return Request(
            text, params, _responses(ctx, CONTROL_RESPONSES, subject=subject), negatives, Image(subject, noun)
        )

    return build


# ----- blend: two or three images mixed -----

BLEND2 = [
    "blend {a} and {b}",
    "mix {a} with {b}",
    "combine {a} and {b} into one picture",
    "merge {a} with {b}",
    "fuse {a} and {b}",
    "blend {a} together with {b}",
    "can you mix {a} and {b}?",
    "make a mashup of {a} and {b}",
    "cross {a} with {b}",
    "morph {a} and {b} together",
    "blend {a} into {b}",
    "mix together {a} and {b}",
    "combine {a} with {b}",
    "mash up {a} and {b}",
    "put {a} and {b} together",
    "blend {a} with {b}",
    "can you merge {a} and {b}?",
    "mix {a} and {b} into one image",
    "cross {a} and {b}",
    "make a hybrid of {a} and {b}",
    "fuse {a} with {b}",
    "merge {a} and {b} together",
    "mix up {a} and {b}",
    "smash {a} and {b} together",
    "merge {a} and {b}",
    "can you blend {a} with {b}?",
    "create a blend of {a} and {b}",
    "I want {a} and {b} merged",
    "make one image out of {a} and {b}",
]
BLEND3 = [
    "blend {a}, {b} and {c}",
    "mix {a}, {b} and {c} together",
    "combine {a}, {b} and {c}",
    "merge {a}, {b} and {c} into one",
    "fuse {a}, {b} and {c}",
    "combine {a}, {b} and {c} into one picture",
    "mash up {a}, {b} and {c}",
    "blend {a}, {b} and {c} together",
    "merge {a} with {b} and {c}",
    "mix {a}, {b} and {c} into one",
    "put {a}, {b} and {c} together",
    "can you merge {a}, {b} and {c}?",
    "I want {a}, {b} and {c} blended",
]
BLEND_REF = ["#{k}", "image {k}", "the {ord} one", "the {ord} picture", "picture #{k}", "image #{k}", "the {ord} image"]
BLEND_CURRENT = ["this", "this one", "it", "the current one", "the latest one", "this picture"]
BLEND_MIX = [
    (", mostly the first", 0.25),
    (", more of the second", 0.75),
    (", half and half", 0.5),
    (", just a touch of the second", 0.15),
    (", heavy on the second", 0.8),
    (", 50/50", 0.5),
]
BLEND_PROMPT = [" into {desc}", ", make it {desc}", " as {desc}"]
BLEND_RESPONSES = ["Blending them.", "Mixing those images.", "Here's the blend.", "Combining them into one."]


def blend(ctx: Ctx) -> Request:
    s = ctx.session
    n = 3 if len(s.images) >= 3 and ctx.rng.random() < 0.2 else 2
    picks = ctx.rng.sample(range(1, len(s.images) + 1), n)
    names, params = [], {}
    for slot, k in zip(("image", "image2", "image3"), picks):
        # the current image named as "this" is the default first image: left out, as always
        if slot == "image" and k == s.current and ctx.rng.random() < 0.5:
            names.append(ctx.phrase("current", BLEND_CURRENT))
            continue
        names.append(ctx.phrase("name", BLEND_REF, k=str(k), ord=vocab.ORDINALS.get(k, f"#{k}")))
        params[slot] = f"#{k}"
    if n == 2:
        text = ctx.phrase("ask2", BLEND2, a=names[0], b=names[1])
        if ctx.rng.random() < 0.25:
            words, mix = ctx.pick(BLEND_MIX)
            text += words
            params["mix"] = mix
    else:
        text = ctx.phrase("ask3", BLEND3, a=names[0], b=names[1], c=names[2])
    result = Image(None, None)
    if ctx.rng.random() < 0.2:
        desc, subject, noun = _desc(ctx, style_rate=0.3)
        text += ctx.phrase("prompt", BLEND_PROMPT, desc=desc)
        params["prompt"] = desc
        result = Image(subject, noun)
    return Request(text, params, ctx.pick(BLEND_RESPONSES), result=result)


# ----- add_text -----

ADD_TEXT = [
    "add the text {q}",
    "write {q} on it",
    "put {q} on the image",
    "add {q} as text",
    "write {q} on the picture",
    "put the words {q} on it",
    "can you add the text {q}?",
    "text on it: {q}",
    "letter {q} onto it",
    "overlay the text {q}",
    "write {q} on top",
    "type {q} on it",
    "stick the text {q} on it",
    "add the words {q}",
    "can you write {q} on it?",
    "put text on it that says {q}",
    "write {q} across it",
    "add text saying {q}",
    "label it {q}",
    "put {q} in big letters",
    "I want it to say {q}",
    "make it say {q}",
    "add {q} to the image as text",
    "can you put the text {q} on it?",
    "text: {q}",
    "put the text {q} on the picture",
    "write {q} in big letters on it",
]
ADD_CAPTION = [
    "add a caption saying {q}",
    "caption it with {q}",
    "give it the caption {q}",
    "put a caption on it: {q}",
    "caption: {q}",
    "add the caption {q}",
    "caption it {q}",
    "add a caption: {q}",
    "give it a caption that says {q}",
    "caption this with {q}",
    "caption it as {q}",
    "add a caption reading {q}",
    "write a caption: {q}",
    "use {q} as the caption",
    "slap a caption on it: {q}",
    "the caption should be {q}",
    "can you caption it {q}?",
    "can you add a caption that says {q}?",
    "I want a caption saying {q}",
]
ADD_MEME = [
    "make it a meme that says {q}",
    "meme it: {q}",
    "turn it into a meme with {q}",
    "add meme text {q}",
    "make a meme with the text {q}",
    "meme caption {q}",
    "meme this with {q}",
    "turn it into a meme: {q}",
    "make this a meme saying {q}",
    "meme text: {q}",
    "put meme text on it: {q}",
    "make a meme out of it with {q}",
    "meme it with the text {q}",
    "make it a meme, text {q}",
    "use it for a meme that says {q}",
    "can you meme it? {q}",
    "add {q} meme style",
    "meme format, {q}",
]
TEXT_POSITION = [
    (" at the top", "top"),
    (" at the bottom", "bottom"),
    (" in the middle", "center"),
    (" in the center", "center"),
    (" across the top", "top"),
    (" along the bottom", "bottom"),
]
QUOTES = ['"{t}"', "'{t}'", "“{t}”"]
ADD_TEXT_RESPONSES = ["Adding the text.", "Writing it on.", "Here it is with your text.", "Text added."]


def add_text(ctx: Ctx) -> Request:
    words = ctx.pick(vocab.CAPTIONS)
    q = ctx.rng.choice(QUOTES).format(t=words)
    params: dict[str, Any] = {"text": words}
    r = ctx.rng.random()
    # the style is set only where the user names it ("caption", "meme"); otherwise the default
    if r < 0.25:
        text = ctx.phrase("caption", ADD_CAPTION, q=q)
        params["style"] = "caption"
    elif r < 0.5:
        text = ctx.phrase("meme", ADD_MEME, q=q)
        params["style"] = "meme"
    else:
        text = ctx.phrase("ask", ADD_TEXT, q=q)
    if ctx.rng.random() < 0.4:
        where, position = ctx.pick(TEXT_POSITION)
        text += where
        params["position"] = position
    params |= ctx.image_param()
    return Request(text, params, ctx.pick(ADD_TEXT_RESPONSES))


# ----- describe: the prompt that would recreate the picture (not a question about it) -----

DESCRIBE = [
    "give me a prompt for this image",
    "what prompt would recreate this?",
    "write a prompt that would make this picture",
    "describe this as a prompt",
    "/describe",
    "reverse-engineer the prompt for this",
    "what would the prompt for this be?",
    "turn this image into a text prompt",
    "can you make a prompt out of this picture?",
    "generate a prompt from this image",
    "I want the prompt that describes this image",
    "prompt for this pls",
    "what text prompt matches this picture?",
    "give me a midjourney-style prompt for it",
    "describe it as a stable diffusion prompt",
    "what prompt should I use to get this?",
    "what prompt made this?",
    "write me a prompt for this picture",
    "give me the prompt for it",
    "describe this image as a prompt I can reuse",
    "make a prompt from this",
    "what's the prompt for this image?",
    "prompt this image for me",
    "turn this into a prompt",
    "what prompt would I need for this?",
    "can you give me the prompt for this picture?",
    "what's a good prompt to recreate this?",
    "describe this image in prompt form",
    "give me a text-to-image prompt for this",
    "how would I prompt this?",
    "write the prompt that made this",
]
DESCRIBE_RESPONSES = [
    "Let me write a prompt for it.",
    "Here's a prompt that matches.",
    "Working out the prompt.",
    "Describing it as a prompt.",
]


def describe(ctx: Ctx) -> Request:
    return Request(ctx.phrase("ask", DESCRIBE), dict(ctx.image_param()), ctx.pick(DESCRIBE_RESPONSES))


# ----- vqa -----

VQA = [
    "{q}?",
    "can you tell me {q}?",
    "quick question: {q}?",
    "{q}",
    "I wonder, {q}?",
    "tell me {q}",
    "do you know {q}?",
    "{q}? just curious",
    "question - {q}?",
    "hey, {q}?",
    "{q}? I can't tell",
    "just wondering, {q}?",
    "could you tell me {q}?",
    "any idea {q}?",
    "looking at the picture, {q}?",
    "I'm curious, {q}?",
    "help me out, {q}?",
    "so {q}?",
    "wait, {q}?",
    "tell me, {q}?",
    "one question: {q}?",
    "{q}, do you know?",
    "quick q: {q}?",
    "{q}? wondering",
    "honest question, {q}?",
    "{q}? let me know",
    "{q}? thanks",
    "curious: {q}?",
    "{q}? not sure myself",
    "real quick, {q}?",
]
VQA_RESPONSES = ["Let me look.", "Let me check the picture.", "Looking at it now.", "Good question, checking."]


def vqa(ctx: Ctx) -> Request:
    src = ctx.source()
    q = ctx.pick(vocab.QUESTIONS).format(part=ctx.pick(vocab.PARTS), noun=src.noun or ctx.pick(vocab.NOUNS))
    params = {"question": q + "?"} | ctx.image_param()
    return Request(ctx.phrase("ask", VQA, q=q), params, ctx.pick(VQA_RESPONSES))


# ----- chat -----

CHAT = [
    ("hi there!", "Hello! What shall we draw?"),
    ("thanks, that's lovely", "Glad you like it!"),
    ("what can you do?", "I can draw new pictures, edit them, and answer questions about them."),
    ("who are you?", "I'm DialogDraw, a drawing bot. Tell me what to draw!"),
    ("haha nice", "Thanks! Want to change anything?"),
    ("perfect, thank you!", "You're welcome!"),
    ("how do I get better results?", "Describe the subject, the setting and a style."),
    ("good morning", "Good morning! What are we drawing today?"),
    ("wow", "Glad it worked out!"),
    ("that's amazing", "Thank you! Anything else?"),
    ("lol", "Happy to amuse. What next?"),
    ("are you an AI?", "Yes, I'm a bot that draws and edits pictures."),
    ("can you help me?", "Of course! Tell me what you'd like to see."),
    ("I love it", "Great! Tell me if you want more."),
    ("bye!", "Bye! Come back any time."),
    ("what styles do you know?", "Lots: watercolor, pixel art, oil painting, anime and more."),
    ("you're fast", "Thanks! What's next?"),
    ("hello bot", "Hi! What would you like me to draw?"),
    ("nice work", "Thank you!"),
    ("ok cool", "Anything else you'd like?"),
    ("how does this work?", "Describe a picture and I'll draw it; then ask for changes."),
    ("is this free?", "Yes, just ask for a picture."),
    ("cute!", "Glad you like it!"),
    ("what's your name?", "I'm DialogDraw."),
    ("that's not bad at all", "Thanks! Want any changes?"),
    ("hey", "Hey! What should I draw for you?"),
    ("thank you so much", "You're welcome! Anything else?"),
    ("this is so cool", "Glad you like it! Want to change anything?"),
    ("good night", "Good night! Come back any time."),
    (
        "what kinds of edits can you do?",
        "I can recolor or swap things, remove objects, change backgrounds, restyle, crop, rotate and more.",
    ),
    ("how are you?", "Doing great and ready to draw! What would you like?"),
    ("you're the best", "Aw, thanks! What's next?"),
    ("omg yes", "Glad it worked out!"),
    ("can you edit my photos too?", "Yes! Upload a picture and tell me what to change."),
]


def chat(ctx: Ctx) -> Request:
    text = ctx.phrase("ask", [c[0] for c in CHAT])
    return Request(text, {}, CHAT[ctx.picked()][1])


# ----- built-ins: clarify, undo, revert -----

CLARIFY_EDIT = [
    "change it to something else",
    "make it better",
    "hmm, fix it",
    "can you improve it",
    "can you change it",
    "not quite what I wanted",
    "I don't like it",
    "make it nicer",
    "change something",
    "make it more interesting",
    "it needs something",
    "edit it somehow",
    "tweak it",
    "it's not right",
    "make it pop",
    "fix it",
    "can you fix it?",
    "improve it somehow",
    "tweak it a bit",
    "can you tweak it?",
    "make it nicer please",
    "make it look better",
    "do something with it",
    "it's not quite there",
    "hmm, something's off, fix it",
    "can you make it better?",
    "it could be nicer",
    "I'm not happy with it, change it",
    "modify it",
    "change it up",
    "meh, make it better",
    "I don't love it, can you change something?",
    "it's missing something",
    "make it cooler",
    "can you make it more fun?",
    "improve this",
    "spice it up",
    "it's boring, fix it",
]
CLARIFY_NEW = [
    "draw something",
    "make me a picture",
    "can you draw?",
    "I want an image",
    "make art",
    "draw a thing",
    "create something for me",
    "picture please",
    "make an image",
    "I need a drawing",
    "can you draw something for me?",
    "draw please",
    "an image please",
    "picture pls",
    "could you draw me something?",
    "a picture, please",
    "make something",
    "draw me anything",
    "I'd like a picture",
    "give me an image",
    "let's draw",
    "I want a drawing",
    "generate something",
    "draw me something cool",
    "can you make a picture?",
    "I want you to draw",
    "make me an image",
    "can I get a picture?",
    "draw something for me please",
    "I'd like you to make some art",
    "paint something",
]
CLARIFY_EDIT_RESPONSES = [
    "What would you like me to change: the colors, the style, or something in the scene?",
    "Sure! What exactly should I change?",
    "Which part should change, and how?",
    "Happy to. What should be different?",
]
CLARIFY_NEW_RESPONSES = [
    "What would you like me to draw?",
    "Sure! What should the picture show?",
    "Of course. What subject and style do you have in mind?",
]


def clarify(ctx: Ctx) -> Request:
    if ctx.session.current is not None and ctx.rng.random() < 0.75:
        return Request(ctx.phrase("edit", CLARIFY_EDIT), {}, ctx.pick(CLARIFY_EDIT_RESPONSES))
    return Request(ctx.phrase("new", CLARIFY_NEW), {}, ctx.pick(CLARIFY_NEW_RESPONSES))


UNDO = [
    "undo",
    "undo that",
    "undo the last change",
    "go back one step",
    "revert that",
    "take that back",
    "I liked it better before",
    "nope, roll that back",
    "that's worse, undo it",
    "cancel the last edit",
    "back to how it was",
    "nope, undo",
    "put it back the way it was",
    "step back",
    "undo please",
    "ctrl z",
    "cmd+z",
    "revert the last edit",
    "nevermind that change, go back",
    "back to the previous version",
    "step back one",
    "undo the last edit",
    "scrap that change",
    "reverse that",
    "roll it back",
    "ctrl-z please",
    "no, go back to before",
    "that last change was a mistake, undo it",
    "revert the last change",
    "go back a step",
    "oops, undo",
    "no wait, take that last change back",
    "hmm no, go back one",
    "ugh, undo",
    "let's undo that change",
    "don't like that, go back a step",
    "back one step please",
    "that made it worse, take it back",
]
UNDO_RESPONSES = ["Undone.", "Back to the previous version.", "Okay, reverted the last change."]


def undo(ctx: Ctx) -> Request:
    return Request(ctx.phrase("ask", UNDO), {}, ctx.pick(UNDO_RESPONSES))


REVERT = [
    "go back to #{k}",
    "go back to the {ord} one",
    "restore image #{k}",
    "I want the {ord} picture back",
    "let's return to #{k}",
    "switch back to the {ord} version",
    "use #{k} again",
    "bring back the {ord} image",
    "return to image {k}",
    "revert to the {ord} one",
    "bring back #{k}",
    "I preferred #{k}, go back to it",
    "make #{k} the current one again",
    "can we go back to the {ord} one?",
    "back to #{k}",
    "restore the {ord} version",
    "revert to image #{k}",
    "#{k} was better, use that",
    "let's go back to the {ord} picture",
    "work on #{k} again",
    "return to the {ord} image",
    "pick #{k} up again",
    "can I have #{k} back?",
    "let's use the {ord} one again",
    "return to #{k}",
    "switch to #{k} again",
    "revert back to #{k}",
    "take me back to the {ord} picture",
    "I liked the {ord} one more, go back to it",
    "continue from #{k}",
]
REVERT_ORIGINAL = [
    "the original was better, bring it back",
    "go back to the original",
    "restore the original",
    "back to the original please",
    "revert to the original",
    "I want the original back",
    "return to the original image",
    "use the original again",
    "let's go back to the very first one",
    "bring back the original picture",
    "restore the original image",
    "can we go back to the original?",
    "take me back to the original",
    "start over from the original",
    "original please",
    "revert everything back to the original",
    "let's go back to the first version",
    "reset it to the original",
    "I want the very first image back",
]
REVERT_RESPONSES = ["Back to #{k}.", "Image #{k} is current again.", "Returning to #{k}."]


def revert(ctx: Ctx) -> Request:
    k = ctx.target or 1
    if k == 1 and ctx.rng.random() < 0.3:
        text = ctx.phrase("original", REVERT_ORIGINAL)
    else:
        text = ctx.phrase("ask", REVERT, k=str(k), ord=vocab.ORDINALS.get(k, f"#{k}"))
    return Request(text, {"image": f"#{k}"}, _responses(ctx, REVERT_RESPONSES, k=str(k)))


_edit = dict(needs_image=True)
TEMPLATES: dict[str, IntentTemplate] = {
    # generate
    "text2image": IntentTemplate(text2image, needs_image=False, ref_style=None, weight=1.0, opening_weight=3.6),
    "sketch2image": IntentTemplate(
        _controlled(SKETCH),
        ref_style=None,
        weight=0.3,
        attach_rate=1.0,
        opening_upload=3.0,
        attach_phrasings=SKETCH_ATTACH,
        **_edit,
    ),
    "canny2image": IntentTemplate(_controlled(CANNY, detail=True), weight=0.6, **_edit),
    "depth2image": IntentTemplate(_controlled(DEPTH), weight=0.6, **_edit),
    "blend": IntentTemplate(blend, ref_style=None, weight=1.5, min_images=2, opening_upload=0.0, **_edit),
    # restyle. img2img outweighs the three presets together: the presets are a rule on a few
    # words, learnt from few turns, and an unseen style word must default to img2img
    "img2img": IntentTemplate(img2img, weight=1.5, **_edit),
    "style_anime": IntentTemplate(preset("style_anime"), weight=0.5, **_edit),
    "style_watercolor": IntentTemplate(preset("style_watercolor"), weight=0.5, **_edit),
    "style_sketch": IntentTemplate(preset("style_sketch"), weight=0.5, **_edit),
    "variation": IntentTemplate(variation, weight=0.7, **_edit),
    # edit
    "instruct_edit": IntentTemplate(instruct_edit, weight=1.2, **_edit),
    "inpaint": IntentTemplate(inpaint, weight=1.0, **_edit),
    "replace_object": IntentTemplate(replace_object, weight=0.9, **_edit),
    "remove_object": IntentTemplate(remove_object, weight=0.9, **_edit),
    "change_background": IntentTemplate(change_background, weight=0.8, **_edit),
    "outpaint": IntentTemplate(outpaint, weight=0.6, **_edit),
    "pan": IntentTemplate(pan, weight=0.6, **_edit),
    "upscale": IntentTemplate(upscale, weight=0.6, **_edit),
    "remove_background": IntentTemplate(remove_background, weight=0.6, opening_upload=1.5, **_edit),
    "colorize": IntentTemplate(colorize, weight=0.4, attach_rate=0.5, opening_upload=3.0, **_edit),
    "adjust": IntentTemplate(adjust, weight=0.9, **_edit),
    "transform": IntentTemplate(transform, weight=0.8, **_edit),
    "filter": IntentTemplate(filter_, weight=0.8, **_edit),
    "add_text": IntentTemplate(add_text, weight=0.7, **_edit),
    # describe and talk
    "vqa": IntentTemplate(
        vqa, needs_image=True, ref_style="question", weight=0.9, changes_image=False, opening_upload=2.0
    ),
    "describe": IntentTemplate(
        describe, needs_image=True, ref_style="question", weight=0.5, changes_image=False, opening_upload=2.0
    ),
    "chat": IntentTemplate(
        chat, needs_image=False, ref_style=None, weight=0.4, opening_weight=0.8, changes_image=False
    ),
    "clarify": IntentTemplate(
        clarify, needs_image=False, ref_style=None, weight=0.5, opening_weight=0.6, changes_image=False
    ),
    "undo": IntentTemplate(undo, needs_image=True, ref_style=None, weight=1.4, changes_image=False),
    "revert": IntentTemplate(revert, needs_image=True, ref_style=None, weight=1.2, changes_image=False),
}


def template_for(intent: str, kind: str | None) -> IntentTemplate | None:
    """The template of an intent: by instance id first (presets), then by kind."""
    return TEMPLATES.get(intent) or (TEMPLATES.get(kind) if kind else None)
