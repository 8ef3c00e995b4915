"""IRPEM benchmark metrics: Intent Switch Accuracy, Parameter Accuracy, Structural
Conformity, per-intent accuracy and the confusion matrix. Pure functions (no torch).

Every assistant turn of a dialogue is one prediction (``eval.dialogues.Case`` + the raw
string the intent model produced). The rules, precisely:

Predicted intent
    The raw string is parsed with ``json.loads``. If it is a JSON object whose ``"intent"``
    is a string, that string is the predicted intent (even when the output fails schema
    validation: ISA measures the intent choice, Structural Conformity the form). Anything
    else is the predicted intent ``INVALID_INTENT`` (``"<invalid>"``). Its params are the
    object's ``"params"`` when that is an object, else ``{}``.

Intent Switch Accuracy (ISA)
    Share of turns whose predicted intent equals the gold intent (exact string match).

Tokenization: ``key_terms(text)``
    Lowercase; possessive ``'s`` and apostrophes removed; words are maximal runs of Unicode
    letters/digits; words in ``STOPWORDS`` (a small English function-word list plus
    request fillers such as "please", "make", "no", "without") and one-letter words are
    dropped; simple plural normalization (``-ies`` -> ``-y``; ``-ses/-xes/-zes/-ches/-shes``
    -> drop ``es``; other ``-s`` -> drop it, except ``-ss/-us/-is``; only words longer than
    3 letters). The same function tokenizes gold, predictions and negatives.

Parameter fields are classified by name and value (``_field_class``):
    * negative text: names in ``NEGATIVE_TEXT_FIELDS`` (``negative_prompt``);
    * image reference: the intent's image fields (``Registry.image_fields``; ``IMAGE_FIELDS``
      when scored without a registry), or a string matching ``IMAGE_REF_PATTERN`` ("#n");
    * enumerated: names in ``ENUM_FIELDS`` (``property``, ``scale``), fields typed
      ``Literal`` in the intent's Inputs model, and booleans;
    * numeric: ints and floats (not bools);
    * positive text: every other string (prompt, instruction, target, question, region...).
    ``response`` is not a parameter and is not scored here.

Parameter Accuracy: ``parameter_score`` -> ``ParamScore``; each part in [0, 1]
    total = ``W_KEY_TERMS`` (0.4) * key_terms + ``W_CONDITIONS`` (0.3) * conditions
          + ``W_NEGATIVES`` (0.3) * negatives.
    A wrong intent scores 0 on every part (its params mean something else).
    * key_terms: the fraction of gold key terms (union over gold positive-text params) that
      occur among the predicted key terms (union over predicted positive-text params);
      1.0 when gold has no key terms. Extra predicted words are not penalized.
    * conditions: the mean over the checked non-text params, 1.0 when none is checked.
      - numeric, checked when gold sets it: a match when
        ``|pred - gold| <= max(NUM_REL_TOL * |gold|, NUM_ABS_TOL)`` (10 %, or 0.05 absolute,
        which decides for values in [-1, 1]);
      - enumerated, checked when gold sets it: equal (strings case-insensitively);
      - a numeric/enumerated param the prediction omits takes its default (the pipeline
        instance's config default, else the Inputs model's default; a registry is needed
        for this), and with no default it is a miss;
      - image references, checked when gold or prediction sets one: an omitted ref means
        the current image (``current_image``; "#n"), so omitting it is right exactly when
        gold's ref is the current image. If both sides resolve to nothing, it is skipped.
    * negatives: each gold negative term (``Case.negatives``, e.g. "people") scores 1 when
      all its key terms appear in a predicted negative-text field AND none of them appears
      in a predicted positive-text field ("a street without people" leaks "people": the
      diffusion model would draw them); the part is the mean over the negatives, 1.0 when
      there are none. With a registry, negatives are only checked for intents whose Inputs
      have a negative-text field (instruct_edit's "remove the people" is not a leak);
      otherwise the part is 1.0.
    ``parameter_accuracy`` (report) is the mean total over the turns whose intent is right,
    as the paper scores parameters only there; ``parameter_accuracy_all`` averages over all
    turns with wrong intents at 0.

Structural Conformity: ``structure_score`` -> ``StructScore``
    total = ``W_VALID`` (0.6) * valid + ``W_CLEAN`` (0.4) * clean.
    * valid = 1.0 when ``registry.validate(raw, enabled)`` accepts the raw string (valid
      JSON of the IRPEM schema, enabled intent, inputs in range), else 0.0.
    * clean = 1.0 unless one of the text fields (every string value in params except image
      refs, and the response; the whole raw string when it is not a JSON object) shows:
      - repetition: a word n-gram of ``REPEAT_NGRAM`` (3) words occurring
        ``REPEAT_MIN_COUNT`` (3) or more times (overlapping) in one field; one word
        ``WORD_RUN`` (4) or more times in a row; one non-digit, non-space character
        ``CHAR_RUN`` (6) or more times in a row ("tjjjjjj", "!!!!!!");
      - garbage: a control/format/private/unassigned character other than newline, tab
        and carriage return, or the replacement character U+FFFD; letters of more than one
        script in one word (e.g. Latin + Cyrillic "сat"; Hiragana/Katakana/CJK count as one
        script); or a share of non-alphanumeric, non-space characters above
        ``SYMBOL_SHARE_MAX`` (0.3) in a field of at least ``SYMBOL_MIN_CHARS`` (8)
        non-space characters. Then clean = 0.0.

Reports: ``score_predictions`` -> ``IntentReport`` with the means above, per-intent accuracy
(by gold intent: correct, total, accuracy), the confusion matrix ``{gold: {pred: count}}``
and one record per case. ``IntentReport.to_dict()`` is JSON-ready.
"""

