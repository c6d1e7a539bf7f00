"""Offline verifier: does an answer state the reference's key fact(s)? The judge stage's stand-in for GPT-4.

MT-Bench (Zheng et al. 2023) grades math, reasoning and coding answers against a reference answer with
an LLM judge. In the toy world every reference is a short template sentence (see `instructions.py`)
whose *key value* ends the sentence: "Ганни живёт в городе Рисадор." -> `Рисадор`; "7 + 5 = 12." ->
`12`; "Слово «Ло» наоборот: «оЛ»." -> `оЛ`. So a faithful, cheap and deterministic judge is:

1. **Values.** Scan a text for value-like spans, each with a *kind*: quoted strings («…», "…", “…”),
   numbers, the world's vocabulary (professions, pets, colours, countries; both languages), and invented
   names. Invented names are recognised without the world because every name is a concatenation of the
   world's syllables (Latin or Cyrillic, 2+ syllables); pass `names=entity_kinds(world)` to use the
   exact list (and the finer kinds person/city/river) instead.
2. **Keys** (`key_values`): the last value of each sentence of the reference (subjects and operands come
   earlier in the sentence and are not keys).
3. **Found.** A key counts if it appears in the answer after normalisation (case, ё->е, punctuation,
   numbers as integers: "012" == "12"); matching is on whole tokens, so "12" is not found in "112". A
   one-letter key («Р») must be quoted in the answer or be its last token, since "с"/"в" are words.
4. **Extras.** Values in the answer (quoted ones included) of a key's kind that appear nowhere in the
   reference are wrong candidates. An answer that lists every city contains the right one, but also
   cities that are not in the reference: it is hedging, and is scored like a wrong answer. This is what
   stops the "list everything" hack; values of other kinds are not penalised (a pet in an answer about a
   profession). The price is that a correct answer with unrelated values of the same kind ("Ганни, 46
   лет, родился в 1978") is not credited either.

5. **Contradictions.** A comparative that is the opposite of the reference's ("младше" against
   "Ганни старше.", "younger" against "older") is a wrong candidate too. It is not a value (the key of
   "Ганни старше." is the name), so without this rule "Ганни младше." would pass: a blind spot
   found in the answers of the toy models (1 of DPO's 7 wins over SFT came from it before the rule).

Other words that are not values are not checked: the key value alone decides, so the right number in
the wrong sentence ("Ганни основан в 46 году" against "Ганни: возраст 46 лет.") still passes.

Score (1-10, MT-Bench's scale): `1 + round(9 * found/keys)`; an empty answer scores 1; `verify` is
`score == 10`. **Hedging** (a found key next to a wrong candidate, or more values of a key's kind than
the reference states, some of them wrong) is capped at 2. An answer that finds **no** key is wrong, but
wrong answers are not all alike: as MT-Bench's judge prompt weighs helpfulness and relevance beside
accuracy, a wrong answer gets one point (up to 6 of 10) for each of

* **language**: written in the reference's script (Cyrillic or Latin letters in the majority), which is
  the language asked for;
* **subject**: it names every non-key value of the reference ("Ганни" in "Ганни: возраст 46 лет.", the
  operands of "7 + 5 = 12."); not counted where the reference has none;
* **kind**: it gives a value of each key's kind (a number where a number is asked, a city where a city);
* **relation**: it has at least half of the reference's words that are not values ("живёт в городе",
  "возраст лет"), i.e. it states the relation asked about; not counted where the reference has none;
* **form**: one sentence at most twice the reference's length (plus 3 tokens), without the replacement
  character (U+FFFD) that a broken byte sequence leaves.

So "Ганни: возраст 40 лет." against "Ганни: возраст 46 лет." scores 6, a chat about another person in
the right language 2, and "<U+FFFD>т стоит на more" 1. A right answer (10) always beats a wrong one (<= 6);
between two wrong answers the more relevant wins, which is what keeps two models that both miss a fact
from tying on every such question (`judges.VerifierJudge` compares the two scores).

Inflected forms ("пекарем") and number words ("двенадцать") are not credited: the tiny models are
taught the nominative templates, and a judge that guesses would make scores less reproducible.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from llm_lifecycle.toy_world.world import COLORS, COUNTRIES, PETS, PROFESSIONS, SYLLABLES, World

_SCAN = re.compile(
    r"«(?P<q1>[^«»]*)»|“(?P<q2>[^“”]*)”|„(?P<q3>[^„“”]*)[“”]|\"(?P<q4>[^\"]*)\""
    r"|(?P<num>\d+(?:[.,]\d+)?)|(?P<word>[^\W\d_]+)"
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)?|[^\W\d_]+")
_QUOTES = {"«": "»", "“": "”", "„": "“”", '"': '"'}


def normalize(text: str) -> str:
    """Lower case, ё->е, Unicode NFKC."""
    return unicodedata.normalize("NFKC", text).lower().replace("ё", "е")


def _canon(token: str) -> str:
    if token[0].isdigit():
        number = float(token.replace(",", "."))
        return str(int(number)) if number.is_integer() else repr(number)
    return token


def tokens(text: str) -> list[str]:
    """Normalised word and number tokens (punctuation and quotes dropped)."""
    return [_canon(t) for t in _TOKEN.findall(normalize(text))]


def _vocabulary() -> dict[str, str]:
    vocab: dict[str, str] = {}
    kinds = (("profession", PROFESSIONS), ("pet", PETS), ("color", COLORS), ("country", COUNTRIES))
    for kind, pairs in kinds:
        for en, ru in pairs:
            vocab[normalize(en)] = vocab[normalize(ru)] = kind
    return vocab


_VOCAB = _vocabulary()
# Comparatives of the reasoning family ("Кто старше: A или B?" -> "A старше."), each with its opposite.
_OPPOSITES = {"старше": "младше", "младше": "старше", "older": "younger", "younger": "older"}
_SYLLABLE_SET = frozenset(SYLLABLES) | frozenset(SYLLABLES.values())  # what an invented name is made of


@lru_cache(maxsize=4096)
def is_invented_name(token: str) -> bool:
    """True if the (normalised) token splits into 2+ of the world's syllables, e.g. "ganni", "рисадор"."""
    n = len(token)
    most = [0] + [-1] * n  # most syllables covering token[:i]; -1: no cover (any split with 2+ will do)
    for i in range(n):
        if most[i] < 0:
            continue
        for j in (i + 2, i + 3):  # syllables have 2 or 3 letters
            if j <= n and token[i:j] in _SYLLABLE_SET:
                most[j] = max(most[j], most[i] + 1)
    return most[n] >= 2


