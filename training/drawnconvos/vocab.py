"""Word lists of DrawnConvos, each split into a training pool and a held-out TEST pool.

Subjects are built as "<adjective> <noun>" from two lists, so a few hundred words give tens
of thousands of subjects. Every list is partitioned by position (``held_out``): TEST
dialogues draw only from the held-out share and SFT/RLHF dialogues only from the rest, so
a TEST score measures generalization to unseen words, not memory.
"""

from __future__ import annotations

from typing import Sequence, TypeVar

T = TypeVar("T")

# One item in HELD_OUT_EVERY goes to TEST; the offset keeps the first item of each list in
# training (lists start with their most ordinary members).
HELD_OUT_EVERY = 5
HELD_OUT_OFFSET = 2


def is_held_out(index: int) -> bool:
    return index % HELD_OUT_EVERY == HELD_OUT_OFFSET


def pool(items: Sequence[T], split: str) -> list[T]:
    """The members of ``items`` that ``split`` may use ("test" or any training split)."""
    test = split == "test"
    return [x for i, x in enumerate(items) if is_held_out(i) == test]


NOUNS = [
    "cat", "dog", "fox", "owl", "horse", "rabbit", "dragon", "robot", "castle", "lighthouse",
    "tiger", "wolf", "bear", "penguin", "elephant", "giraffe", "whale", "dolphin", "octopus", "turtle",
    "frog", "parrot", "eagle", "hummingbird", "butterfly", "bee", "deer", "moose", "raccoon", "hedgehog",
    "squirrel", "koala", "panda", "lion", "cheetah", "zebra", "camel", "flamingo", "swan", "peacock",
    "unicorn", "phoenix", "griffin", "mermaid", "wizard", "knight", "samurai", "astronaut", "pirate", "ninja",
    "ballerina", "chef", "farmer", "fisherman", "gardener", "detective", "scientist", "violinist", "skater", "surfer",
    "cottage", "windmill", "cathedral", "temple", "pagoda", "bridge", "tower", "treehouse", "greenhouse", "barn",
    "sailboat", "steam train", "hot air balloon", "bicycle", "motorcycle", "vintage car", "spaceship", "submarine", "airship", "tram",
    "teapot", "bowl of ramen", "cupcake", "pizza", "bonsai tree", "sunflower", "cactus", "mushroom", "rose", "cherry tree",
    "waterfall", "volcano", "glacier", "canyon", "island", "desert oasis", "mountain lake", "coral reef", "meadow", "bamboo forest",
    "city street", "market stall", "library", "cafe", "train station", "harbor", "village square", "rooftop garden", "subway car", "bakery",
    "chess board", "pocket watch", "typewriter", "guitar", "piano", "lantern", "umbrella", "treasure chest", "crystal ball", "compass",
    "snowman", "scarecrow", "jellyfish", "seahorse", "axolotl", "chameleon", "peregrine falcon", "otter", "beaver", "lynx",
    "golem", "fairy", "troll", "centaur", "kraken", "yeti", "sphinx", "minotaur", "dryad", "gargoyle",
]

ADJECTIVES = [
    "red", "tiny", "giant", "fluffy", "ancient", "futuristic", "sleepy", "happy", "grumpy", "golden",
    "silver", "blue", "green", "purple", "orange", "white", "black", "striped", "spotted", "glowing",
    "rusty", "wooden", "crystal", "mechanical", "cozy", "abandoned", "enchanted", "majestic", "curious", "playful",
    "old", "young", "elegant", "shabby", "colorful", "pastel", "neon", "misty", "frozen", "burning",
    "floating", "underwater", "steampunk", "cyberpunk", "medieval", "victorian", "tropical", "arctic", "cosmic", "haunted",
]

SETTINGS = [
    "at sunset", "in a snowy forest", "on a beach", "in space", "under the stars", "in the rain",
    "on a mountain top", "in a busy city", "in a field of flowers", "at dawn", "in the desert",
    "by a river", "in a foggy harbor", "inside a cave", "on the moon", "in an autumn park",
    "at night", "in a jungle", "on a rooftop", "in a library", "at the bottom of the sea",
    "in a wheat field", "on a frozen lake", "in a neon-lit alley", "during a thunderstorm",
    "in a medieval village", "on a cloud", "in a greenhouse", "at a night market", "in the mountains",
]