from __future__ import annotations

import json
import re
import typing
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from engine.registry import BUILTINS, IMAGE_REF_PATTERN, IntentError

if TYPE_CHECKING:
    from engine.registry import Registry
    from eval.dialogues import Case

INVALID_INTENT = "<invalid>"

# ----- weights -----
W_KEY_TERMS, W_CONDITIONS, W_NEGATIVES = 0.4, 0.3, 0.3
W_VALID, W_CLEAN = 0.6, 0.4

# ----- condition tolerances -----
NUM_REL_TOL = 0.10
NUM_ABS_TOL = 0.05

# ----- field classes -----
NEGATIVE_TEXT_FIELDS = frozenset({"negative_prompt"})
IMAGE_FIELDS = frozenset({"image"})
ENUM_FIELDS = frozenset({"property", "scale"})

# ----- repetition and garbage -----
REPEAT_NGRAM = 3
REPEAT_MIN_COUNT = 3
WORD_RUN = 4
CHAR_RUN = 6
SYMBOL_SHARE_MAX = 0.3
SYMBOL_MIN_CHARS = 8
_ALLOWED_CONTROLS = frozenset("\n\t\r")
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_SAME_SCRIPT = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "CJK": "CJK"}

STOPWORDS = frozenset(
    """
a an the and or but of in on at to into onto with without no not nor for from by as about
is are was were be been being am it its it's this that these those there here than then
so very too just also some any all each every more less most least
i me my we us our you your he him his she her they them their
please make let can could would will should do does did have has had get
""".split()
)

_REF_RE = re.compile(IMAGE_REF_PATTERN)
_WORD_RE = re.compile(r"[^\W_]+")
_STR_RE = re.compile(r'"((?:[^"\\]|\\.)*)"?(\s*:)?', re.S)
_CHAR_RUN_RE = re.compile(rf"([^\d\s])\1{{{CHAR_RUN - 1},}}")


# ----- tokenization -----


def _singular(word: str) -> str:
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def key_terms(text: str) -> set[str]:
    """The content words of ``text`` (see the module docstring for the rules)."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"'s\b", "", text).replace("'", "")
    out = set()
    for w in _WORD_RE.findall(text):
        if len(w) < 2 and not w.isdigit():
            continue
        if w in STOPWORDS:
            continue
        out.add(_singular(w))
    return out


# ----- parsing -----


def parse_output(raw: str | dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(predicted intent, params) of a raw output; ``INVALID_INTENT`` when unparseable."""
    obj: Any = raw
    if isinstance(raw, str):
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return INVALID_INTENT, {}
    if not isinstance(obj, dict) or not isinstance(obj.get("intent"), str):
        return INVALID_INTENT, {}
    params = obj.get("params")
    return obj["intent"], params if isinstance(params, dict) else {}