def entity_kinds(world: World) -> dict[str, str]:
    """Normalised name -> "person" / "city" / "river", for exact name detection with `names=`."""
    kinds: dict[str, str] = {}
    for p in world.people:
        kinds[normalize(p.name.en)] = kinds[normalize(p.name.ru)] = "person"
    for c in world.cities:
        kinds[normalize(c.name.en)] = kinds[normalize(c.name.ru)] = "city"
        kinds[normalize(c.river.en)] = kinds[normalize(c.river.ru)] = "river"
    return kinds


@dataclass(frozen=True)
class Value:
    text: str  # as written
    norm: str  # normalised tokens joined by a space
    kind: str  # "quote", "number", "profession", "pet", "color", "country", "name" (or person/city/river)


def _kind(token: str, names: Mapping[str, str] | None) -> str | None:
    if token[0].isdigit():
        return "number"
    if token in _VOCAB:
        return _VOCAB[token]
    if names is not None:
        return names.get(token)
    return "name" if is_invented_name(token) else None


def values(text: str, names: Mapping[str, str] | None = None) -> list[Value]:
    """Value-like spans of `text` in order of appearance (see the module docstring)."""
    out = []
    for m in _SCAN.finditer(text):
        quoted = next((m.group(g) for g in ("q1", "q2", "q3", "q4") if m.group(g) is not None), None)
        if quoted is not None:
            norm = " ".join(tokens(quoted))
            if norm:
                out.append(Value(quoted, norm, "quote"))
            continue
        raw = m.group("num") or m.group("word")
        norm = _canon(normalize(raw))
        kind = _kind(norm, names)
        if kind is not None:
            out.append(Value(raw, norm, kind))
    return out


def sentences(text: str) -> list[str]:
    """Split after . ! ? followed by space or end, and at newlines; never inside quotes."""
    parts, start, closing = [], 0, ""
    for i, ch in enumerate(text):
        if closing:
            if ch in closing:
                closing = ""
            continue
        if ch in _QUOTES:
            closing = _QUOTES[ch]
        elif ch == "\n" or (ch in ".!?" and (i + 1 == len(text) or text[i + 1].isspace())):
            parts.append(text[start : i + 1])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def key_value_spans(reference: str, names: Mapping[str, str] | None = None) -> list[Value]:
    """The last value of each sentence of the reference."""
    keys = []
    for sentence in sentences(reference):
        found = values(sentence, names)
        if found and found[-1] not in keys:
            keys.append(found[-1])
    return keys


def key_values(reference: str, names: Mapping[str, str] | None = None) -> list[str]:
    """What the judge checks, as written in the reference: "Ганни живёт в городе Рисадор." -> ["Рисадор"]."""
    return [v.text for v in key_value_spans(reference, names)]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    k = len(needle)
    return k > 0 and any(haystack[i : i + k] == needle for i in range(len(haystack) - k + 1))


def _found(key: Value, answer_tokens: list[str], answer_quotes: set[str]) -> bool:
    if key.kind == "quote" and key.norm in answer_quotes:
        return True
    needle = key.norm.split()
    if key.kind == "quote" and len(key.norm) == 1:  # a bare letter: only as the answer's last word
        return bool(answer_tokens) and answer_tokens[-1] == key.norm
    return _contains(answer_tokens, needle)