STYLES = [
    "watercolor", "oil painting", "pixel art", "anime style", "photorealistic", "pencil sketch",
    "ukiyo-e woodblock print", "art nouveau", "impressionist", "cubist", "3d render", "low poly",
    "studio ghibli style", "van gogh style", "charcoal drawing", "comic book style", "stained glass",
    "sumi-e ink wash", "acuarela", "pop art", "vaporwave", "film noir", "claymation", "papercut art",
    "chiaroscuro", "baroque painting", "trompe-l'oeil", "plein air painting", "bauhaus poster", "art deco",
    "gouache", "pastel drawing", "linocut", "mosaic", "graffiti", "minimalist line art",
    "retro 80s poster", "fantasy illustration", "children's book illustration", "isometric",
    # More styles than the presets have words: the model must learn that any style other than a
    # preset's few words is plain img2img, which a short list teaches only for its own members.
    "synthwave", "pointillism", "expressionist painting", "surrealist painting", "renaissance fresco",
    "byzantine icon", "persian miniature", "aboriginal dot painting", "batik", "embroidery",
    "cross-stitch", "origami", "needle felting", "stop-motion", "voxel art",
    "glitch art", "pop surrealism", "cel animation", "rubber hose cartoon", "disney renaissance style",
    "pixar style", "impasto painting", "lego style", "paper quilling", "collage",
    "risograph print", "screen print", "halftone comic", "encaustic painting", "etching",
    "engraving", "blueprint", "technical drawing", "architectural rendering", "tattoo flash",
    "psychedelic poster", "grunge", "steampunk illustration", "cyberpunk digital art", "solarpunk",
    "dieselpunk", "gothic", "rococo painting", "romanticism", "hudson river school",
    "dutch golden age painting", "fauvism", "dadaism", "de stijl", "constructivist poster",
    "soviet propaganda poster", "mid-century modern", "70s album cover", "polaroid photo", "cinematic still",
    "tilt-shift photo", "double exposure", "long exposure photo", "infrared photo", "lomography",
    "matte painting", "concept art", "digital painting", "vector art", "flat design",
    "kawaii chibi", "tarot card", "medieval manuscript", "egyptian hieroglyph style", "mayan mural",
    "gongbi painting", "korean minhwa", "mexican folk art", "talavera pottery pattern", "russian lacquer art",
    "scandinavian folk art", "celtic knotwork", "art brut", "naive art", "neon sign",
    "chalk art on a sidewalk", "sand art", "ice sculpture", "bronze statue", "marble sculpture",
]

# what users exclude ("no people"): negative-prompt terms
NEGATIVES = [
    "people", "text", "watermark", "cars", "clouds", "buildings", "trees", "animals",
    "blur", "signature", "birds", "snow", "shadows", "logos", "frames", "humans",
    "boats", "wires", "fog", "crowds",
]

# edit instructions: "make the sky purple", "add snow"
COLORS = [
    "purple", "blue", "red", "green", "golden", "pink", "orange", "teal", "black", "silver",
    "yellow", "turquoise", "crimson", "lavender", "emerald",
]
PARTS = [
    "sky", "background", "water", "grass", "roof", "walls", "trees", "sea", "ground", "clouds",
    "door", "hair", "eyes", "hat", "car", "flowers", "mountains", "road", "fur", "dress",
]
ADDITIONS = [
    "snow", "a rainbow", "fireworks", "a hat", "sunglasses", "a full moon", "falling leaves", "rain",
    "a small boat", "birds in the sky", "a campfire", "fairy lights", "a scarf", "flowers", "a crown",
    "butterflies", "a reflection in the water", "a shooting star", "bubbles", "lanterns",
]
TRANSFORMS = [
    "make it night time", "make it winter", "make it look like autumn", "make it sunny",
    "make it look older", "make it rainy", "turn day into night", "make it foggy",
    "make it look flooded", "make it springtime", "make it look abandoned", "make it stormy",
    "make everything look frozen", "make it look like dusk", "make it look haunted",
    "make it look like a festival", "make it look overgrown with plants",
]
REMOVALS = [
    "the people", "the car", "the clouds", "the text", "the birds", "the tree", "the boat",
    "the lamp post", "the sign", "the fence",
]

QUESTIONS = [
    "what is in this picture", "what colour is the {part}", "how many {noun}s are there",
    "is there a {noun} in it", "what is the {noun} doing", "what time of day is it",
    "what is in the background", "what is the main colour", "is it daytime or night",
    "what animal is this", "what is the weather like", "what is the {noun} looking at",
    "what is on the left side", "is anyone smiling", "what material is the {noun} made of",
    "what is the {noun} holding", "where is the {noun}", "how old does the {noun} look",
    "what season is it", "is the {noun} facing left or right",
]

ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh"}

# inpaint: a named part repainted in its own shape with a new colour, material or pattern
MATERIALS = [
    "gold", "wood", "glass", "marble", "silk", "denim", "leather", "ice", "chrome", "stone",
    "velvet", "copper", "porcelain", "knitted wool", "crystal", "bronze", "jade", "lego bricks",
]
PATTERNS = [
    "stripes", "polka dots", "a plaid pattern", "leopard print", "a floral pattern",
    "checkerboard squares", "camouflage", "tie-dye", "zebra stripes", "paisley",
]

# change_background / outpaint / pan: what a new area shows
BACKGROUNDS = [
    "a sunny beach", "outer space", "a snowy mountain range", "a busy city street", "a tropical jungle",
    "a starry night sky", "a cozy living room", "an autumn forest", "a desert at sunset", "a neon-lit alley",
    "a field of sunflowers", "a coral reef", "a castle courtyard", "a futuristic city", "a quiet library",
    "a foggy harbor", "a lavender field", "a rainy street", "a mountain lake", "a cherry blossom garden",
    "a blue studio backdrop", "a brick wall", "a pink sunset sky", "the surface of the moon", "a wheat field",
]

# add_text: the words users want on their pictures
CAPTIONS = [
    "Happy Birthday", "hello world", "Monday mood", "best day ever", "I can has cheezburger",
    "when the code finally compiles", "Welcome home", "Merry Christmas", "no thoughts, head empty",
    "Game night", "Congrats Sam!", "this is fine", "Good vibes only", "Team Rocket HQ",
    "Keep calm and draw on", "Save the date", "me after one coffee", "Level up", "Summer 2025",
    "Do not disturb", "Open for business", "Thank you, teachers", "That's all folks", "Gone fishing",
    "Year of the dragon", "nap champion", "Lost cat - please call", "First day of school",
    "Hello from Lisbon", "We did it!",
]