# ----- parameter accuracy -----


@dataclass(frozen=True)
class ParamScore:
    key_terms: float
    conditions: float
    negatives: float
    total: float


def _inputs_model(registry: Registry | None, intent: str):
    if registry is None:
        return None
    try:
        return registry.inputs_model(intent)
    except KeyError:
        return None


def _is_literal(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Literal:
        return True
    return any(_is_literal(a) for a in typing.get_args(annotation))


def _field_class(name: str, value: Any, model: Any = None, image_fields: frozenset = IMAGE_FIELDS) -> str:
    """One of "negative", "image", "enum", "numeric", "text", "other"."""
    if name in NEGATIVE_TEXT_FIELDS:
        return "negative"
    if name in image_fields or (isinstance(value, str) and _REF_RE.match(value)):
        return "image"
    if name in ENUM_FIELDS or isinstance(value, bool):
        return "enum"
    if model is not None and name in model.model_fields and _is_literal(model.model_fields[name].annotation):
        return "enum"
    if isinstance(value, (int, float)):
        return "numeric"
    if isinstance(value, str):
        return "text"
    return "other"


def _terms_of(params: dict[str, Any], cls: str, model: Any, image_fields: frozenset) -> set[str]:
    terms: set[str] = set()
    for name, value in params.items():
        if isinstance(value, str) and _field_class(name, value, model, image_fields) == cls:
            terms |= key_terms(value)
    return terms


def _default(registry: Registry | None, intent: str, name: str) -> Any:
    model = _inputs_model(registry, intent)
    if model is None:
        return None
    if intent in getattr(registry, "instances", {}):
        defaults = registry.instances[intent].defaults or {}
        if name in defaults:
            return defaults[name]
    f = model.model_fields.get(name)
    if f is None or f.is_required():
        return None
    return f.get_default(call_default_factory=True)


def _num_match(pred: Any, gold: float) -> bool:
    if isinstance(pred, bool) or not isinstance(pred, (int, float)):
        return False
    return abs(pred - gold) <= max(NUM_REL_TOL * abs(gold), NUM_ABS_TOL)


def _enum_match(pred: Any, gold: Any) -> bool:
    if isinstance(pred, str) and isinstance(gold, str):
        return pred.casefold() == gold.casefold()
    return pred == gold and type(pred) is type(gold)


def _ref(value: Any, current_image: int | None) -> str | None:
    if value is None:
        return None if current_image is None else f"#{current_image}"
    return str(value).strip()


def parameter_score(
    pred: dict[str, Any] | str | None,
    gold: dict[str, Any],
    negatives: list[str],
    *,
    current_image: int | None = None,
    registry: Registry | None = None,
) -> ParamScore:
    """Score one prediction's params against gold (both full IRPEM outputs, ``pred`` may be
    the raw string). ``current_image`` is the session image an omitted ref means; with a
    ``registry``, omitted numeric/enum params take their defaults and the field classes
    follow the intent's Inputs model."""
    pred_intent, pp = parse_output(pred)
    gold_intent = gold["intent"]
    gp = gold.get("params") or {}
    if pred_intent != gold_intent:
        return ParamScore(0.0, 0.0, 0.0, 0.0)
    model = _inputs_model(registry, gold_intent)
    image_fields = IMAGE_FIELDS
    if registry is not None and (gold_intent in registry.instances or gold_intent in BUILTINS):
        image_fields = frozenset(registry.image_fields(gold_intent))

    # key-term inclusion
    gold_terms = _terms_of(gp, "text", model, image_fields)
    pred_terms = _terms_of(pp, "text", model, image_fields)
    key = len(gold_terms & pred_terms) / len(gold_terms) if gold_terms else 1.0

    # condition adherence
    checks: list[bool] = []
    names = list(gp) + [n for n in pp if n not in gp]
    for name in names:
        gv = gp.get(name)
        pv = pp.get(name)
        cls = _field_class(name, gv if name in gp else pv, model, image_fields)
        if cls == "image":
            g, p = _ref(gv, current_image), _ref(pv, current_image)
            if g is None and p is None:
                continue
            checks.append(g == p)
        elif name not in gp or gv is None:
            continue
        elif cls in ("numeric", "enum"):
            if name not in pp or pv is None:
                pv = _default(registry, gold_intent, name)
            checks.append(_num_match(pv, gv) if cls == "numeric" else _enum_match(pv, gv))
    cond = sum(checks) / len(checks) if checks else 1.0

    # negative vocabulary
    neg = 1.0
    applies = model is None or any(n in NEGATIVE_TEXT_FIELDS for n in model.model_fields)
    neg_terms = [t for t in (key_terms(n) for n in negatives) if t]
    if neg_terms and applies:
        pred_neg = _terms_of(pp, "negative", model, image_fields)
        ok = [terms <= pred_neg and not (terms & pred_terms) for terms in neg_terms]
        neg = sum(ok) / len(ok)

    total = W_KEY_TERMS * key + W_CONDITIONS * cond + W_NEGATIVES * neg
    return ParamScore(key, cond, neg, total)


# ----- structural conformity -----


@dataclass(frozen=True)
class StructScore:
    valid: float
    clean: float
    total: float
    problems: tuple[str, ...] = ()


def _script(ch: str) -> str:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return "UNKNOWN"
    words = name.split()
    first = words[1] if words[0] in ("FULLWIDTH", "HALFWIDTH") and len(words) > 1 else words[0]
    return _SAME_SCRIPT.get(first, first)


def text_problems(text: str) -> list[str]:
    """Why a text field is not clean (empty list: clean). Rules in the module docstring."""
    problems = []
    words = [w.lower() for w in _WORD_RE.findall(text)]
    grams = Counter(tuple(words[i : i + REPEAT_NGRAM]) for i in range(len(words) - REPEAT_NGRAM + 1))
    if grams and max(grams.values()) >= REPEAT_MIN_COUNT:
        gram, count = grams.most_common(1)[0]
        problems.append(f"repeated {REPEAT_NGRAM}-gram {' '.join(gram)!r} x{count}")
    run = 1
    for a, b in zip(words, words[1:]):
        run = run + 1 if a == b else 1
        if run >= WORD_RUN:
            problems.append(f"word {a!r} repeated {run}+ times in a row")
            break
    m = _CHAR_RUN_RE.search(text)
    if m:
        problems.append(f"character {m.group(1)!r} repeated {len(m.group(0))} times")
    for ch in text:
        if ch == "\ufffd" or (ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in _BAD_CATEGORIES):
            problems.append(f"non-printable character U+{ord(ch):04X}")
            break
    for w in _WORD_RE.findall(text):
        scripts = {_script(c) for c in w if unicodedata.category(c).startswith("L")}
        if len(scripts) > 1:
            problems.append(f"mixed scripts in {w!r} ({'+'.join(sorted(scripts))})")
            break
    chars = [c for c in text if not c.isspace()]
    if len(chars) >= SYMBOL_MIN_CHARS:
        share = sum(not c.isalnum() for c in chars) / len(chars)
        if share > SYMBOL_SHARE_MAX:
            problems.append(f"symbol share {share:.2f} > {SYMBOL_SHARE_MAX}")
    return problems


def _string_literals(raw: str) -> list[str]:
    """The JSON string values of a broken JSON text (keys left out; an unterminated last
    string included), or the whole text when it has no string literal (prose)."""
    out = []
    for m in _STR_RE.finditer(raw):
        if m.group(2):  # a key
            continue
        try:
            out.append(json.loads('"' + m.group(1) + '"'))
        except json.JSONDecodeError:
            out.append(m.group(1))
    return out if '"' in raw else [raw]


def _text_fields(raw: str) -> list[str]:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        return [t for t in _string_literals(raw) if not _REF_RE.match(t)]
    out = []
    if isinstance(obj.get("response"), str):
        out.append(obj["response"])
    params = obj.get("params")
    if isinstance(params, dict):
        out += [v for v in params.values() if isinstance(v, str) and not _REF_RE.match(v)]
    return out


def structure_score(raw: str, registry: Registry, enabled: list[str] | None = None) -> StructScore:
    """Validity against the registry's schema (0.6) and cleanliness of the text (0.4)."""
    problems: list[str] = []
    try:
        registry.validate(raw, enabled)
        valid = 1.0
    except (IntentError, RecursionError) as err:
        valid = 0.0
        problems.append(f"invalid: {err}")
    clean_problems = [p for t in _text_fields(raw) for p in text_problems(t)]
    clean = 0.0 if clean_problems else 1.0
    return StructScore(valid, clean, W_VALID * valid + W_CLEAN * clean, tuple(problems + clean_problems))


# ----- the report -----


@dataclass
class CaseRecord:
    dialogue_id: str
    turn_index: int
    gold_intent: str
    pred_intent: str
    param_total: float
    struct_total: float
    request: str = ""  # the user turn answered, so a report can show what was misread
    phrasings: list[str] = field(default_factory=list)  # the wording's ids, where the data has them


@dataclass
class IntentReport:
    n: int
    isa: float
    parameter_accuracy: float  # over turns with the right intent (paper)
    parameter_accuracy_all: float  # over all turns, wrong intent = 0
    param_n: int  # turns with the right intent
    key_terms: float  # the three parts, over turns with the right intent
    conditions: float
    negatives: float
    structural_conformity: float
    structure_valid: float
    structure_clean: float
    per_intent: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    records: list[CaseRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["per_intent"] = per_intent_rows(self.per_intent)
        return d


def intent_tallies(
    pairs: Iterable[tuple[str, str]],
) -> tuple[dict[str, tuple[int, int, float]], dict[str, dict[str, int]]]:
    """Per gold intent (correct, total, accuracy), and the confusion counts gold -> predicted,
    from (gold, predicted) intent pairs."""
    per: dict[str, list[int]] = {}
    confusion: dict[str, dict[str, int]] = {}
    for gold, pred in pairs:
        c = per.setdefault(gold, [0, 0])
        c[0] += pred == gold
        c[1] += 1
        row = confusion.setdefault(gold, {})
        row[pred] = row.get(pred, 0) + 1
    return (
        {k: (c, t, c / t) for k, (c, t) in sorted(per.items())},
        {k: dict(sorted(v.items())) for k, v in sorted(confusion.items())},
    )


def per_intent_rows(per_intent: dict[str, tuple[int, int, float]]) -> dict[str, dict[str, Any]]:
    """``per_intent`` as report.json writes it."""
    return {k: {"correct": c, "total": t, "accuracy": a} for k, (c, t, a) in per_intent.items()}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def score_predictions(
    items: list[tuple[Case, str]], registry: Registry, enabled: list[str] | None = None
) -> IntentReport:
    """Score (case, raw prediction) pairs; see the module docstring for every rule."""
    records: list[CaseRecord] = []
    right: list[ParamScore] = []
    param_all: list[float] = []
    structs: list[StructScore] = []
    for case, raw in items:
        gold_intent = case.gold["intent"]
        pred_intent, _ = parse_output(raw)
        ps = parameter_score(raw, case.gold, case.negatives, current_image=case.current_image, registry=registry)
        ss = structure_score(raw, registry, enabled)
        ok = pred_intent == gold_intent
        if ok:
            right.append(ps)
        param_all.append(ps.total)
        structs.append(ss)
        request = next((t.text for t in reversed(case.context) if t.role == "user"), "")
        records.append(
            CaseRecord(
                case.dialogue_id,
                case.turn_index,
                gold_intent,
                pred_intent,
                ps.total,
                ss.total,
                request,
                list(case.phrasings),
            )
        )
    n = len(records)
    per_intent, confusion = intent_tallies((r.gold_intent, r.pred_intent) for r in records)
    return IntentReport(
        n=n,
        isa=len(right) / n if n else 0.0,
        parameter_accuracy=_mean([p.total for p in right]),
        parameter_accuracy_all=_mean(param_all),
        param_n=len(right),
        key_terms=_mean([p.key_terms for p in right]),
        conditions=_mean([p.conditions for p in right]),
        negatives=_mean([p.negatives for p in right]),
        structural_conformity=_mean([s.total for s in structs]),
        structure_valid=_mean([s.valid for s in structs]),
        structure_clean=_mean([s.clean for s in structs]),
        per_intent=per_intent,
        confusion=confusion,
        records=records,
    )