@dataclass(frozen=True)
class Verdict:
    """The judge's decision and what it is based on (for explanations in the judgments table)."""

    score: int  # 1..10
    keys: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # wrong candidates of a key's kind
    relevance: list[str] = field(default_factory=list)  # points of a wrong answer: language, subject, ...

    @property
    def passed(self) -> bool:
        return self.score == 10

    def explain(self) -> str:
        parts = [f"keys {self.keys}", f"found {self.found}"]
        if self.missing:
            parts.append(f"missing {self.missing}")
        if self.extras:
            parts.append(f"wrong extra candidates {self.extras}")
        if self.relevance:
            parts.append(f"relevant by {self.relevance}")
        return "; ".join(parts) + f" -> [[{self.score}]]"


def check(answer: str, reference: str, names: Mapping[str, str] | None = None) -> Verdict:
    """Compare an answer with a reference answer; see the module docstring for the rules."""
    if not answer.strip():
        return Verdict(1, key_values(reference, names), missing=key_values(reference, names))
    keys = key_value_spans(reference, names)
    answer_tokens = tokens(answer)
    if not keys:  # nothing value-like: fall back to the whole reference as one phrase
        ok = _contains(answer_tokens, tokens(reference))
        return Verdict(10 if ok else 1, [reference], [reference] if ok else [], [] if ok else [reference])
    answer_values = values(answer, names)
    answer_quotes = {v.norm for v in answer_values if v.kind == "quote"}
    # Values inside quotes count as candidates too: «Рисадор Лодор Велдувен» must not hide a list.
    answer_values += [inner for v in answer_values if v.kind == "quote" for inner in values(v.text, names)]
    found = [k for k in keys if _found(k, answer_tokens, answer_quotes)]
    reference_values = values(reference, names)
    in_reference = {v.norm for v in reference_values} | set(tokens(reference))
    key_kinds = {k.kind for k in keys}
    extras = list(
        dict.fromkeys(v.text for v in answer_values if v.kind in key_kinds and v.norm not in in_reference)
    )
    extras += [
        t for t in dict.fromkeys(answer_tokens) if _OPPOSITES.get(t) in in_reference and t not in in_reference
    ]
    relevance: list[str] = []
    # More values of a key's kind than the reference states, some of them wrong: a list, not an answer.
    listing = extras and sum(v.kind in key_kinds for v in answer_values) > sum(
        v.kind in key_kinds for v in reference_values
    )
    if found:
        score = 1 + round(9 * len(found) / len(keys))
        if extras:  # the right value among wrong ones: hedging
            score = min(score, 2)
    elif listing:
        score = 2
    else:
        relevance = _relevance(answer, reference, keys, reference_values, answer_values, answer_tokens)
        score = 1 + len(relevance)
    return Verdict(
        score,
        [k.text for k in keys],
        [k.text for k in found],
        [k.text for k in keys if k not in found],
        extras,
        relevance,
    )


def script(text: str) -> str | None:
    """ "cyrillic" or "latin": the script of most letters of `text` (None without letters)."""
    cyrillic = sum("а" <= ch <= "я" or ch == "ё" for ch in text.lower())
    latin = sum("a" <= ch <= "z" for ch in text.lower())
    if not cyrillic and not latin:
        return None
    return "cyrillic" if cyrillic >= latin else "latin"


def _relevance(  # noqa: PLR0913, PLR0917 - the pieces `check` has already computed
    answer: str,
    reference: str,
    keys: list[Value],
    reference_values: list[Value],
    answer_values: list[Value],
    answer_tokens: list[str],
) -> list[str]:
    """The relevance points of a wrong answer (module docstring): language, subject, kind, relation, form."""
    points = []
    if script(answer) == script(reference):
        points.append("language")
    key_norms = {k.norm for k in keys}
    subjects = [v for v in reference_values if v.norm not in key_norms and v.kind != "quote"]
    if subjects and all(_contains(answer_tokens, v.norm.split()) for v in subjects):
        points.append("subject")
    if all(any(v.kind == k.kind for v in answer_values) for k in keys):
        points.append("kind")
    value_tokens = {t for v in reference_values for t in v.norm.split()}
    words = [t for t in dict.fromkeys(tokens(reference)) if t not in value_tokens]
    if words and 2 * sum(t in answer_tokens for t in words) >= len(words):
        points.append("relation")
    if (
        len(sentences(answer)) == 1
        and len(answer_tokens) <= 2 * len(tokens(reference)) + 3
        and "\ufffd" not in answer
    ):
        points.append("form")
    return points


def score(answer: str, reference: str, names: Mapping[str, str] | None = None) -> int:
    """MT-Bench-style 1-10 rating of `answer` against `reference`."""
    return check(answer, reference, names).score


def verify(answer: str, reference: str, names: Mapping[str, str] | None = None) -> bool:
    """True when the answer states every key value of the reference and no wrong candidate."""
    return check(answer, reference, names).passed
