"""Instructions, preference prompts and MT-Bench questions about the toy world, with checkable answers.

Design
------
* **Formats are the real ones.** SFT conversations use the Saiga format (IlyaGusev/rulm):
  `{"messages": [{"role": "system"|"user"|"bot", "content": ...}, ...]}`; a share of conversations say
  `assistant` instead of `bot` (Saiga data has both) and a share start with a system prompt. Saiga also
  allows extra fields; we add `source` (`toy_world/<family>`) for analysis. MT-Bench questions use the
  FastChat llm_judge question format (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
  Chatbot Arena"): `{"question_id", "category", "turns": [t1, t2], "reference": [r1, r2]}` with the 8
  categories (writing, roleplay, reasoning, math, coding, extraction, stem, humanities), plus `lang`;
  mostly Russian, as ruMT-Bench, with some English.
* **Every answer is a fact.** Each task *family* (plain QA, the 8 MT-Bench categories adapted to the
  world, word games) builds a chain of turns whose answers come from `World.facts`, arithmetic, or the
  spelling of a word. Follow-up turns depend on the earlier turn ("А кем работает этот человек?",
  "А если прибавить ещё 3?"), as MT-Bench turn 2 does.
* **One short answer template per question type.** A ~2M-parameter model must learn the format from a
  few hundred conversations, so questions vary (2 phrasings) but answers do not. Each answer sentence
  ends with its key value ("Ганни живёт в городе Рисадор.", "7 + 5 = 12.", "Слово «Ло» наоборот:
  «оЛ»."): `verifier.key_values` relies on that to find what to check.
* **Held out by hash.** `held_out_plan` splits the world into `sft` / `preference` / `mt_bench` parts:
  people, cities and game words by rank of a salted SHA-1 (a guaranteed number in each part, and at
  least one of each kind left for SFT), arithmetic problems by hash threshold (`splits.is_heldout`). A
  subject held out for evaluation is held out with all its facts, so two-turn chains about it (turn 1
  and turn 2 ask about the same person) stay unseen; SFT never states a fact of a held-out subject,
  never asks a held-out sum, never plays with a held-out word, yet covers every family, relation and
  template, so the model learns the formats and must recall the held-out facts from pretraining. (A
  held-out *city* can still be the value of an SFT person's fact: "Kaven lives in <city>" says
  nothing about the city's own facts.) Turn-2 texts such as "На сколько лет?" are generic by design
  and do occur in SFT; what is held out is the fact they ask about.
* **Coverage by construction.** Templates are not drawn independently: a least-used-first picker
  balances relations, phrasings, games and follow-ups per family and language, and SFT starts with a
  sweep of one full-length conversation per first-turn template (`SWEEP_SIZES`, ~100 of 600), the
  rest of the mixture compensating so the multi-turn and language shares still hold. Rare
  combinations (an English word-game follow-up) are therefore taught on every seed.
* **Deterministic.** One `random.Random` per generator seeded from a string (stable across processes),
  no set iteration, no dependence on dict order beyond insertion order.
"""

from __future__ import annotations

import collections
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llm_lifecycle.splits import is_heldout
from llm_lifecycle.toy_world.world import COLORS, COUNTRIES, PETS, PROFESSIONS, Name, World

T = TypeVar("T")
Lang = Literal["ru", "en"]
Split = Literal["sft", "preference", "mt_bench"]

MT_BENCH_CATEGORIES: tuple[str, ...] = (
    "writing",
    "roleplay",
    "reasoning",
    "math",
    "coding",
    "extraction",
    "stem",
    "humanities",
)
# Plain QA and word games are not MT-Bench categories but teach the basic templates.
FAMILIES: tuple[str, ...] = ("qa", "word", *MT_BENCH_CATEGORIES)
PERSON_RELATIONS: tuple[str, ...] = ("city", "age", "profession", "pet", "color")
CITY_RELATIONS: tuple[str, ...] = ("country", "river", "population", "founded")

SYSTEM_PROMPTS: dict[str, tuple[str, ...]] = {
    # The first one is Saiga's own default system prompt.
    "ru": (
        "Ты — Сайга, русскоязычный автоматический ассистент. Ты разговариваешь с людьми и помогаешь им.",
        "Ты — полезный ассистент. Отвечай коротко и точно.",
    ),
    "en": (
        "You are a helpful assistant. Answer briefly and precisely.",
        "You are an assistant that knows the cities and people of Norlandia, Suravia and Ostmark.",
    ),
}

_DEFAULT_WEIGHTS: dict[str, float] = {
    "qa": 0.30,
    "word": 0.08,
    "writing": 0.06,
    "roleplay": 0.08,
    "reasoning": 0.08,
    "math": 0.14,
    "coding": 0.06,
    "extraction": 0.08,
    "stem": 0.06,
    "humanities": 0.06,
}


class InstructionsConfig(BaseModel):
    """Sizes and mixture of the SFT, preference and MT-Bench sets (`toy_world.instructions`)."""

    model_config = ConfigDict(extra="forbid")

    n_sft: int = Field(600, ge=0)  # conversations
    n_preference: int = Field(200, ge=0)  # prompts for teacher-vs-SFT pairs
    n_mt_bench: int = Field(40, ge=0)  # two-turn questions, spread evenly over the 8 categories
    share_multi_turn: float = Field(0.3, ge=0, le=1)  # SFT/preference conversations with follow-ups
    max_turns: int = Field(3, ge=2)  # user turns in a multi-turn SFT conversation (2..max_turns)
    coverage_sweep: bool = True  # start SFT with one full-length conversation per template and language
    share_system: float = Field(0.3, ge=0, le=1)  # conversations that start with a system prompt
    share_assistant_role: float = Field(0.1, ge=0, le=1)  # `assistant` instead of Saiga's `bot`
    share_russian: float = Field(0.8, ge=0, le=1)  # the rest is English
    mt_bench_fraction: float = Field(0.15, ge=0, lt=1)  # of people/cities/words/sums, held out for MT-Bench
    preference_fraction: float = Field(0.15, ge=0, lt=1)  # ... and for preference prompts
    split_salt: str = "toy_world_instructions"
    family_weights: dict[str, float] = Field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))

    @field_validator("family_weights")
    @classmethod
    def _known_families(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(FAMILIES))
        if unknown or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError(f"family_weights needs non-negative weights over {FAMILIES}; unknown: {unknown}")
        return v

    @model_validator(mode="after")
    def _fractions_fit(self) -> InstructionsConfig:
        if self.mt_bench_fraction + self.preference_fraction >= 1:
            raise ValueError("mt_bench_fraction + preference_fraction must leave something for SFT")
        return self


# ---------------------------------------------------------------------------------------- wording
def ru_plural(n: int, one: str, few: str, many: str) -> str:
    """Russian noun form after a number: 1 год, 2 года, 5 лет (11-14 take `many`)."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _an(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def _en_plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _value_text(relation: str, value: Name, lang: Lang) -> str:
    """The value as it sits at the end of an answer sentence (with its unit where it has one)."""
    if relation == "age":
        n = int(value.en)
        return f"{n} {ru_plural(n, 'год', 'года', 'лет')}" if lang == "ru" else _en_plural(n, "year")
    if relation == "population":
        n = int(value.en)
        return f"{n} {ru_plural(n, 'тысяча', 'тысячи', 'тысяч')}" if lang == "ru" else f"{n} thousand"
    if lang == "en" and relation in ("profession", "pet"):
        return _an(value.en)
    return value.ru if lang == "ru" else value.en


@dataclass(frozen=True)
class _RelationText:
    questions: dict[str, tuple[str, str]]  # two phrasings per language, `{s}` is the subject
    followup: dict[str, str]  # the same question about "this person/city" (turn 2+)
    answer: dict[str, str]  # `{s}` subject, `{v}` value (see `_value_text`); the value ends the sentence
    indirect_en: str  # "where {s} lives": English indirect questions change word order


RELATIONS: dict[str, _RelationText] = {
    "city": _RelationText(
        {
            "ru": ("В каком городе живёт {s}?", "Где живёт {s}?"),
            "en": ("Where does {s} live?", "In which city does {s} live?"),
        },
        {"ru": "А в каком городе живёт этот человек?", "en": "And where does this person live?"},
        {"ru": "{s} живёт в городе {v}.", "en": "{s} lives in {v}."},
        "where {s} lives",
    ),
    "age": _RelationText(
        {
            "ru": ("Сколько лет человеку по имени {s}?", "Какой возраст у человека по имени {s}?"),
            "en": ("How old is {s}?", "What is the age of {s}?"),
        },
        {"ru": "А сколько лет этому человеку?", "en": "And how old is this person?"},
        {"ru": "{s}: возраст {v}.", "en": "{s} is {v} old."},
        "how old {s} is",
    ),
    "profession": _RelationText(
        {
            "ru": ("Кем работает {s}?", "Какая профессия у человека по имени {s}?"),
            "en": ("What does {s} do for a living?", "What is the profession of {s}?"),
        },
        {"ru": "А кем работает этот человек?", "en": "And what does this person do for a living?"},
        {"ru": "{s} — {v}.", "en": "{s} is {v}."},
        "what {s} does for a living",
    ),
    "pet": _RelationText(
        {
            "ru": ("Какой питомец у человека по имени {s}?", "Какое домашнее животное держит {s}?"),
            "en": ("What pet does {s} have?", "Which animal does {s} keep as a pet?"),
        },
        {"ru": "А какой питомец у этого человека?", "en": "And what pet does this person have?"},
        {"ru": "{s} держит питомца: {v}.", "en": "{s} has {v}."},
        "what pet {s} has",
    ),
    "color": _RelationText(
        {
            "ru": ("Какой любимый цвет у человека по имени {s}?", "Какой цвет больше всего любит {s}?"),
            "en": ("What is the favourite colour of {s}?", "Which colour does {s} like most?"),
        },
        {"ru": "А какой любимый цвет у этого человека?", "en": "And what is this person's favourite colour?"},
        {"ru": "{s} больше всего любит цвет: {v}.", "en": "The favourite colour of {s} is {v}."},
        "which colour {s} likes most",
    ),
    "country": _RelationText(
        {
            "ru": ("В какой стране находится город {s}?", "В какой стране расположен город {s}?"),
            "en": ("Which country is {s} in?", "In which country is the city of {s}?"),
        },
        {"ru": "А в какой стране находится этот город?", "en": "And which country is this city in?"},
        {"ru": "Город {s} находится в стране {v}.", "en": "{s} is in {v}."},
        "which country {s} is in",
    ),
    "river": _RelationText(
        {
            "ru": ("На какой реке стоит город {s}?", "Какая река протекает через город {s}?"),
            "en": ("Which river does {s} stand on?", "Which river flows through {s}?"),
        },
        {"ru": "А на какой реке стоит этот город?", "en": "And which river does this city stand on?"},
        {"ru": "Город {s} стоит на реке {v}.", "en": "{s} stands on the river {v}."},
        "which river {s} stands on",
    ),
    "population": _RelationText(
        {
            "ru": ("Сколько жителей в городе {s}?", "Какое население у города {s}?"),
            "en": ("What is the population of {s}?", "How many people live in {s}?"),
        },
        {"ru": "А сколько жителей в этом городе?", "en": "And what is the population of this city?"},
        {"ru": "В городе {s} живёт {v} человек.", "en": "{s} has {v} inhabitants."},
        "how many people live in {s}",
    ),
    "founded": _RelationText(
        {
            "ru": ("Когда основан город {s}?", "В каком году основан город {s}?"),
            "en": ("When was {s} founded?", "In which year was {s} founded?"),
        },
        {"ru": "А когда основан этот город?", "en": "And when was this city founded?"},
        {"ru": "Город {s} основан в {v} году.", "en": "{s} was founded in {v}."},
        "when {s} was founded",
    ),
}

# Roleplay: the model speaks as the person (second-person question, first-person answer).
ROLEPLAY: dict[str, dict[str, tuple[str, str]]] = {
    "city": {
        "ru": ("В каком городе ты живёшь?", "Я живу в городе {v}."),
        "en": ("Where do you live?", "I live in {v}."),
    },
    "age": {"ru": ("Сколько тебе лет?", "Мне {v}."), "en": ("How old are you?", "I am {v} old.")},
    "profession": {
        "ru": ("Кем ты работаешь?", "Я — {v}."),
        "en": ("What do you do for a living?", "I am {v}."),
    },
    "pet": {
        "ru": ("Какой у тебя питомец?", "У меня питомец: {v}."),
        "en": ("What pet do you have?", "I have {v}."),
    },
    "color": {
        "ru": ("Какой твой любимый цвет?", "Мой любимый цвет — {v}."),
        "en": ("What is your favourite colour?", "My favourite colour is {v}."),
    },
}

WORD_GAMES: dict[str, dict[str, tuple[str, str, str]]] = {
    # game -> lang -> (first question, follow-up question, answer); {w} word, {v} value
    "reverse": {
        "ru": (
            "Напиши слово «{w}» задом наперёд.",
            "А как оно пишется задом наперёд?",
            "Слово «{w}» наоборот: «{v}».",
        ),
        "en": (
            'Write the word "{w}" backwards.',
            "And how is it spelled backwards?",
            'The word "{w}" backwards is "{v}".',
        ),
    },
    "count": {
        "ru": ("Сколько букв в слове «{w}»?", "А сколько в нём букв?", "В слове «{w}» {v}."),
        "en": (
            'How many letters are in the word "{w}"?',
            "And how many letters does it have?",
            'The word "{w}" has {v}.',
        ),
    },
    "first": {
        "ru": (
            "С какой буквы начинается слово «{w}»?",
            "А с какой буквы оно начинается?",
            "Слово «{w}» начинается с буквы «{v}».",
        ),
        "en": (
            'What letter does the word "{w}" start with?',
            "And what letter does it start with?",
            'The word "{w}" starts with the letter "{v}".',
        ),
    },
}
CODE_EXPRS: dict[str, str] = {"reverse": "s[::-1]", "count": "len(s)", "first": "s[0]"}


def _game_value(game: str, word: str, lang: Lang) -> str:
    if game == "reverse":
        return word[::-1]
    if game == "first":
        return word[0]
    n = len(word)
    return f"{n} {ru_plural(n, 'буква', 'буквы', 'букв')}" if lang == "ru" else _en_plural(n, "letter")


def _code_output(game: str, word: str, lang: Lang) -> str:
    out = str(len(word)) if game == "count" else f"«{_game_value(game, word, lang)}»"
    if lang == "en":
        out = out.replace("«", '"').replace("»", '"')
        return f"The program prints {out}."
    return f"Программа выведет: {out}."


# Distinct first turns per family (relation x phrasing, game, ...): the size of the SFT coverage sweep.
SWEEP_SIZES: dict[str, int] = {
    "qa": 2 * len(RELATIONS),
    "writing": len(RELATIONS),
    "roleplay": len(ROLEPLAY),
    "reasoning": 2,
    "math": 4,
    "coding": len(CODE_EXPRS),
    "word": len(WORD_GAMES),
    "extraction": len(PERSON_RELATIONS),
    "stem": 4,
    "humanities": 3,
}


# ---------------------------------------------------------------------------------------- held-out plan
def _digest(salt: str, key: str) -> bytes:
    return hashlib.sha1(f"{salt}:{key}".encode()).digest()


@dataclass(frozen=True)
class HeldOutPlan:
    """Which part (`sft`, `preference`, `mt_bench`) every person, city, game word and sum belongs to."""

    entities: dict[str, Split]  # person/city English name -> part
    words: dict[str, Split]  # "ru:Рисадор" / "en:baker" -> part
    mt_bench_fraction: float
    preference_fraction: float
    salt: str

    def arithmetic(self, a: int, op: str, b: int) -> Split:
        """Sums are many, so a plain hash threshold suffices (same hash, two cut points)."""
        key = f"{a} {op} {b}"
        salt = f"{self.salt}:arith"
        if is_heldout(key, self.mt_bench_fraction, salt):
            return "mt_bench"
        if is_heldout(key, self.mt_bench_fraction + self.preference_fraction, salt):
            return "preference"
        return "sft"


def _rank_split(keys: Sequence[str], f_mt: float, f_pref: float, salt: str) -> dict[str, Split]:
    """Sort keys by salted hash; the first ceil(f*n) go to MT-Bench, the next to preferences, the rest
    to SFT. Ranks (not thresholds) guarantee each held-out part is non-empty in a world of 8 cities,
    and at least one key is always left for SFT so every template can be taught."""
    ordered = sorted(dict.fromkeys(keys), key=lambda k: (_digest(salt, k), k))
    n = len(ordered)
    k_mt = min(math.ceil(f_mt * n), max(n - 1, 0))
    k_pref = min(math.ceil(f_pref * n), max(n - 1 - k_mt, 0))
    parts: dict[str, Split] = {}
    for i, key in enumerate(ordered):
        parts[key] = "mt_bench" if i < k_mt else "preference" if i < k_mt + k_pref else "sft"
    return parts


def game_words(world: World) -> dict[str, list[str]]:
    """Words for word games and code questions: the world's names and vocabulary, per language."""
    out: dict[str, list[str]] = {}
    for lang in ("ru", "en"):
        names = [getattr(p.name, lang) for p in world.people]
        names += [getattr(c.name, lang) for c in world.cities]
        names += [getattr(c.river, lang) for c in world.cities]
        vocab = [pair[0 if lang == "en" else 1] for pair in (*PROFESSIONS, *PETS, *COLORS, *COUNTRIES)]
        out[lang] = list(dict.fromkeys(names + vocab))
    return out


def held_out_plan(world: World, cfg: InstructionsConfig) -> HeldOutPlan:
    """The deterministic split shared by all three generators (it depends on names, not on `seed`)."""
    f_mt, f_pref, salt = cfg.mt_bench_fraction, cfg.preference_fraction, cfg.split_salt
    entities = _rank_split([p.name.en for p in world.people], f_mt, f_pref, f"{salt}:people")
    entities |= _rank_split([c.name.en for c in world.cities], f_mt, f_pref, f"{salt}:cities")
    words: dict[str, Split] = {}
    for lang, ws in game_words(world).items():
        words |= _rank_split([f"{lang}:{w}" for w in ws], f_mt, f_pref, f"{salt}:words")
    return HeldOutPlan(entities, words, f_mt, f_pref, salt)


# ---------------------------------------------------------------------------------------- dialogues
@dataclass(frozen=True)
class Turn:
    user: str
    answer: str
    units: tuple[str, ...]  # held-out units the turn touches: "entity:Ganni", "word:ru:Ло", "sum:7 + 5"
    fact: str  # what exactly is asked, language-free: "Ganni:city", "older:Ganni|Lomi", "sum:7 + 5"


@dataclass(frozen=True)
class Dialogue:
    family: str
    lang: Lang
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class _Subject:
    name: Name
    kind: Literal["person", "city"]
    facts: dict[str, Name]  # relation -> value, in the world's fact order


def _subjects(world: World) -> list[_Subject]:
    people = {p.name.en for p in world.people}
    by_name: dict[str, _Subject] = {}
    for f in world.facts:
        if f.relation not in RELATIONS:
            continue  # a relation we have no template for is simply not asked about
        s = by_name.setdefault(
            f.subject.en, _Subject(f.subject, "person" if f.subject.en in people else "city", {})
        )
        s.facts[f.relation] = f.value
    return list(by_name.values())


def fact_answer(subject: Name, relation: str, value: Name, lang: Lang) -> str:
    """The one answer template for a fact (what SFT teaches and what the oracle teacher says)."""
    template = RELATIONS[relation].answer[lang]
    return template.format(s=getattr(subject, lang), v=_value_text(relation, value, lang))


class _Sampler:
    """Builds dialogues of one family from the part `split` of the world."""

    def __init__(self, world: World, plan: HeldOutPlan, split: Split, rng: random.Random):
        self.plan, self.split, self.rng = plan, split, rng
        self.uses: collections.Counter[tuple[str, str]] = collections.Counter()
        subjects = [s for s in _subjects(world) if plan.entities.get(s.name.en) == split]
        self.people = [s for s in subjects if s.kind == "person"]
        self.cities = [s for s in subjects if s.kind == "city"]
        self.words = {
            lang: [w for w in ws if plan.words[f"{lang}:{w}"] == split]
            for lang, ws in game_words(world).items()
        }
        self.families: dict[str, Callable[[Lang, int], list[Turn] | None]] = {
            "qa": self._qa,
            "word": self._word,
            "writing": self._writing,
            "roleplay": self._roleplay,
            "reasoning": self._reasoning,
            "math": self._math,
            "coding": self._coding,
            "extraction": self._extraction,
            "stem": self._stem,
            "humanities": self._humanities,
        }

    def dialogue(self, family: str, lang: Lang, n_turns: int) -> Dialogue | None:
        turns = self.families[family](lang, n_turns)
        return Dialogue(family, lang, tuple(turns)) if turns else None

    # -- helpers
    @staticmethod
    def _unit(s: _Subject) -> str:
        return f"entity:{s.name.en}"

    def _fact_turn(self, s: _Subject, relation: str, lang: Lang, question: str) -> Turn:
        answer = fact_answer(s.name, relation, s.facts[relation], lang)
        return Turn(question, answer, (self._unit(s),), f"{s.name.en}:{relation}")

    def _pick(self, key: str, options: Sequence[T]) -> T:
        """Least-used option first (random among ties): a few hundred conversations then still cover every
        template and relation in both languages, which independent random choices would not guarantee."""
        least = min(self.uses[key, repr(o)] for o in options)
        choice = self.rng.choice([o for o in options if self.uses[key, repr(o)] == least])
        self.uses[key, repr(choice)] += 1
        return choice

    def _then(self, first: str, options: Sequence[str], key: str, n: int) -> list[str]:
        """`first`, then up to n-1 distinct other options, balanced per `key` (only what is used counts)."""
        order, rest = [first], [o for o in options if o != first]
        while rest and len(order) < n:
            order.append(self._pick(key, rest))
            rest.remove(order[-1])
        return order

    def _order(self, key: str, options: Sequence[str], n: int) -> list[str]:
        return self._then(self._pick(key, options), options, f"{key}-follow", n)

    def _relations(self, s: _Subject, allowed: Sequence[str], first: str, key: str, n: int) -> list[str]:
        return self._then(first, [r for r in allowed if r in s.facts], key, n)

    def _subject_and_relation(
        self, key: str, pool: Sequence[_Subject], relations: Sequence[str], phrasings: int = 1
    ) -> tuple[_Subject, str, int] | None:
        """A balanced (relation, phrasing) and a random subject of `pool` that has the relation."""
        options = [(r, i) for r in relations if any(r in s.facts for s in pool) for i in range(phrasings)]
        if not options:
            return None
        rel, i = self._pick(key, options)
        return self.rng.choice([s for s in pool if rel in s.facts]), rel, i

    # -- families
    def _qa(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        got = self._subject_and_relation(f"qa:{lang}", self.people + self.cities, tuple(RELATIONS), 2)
        if got is None:
            return None
        s, first, phrasing = got
        turns = []
        for i, rel in enumerate(self._relations(s, tuple(RELATIONS), first, f"qa-follow:{lang}", n_turns)):
            text = RELATIONS[rel]
            q = text.questions[lang][phrasing] if i == 0 else text.followup[lang]
            turns.append(self._fact_turn(s, rel, lang, q.format(s=getattr(s.name, lang))))
        return turns

    def _writing(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """Write one sentence stating a fact; turn 2 rewrites it in the other language."""
        got = self._subject_and_relation(f"writing:{lang}", self.people + self.cities, tuple(RELATIONS))
        if got is None:
            return None
        s, rel, _ = got
        text = RELATIONS[rel]
        if lang == "ru":
            q = "Напиши одно предложение о том, " + _lower_first(text.questions["ru"][0][:-1]) + "."
        else:
            q = "Write one sentence about " + text.indirect_en + "."
        turns = [self._fact_turn(s, rel, lang, q.format(s=getattr(s.name, lang)))]
        if n_turns > 1:
            other: Lang = "en" if lang == "ru" else "ru"
            q2 = (
                "Перепиши это предложение по-английски."
                if lang == "ru"
                else "Now rewrite this sentence in Russian."
            )
            turns.append(self._fact_turn(s, rel, other, q2))
        return turns

    def _roleplay(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        got = self._subject_and_relation(f"roleplay:{lang}", self.people, tuple(ROLEPLAY))
        if got is None:
            return None
        s, first, _ = got
        turns = []
        rels = self._relations(s, tuple(ROLEPLAY), first, f"roleplay-follow:{lang}", n_turns)
        for i, rel in enumerate(rels[:n_turns]):
            q, a = ROLEPLAY[rel][lang]
            if i == 0:
                q = (
                    f"Представь, что ты {s.name.ru}. " if lang == "ru" else f"Imagine you are {s.name.en}. "
                ) + q
            else:
                q = ("А " if lang == "ru" else "And ") + _lower_first(q)
            answer = a.format(v=_value_text(rel, s.facts[rel], lang))
            turns.append(Turn(q, answer, (self._unit(s),), f"{s.name.en}:{rel}"))
        return turns

    def _reasoning(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """Who is older/younger (ages come from pretraining), then by how much, then the sum."""
        pairs = [
            (a, b)
            for a in self.people
            for b in self.people
            if a is not b and "age" in a.facts and "age" in b.facts and a.facts["age"] != b.facts["age"]
        ]
        if not pairs:
            return None
        a, b = self.rng.choice(pairs)
        na, nb = int(a.facts["age"].en), int(b.facts["age"].en)
        an, bn = getattr(a.name, lang), getattr(b.name, lang)
        units = (self._unit(a), self._unit(b))
        pair = "|".join(sorted((a.name.en, b.name.en)))
        older = self._pick(f"reasoning:{lang}", (True, False))
        winner = (an if na > nb else bn) if older else (an if na < nb else bn)
        d = abs(na - nb)
        if lang == "ru":
            word = "старше" if older else "младше"
            turns = [
                Turn(f"Кто {word}: {an} или {bn}?", f"{winner} {word}.", units, f"older:{pair}"),
                Turn(
                    "На сколько лет?",
                    f"На {d} {ru_plural(d, 'год', 'года', 'лет')}.",
                    units,
                    f"age_gap:{pair}",
                ),
                Turn("Сколько им лет вместе?", f"{na} + {nb} = {na + nb}.", units, f"age_sum:{pair}"),
            ]
        else:
            word = "older" if older else "younger"
            turns = [
                Turn(f"Who is {word}: {an} or {bn}?", f"{winner} is {word}.", units, f"older:{pair}"),
                Turn("By how many years?", f"By {_en_plural(d, 'year')}.", units, f"age_gap:{pair}"),
                Turn("How old are they together?", f"{na} + {nb} = {na + nb}.", units, f"age_sum:{pair}"),
            ]
        return turns[:n_turns]

    def _sum_in_split(self, pairs: list[tuple[int, str, int]]) -> tuple[int, str, int] | None:
        self.rng.shuffle(pairs)
        return next((p for p in pairs if self.plan.arithmetic(*p) == self.split), None)

    def _math(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """Sums and differences of numbers up to 30 (as in the pretraining pages), then "add/subtract k"."""
        phrasings = (
            ("Сколько будет {a} {op} {b}?", "Посчитай: {a} {op} {b}.")
            if lang == "ru"
            else ("What is {a} {op} {b}?", "Calculate {a} {op} {b}.")
        )
        q, op = self._pick(f"math:{lang}", [(p, o) for p in phrasings for o in "+-"])
        pairs = [(a, b) for a in range(1, 31) for b in range(1, 31) if op == "+" or a >= b]
        first = self._sum_in_split([(a, op, b) for a, b in pairs])
        if first is None:
            return None
        a, op, b = first
        c = a + b if op == "+" else a - b
        key = f"sum:{a} {op} {b}"
        turns = [Turn(q.format(a=a, op=op, b=b), f"{a} {op} {b} = {c}.", (key,), key)]
        while len(turns) < n_turns:
            op = self._pick(f"math-follow:{lang}", "+-")  # balanced, so both follow-ups are taught
            adds, subs = [(c, "+", k) for k in range(1, 11)], [(c, "-", k) for k in range(1, min(c, 10) + 1)]
            preferred, other = (adds, subs) if op == "+" else (subs, adds)
            nxt = self._sum_in_split(preferred) or self._sum_in_split(other)
            if nxt is None:
                break
            _, op, k = nxt
            if lang == "ru":
                q = f"А если прибавить ещё {k}?" if op == "+" else f"А если вычесть {k}?"
            else:
                q = f"And if you add {k} more?" if op == "+" else f"And if you subtract {k}?"
            new = c + k if op == "+" else c - k
            key = f"sum:{c} {op} {k}"
            turns.append(Turn(q, f"{c} {op} {k} = {new}.", (key,), key))
            c = new
        return turns

    def _word_pick(self, lang: Lang) -> str | None:
        return self.rng.choice(self.words[lang]) if self.words[lang] else None

    def _word(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        w = self._word_pick(lang)
        if w is None:
            return None
        games = self._order(f"word:{lang}", tuple(WORD_GAMES), n_turns)
        turns = []
        for i, game in enumerate(games[:n_turns]):
            first, follow, answer = WORD_GAMES[game][lang]
            q = first.format(w=w) if i == 0 else follow
            answer = answer.format(w=w, v=_game_value(game, w, lang))
            turns.append(Turn(q, answer, (f"word:{lang}:{w}",), f"word:{lang}:{w}:{game}"))
        return turns

    def _coding(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """The output of a one-line Python program on a word, then of another expression on it."""
        w = self._word_pick(lang)
        if w is None:
            return None
        games = self._order(f"coding:{lang}", tuple(CODE_EXPRS), n_turns)
        turns = []
        for i, game in enumerate(games[:n_turns]):
            expr = CODE_EXPRS[game]
            if i == 0:
                head = (
                    "Что выведет этот код на Python?" if lang == "ru" else "What does this Python code print?"
                )
                q = f'{head}\ns = "{w}"\nprint({expr})'
            else:
                q = f"А что выведет print({expr})?" if lang == "ru" else f"And what does print({expr}) print?"
            unit = f"word:{lang}:{w}"
            turns.append(Turn(q, _code_output(game, w, lang), (unit,), f"code:{lang}:{w}:{game}"))
        return turns

    def _extraction(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """Answer from a given text that also states the same fact about a second person (a distractor)."""
        if len(self.people) < 2:
            return None
        s, other = self.rng.sample(self.people, 2)
        shared = tuple(r for r in PERSON_RELATIONS if r in s.facts and r in other.facts)
        if len(shared) < 2:
            return None
        # The follow-up relation is picked first: its template ("... Ответь по тексту.") exists only here.
        r2 = self._pick(f"extraction-follow:{lang}", shared)
        r1 = self._pick(f"extraction:{lang}", [r for r in shared if r != r2])
        sentences = [
            fact_answer(s.name, r1, s.facts[r1], lang),
            fact_answer(s.name, r2, s.facts[r2], lang),
            fact_answer(other.name, r1, other.facts[r1], lang),
        ]
        self.rng.shuffle(sentences)
        text = " ".join(sentences)
        q1 = _lower_first(RELATIONS[r1].questions[lang][0].format(s=getattr(s.name, lang)))
        if lang == "ru":
            first = f"Прочитай текст и ответь на вопрос.\nТекст: {text}\nВопрос: {q1}"
            follow = RELATIONS[r2].followup["ru"] + " Ответь по тексту."
        else:
            first = f"Read the text and answer the question.\nText: {text}\nQuestion: {q1}"
            follow = RELATIONS[r2].followup["en"] + " Answer from the text."
        units = (self._unit(s), self._unit(other))
        turns = [
            Turn(first, fact_answer(s.name, r1, s.facts[r1], lang), units, f"{s.name.en}:{r1}"),
            Turn(follow, fact_answer(s.name, r2, s.facts[r2], lang), units, f"{s.name.en}:{r2}"),
        ]
        return turns[:n_turns]

    def _stem(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """A numeric fact (age, population), then what it becomes after growing by k."""
        got = self._subject_and_relation(f"stem:{lang}", self.people + self.cities, ("age", "population"), 2)
        if got is None:
            return None
        s, rel, phrasing = got
        head = "Числовой вопрос: " if lang == "ru" else "A question about numbers: "
        question = RELATIONS[rel].questions[lang][phrasing].format(s=getattr(s.name, lang))
        q = head + _lower_first(question)
        turns = [self._fact_turn(s, rel, lang, q)]
        n = int(s.facts[rel].en)
        for k in self.rng.sample(range(1, 21), k=max(n_turns - 1, 0)):
            if rel == "age":
                q = (
                    f"А сколько лет будет этому человеку через {k} {ru_plural(k, 'год', 'года', 'лет')}?"
                    if lang == "ru"
                    else f"And how old will this person be in {_en_plural(k, 'year')}?"
                )
            else:
                q = (
                    f"А сколько будет жителей, если население вырастет на {k} "
                    f"{ru_plural(k, 'тысячу', 'тысячи', 'тысяч')}?"
                    if lang == "ru"
                    else f"And how many people will live there if the population grows by {k} thousand?"
                )
            turns.append(Turn(q, f"{n} + {k} = {n + k}.", (self._unit(s),), f"{s.name.en}:{rel}+{k}"))
        return turns

    def _humanities(self, lang: Lang, n_turns: int) -> list[Turn] | None:
        """History and geography of a city; after the founding year, the city's age in 2000."""
        history = ("country", "river", "founded")
        got = self._subject_and_relation(f"humanities:{lang}", self.cities, history)
        if got is None:
            return None
        s, first, _ = got
        steps = [first]
        while len(steps) < n_turns:  # the anniversary question only makes sense once the year is known
            options = [r for r in history if r in s.facts and r not in steps]
            options += ["age2000"] if "founded" in steps and "age2000" not in steps else []
            if not options:
                break
            steps.append(self._pick(f"humanities-follow:{lang}", options))
        turns = []
        for i, step in enumerate(steps):
            if step == "age2000":
                y = int(s.facts["founded"].en)
                q = (
                    "Сколько лет исполнилось этому городу в 2000 году?"
                    if lang == "ru"
                    else "How old was this city in the year 2000?"
                )
                fact = f"{s.name.en}:age_in_2000"
                turns.append(Turn(q, f"2000 - {y} = {2000 - y}.", (self._unit(s),), fact))
                continue
            if i == 0:
                if lang == "ru":
                    head = "Вопрос по истории: " if step == "founded" else "Вопрос по географии: "
                else:
                    head = "A history question: " if step == "founded" else "A geography question: "
                q = head + _lower_first(RELATIONS[step].questions[lang][0].format(s=getattr(s.name, lang)))
            else:
                q = RELATIONS[step].followup[lang]
            turns.append(self._fact_turn(s, step, lang, q))
        return turns


# ---------------------------------------------------------------------------------------- generators
def _lang(rng: random.Random, cfg: InstructionsConfig) -> Lang:
    return "ru" if rng.random() < cfg.share_russian else "en"


def _family(rng: random.Random, cfg: InstructionsConfig) -> str:
    names = [f for f in FAMILIES if cfg.family_weights.get(f, 0) > 0]
    return rng.choices(names, weights=[cfg.family_weights[f] for f in names])[0]


def _n_turns(rng: random.Random, cfg: InstructionsConfig) -> int:
    return rng.randint(2, cfg.max_turns) if rng.random() < cfg.share_multi_turn else 1


def _system(rng: random.Random, cfg: InstructionsConfig, lang: Lang) -> list[dict]:
    if rng.random() < cfg.share_system:
        return [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS[lang])}]
    return []


def _sample_unique(
    n: int, draw: Callable[[], tuple[tuple, dict] | None], max_tries_per_item: int = 50
) -> list[dict]:
    """Draw until `n` records with distinct keys; if the pool is too small, accept repeats at the end."""
    out, seen, repeats = [], set(), []
    for _ in range(max_tries_per_item * n):
        if len(out) >= n:
            break
        got = draw()
        if got is None:
            continue
        key, record = got
        (repeats if key in seen else out).append(record)
        seen.add(key)
    if n and not out:
        raise ValueError("the world has nothing to ask about in this part; enlarge it or its fraction")
    fill = repeats or out
    out += [fill[i % len(fill)] for i in range(n - len(out))]
    return out[:n]


def generate_instructions(world: World, cfg: InstructionsConfig, seed: int) -> list[dict]:
    """SFT conversations in Saiga format about the `sft` part of the world."""
    rng = random.Random(f"instructions:{seed}")
    sampler = _Sampler(world, held_out_plan(world, cfg), "sft", rng)

    # A sweep first: one full-length conversation per first-turn template of every family and language
    # (the balanced picker hands them out in turn), so that rare combinations such as an English
    # word-game follow-up are taught too and every MT-Bench template is seen; then the weighted mixture.
    langs = [lang for lang, share in (("ru", cfg.share_russian), ("en", 1 - cfg.share_russian)) if share > 0]
    sweep = [
        (f, lang)
        for f in FAMILIES
        if cfg.family_weights.get(f, 0) > 0
        for lang in langs
        for _ in range(SWEEP_SIZES[f] if cfg.coverage_sweep else 0)
    ]
    sweep.reverse()  # popped from the end
    # The sweep is all multi-turn and half English: the rest makes up for it, so the totals keep the shares.
    n_rest = max(cfg.n_sft - len(sweep), 1)

    def rest_share(share: float, in_sweep: float) -> float:
        return min(1.0, max(0.0, (share * cfg.n_sft - in_sweep) / n_rest))

    rest_cfg = cfg.model_copy(
        update={
            "share_multi_turn": rest_share(cfg.share_multi_turn, len(sweep)),
            "share_russian": rest_share(cfg.share_russian, len(sweep) / len(langs) if "ru" in langs else 0),
        }
    )

    def draw() -> tuple[tuple, dict] | None:
        if sweep:
            (family, lang), n_turns = sweep.pop(), cfg.max_turns
        else:
            family, lang, n_turns = _family(rng, cfg), _lang(rng, rest_cfg), _n_turns(rng, rest_cfg)
        dialogue = sampler.dialogue(family, lang, n_turns)
        if dialogue is None:
            return None
        bot = "assistant" if rng.random() < cfg.share_assistant_role else "bot"
        messages = _system(rng, cfg, lang)
        for t in dialogue.turns:
            messages += [{"role": "user", "content": t.user}, {"role": bot, "content": t.answer}]
        key = tuple(t.user for t in dialogue.turns)
        return key, {"messages": messages, "source": f"toy_world/{family}"}

    records = _sample_unique(cfg.n_sft, draw)
    rng.shuffle(records)  # the sweep should not sit at the start of the file
    return records


def generate_preference_prompts(world: World, cfg: InstructionsConfig, seed: int) -> list[dict]:
    """Prompts from the `preference` part, ending with a user turn; `reference` is the oracle's answer.

    Multi-turn prompts carry earlier turns answered by the oracle, so the pair differs only in the last
    answer (the teacher writes `chosen`, the SFT model `rejected`)."""
    rng = random.Random(f"preference:{seed}")
    sampler = _Sampler(world, held_out_plan(world, cfg), "preference", rng)

    def draw() -> tuple[tuple, dict] | None:
        family, lang = _family(rng, cfg), _lang(rng, cfg)
        dialogue = sampler.dialogue(family, lang, _n_turns(rng, cfg))
        if dialogue is None:
            return None
        bot = "assistant" if rng.random() < cfg.share_assistant_role else "bot"
        messages = _system(rng, cfg, lang)
        *context, last = dialogue.turns
        for t in context:
            messages += [{"role": "user", "content": t.user}, {"role": bot, "content": t.answer}]
        messages.append({"role": "user", "content": last.user})
        record = {
            "prompt_id": "",
            "lang": lang,
            "messages": messages,
            "reference": last.answer,
            "category": family,
        }
        return tuple(t.user for t in dialogue.turns), record

    records = _sample_unique(cfg.n_preference, draw)
    return [{**r, "prompt_id": f"pref-{i:04d}"} for i, r in enumerate(records)]


def generate_mt_bench_questions(world: World, cfg: InstructionsConfig, seed: int) -> list[dict]:
    """Two-turn MT-Bench questions from the `mt_bench` part, `n_mt_bench` spread over the 8 categories."""
    rng = random.Random(f"mt_bench:{seed}")
    sampler = _Sampler(world, held_out_plan(world, cfg), "mt_bench", rng)
    per_category = [cfg.n_mt_bench // 8 + (i < cfg.n_mt_bench % 8) for i in range(8)]
    out: list[dict] = []
    for category, k in zip(MT_BENCH_CATEGORIES, per_category, strict=True):
        made, tries, seen = 0, 0, set()
        while made < k:
            tries += 1
            if tries > 200 * k:
                raise ValueError(
                    f"cannot make {k} distinct two-turn `{category}` questions from the "
                    "held-out part of this world; enlarge the world or mt_bench_fraction"
                )
            lang = _lang(rng, cfg)
            d = sampler.dialogue(category, lang, 2)
            # Distinct within a category by what turn 1 asks (not its wording or language).
            if d is None or len(d.turns) < 2 or d.turns[0].fact in seen:
                continue
            seen.add(d.turns[0].fact)
            out.append(
                {
                    "question_id": len(out) + 1,
                    "category": category,
                    "lang": lang,
                    "turns": [t.user for t in d.turns],
                    "reference": [t.answer for t in d.turns],
                }
            )
            made += 1
    return out


def sample_dialogues(
    world: World, cfg: InstructionsConfig, seed: int, split: Split, *, family: str, n: int, n_turns: int = 2
) -> list[Dialogue]:
    """Raw dialogues (with their held-out units) of one family; for tests and analysis."""
    rng = random.Random(f"dialogues:{seed}:{split}:{family}")
    sampler = _Sampler(world, held_out_plan(world, cfg), split, rng)
    out = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        d = sampler.dialogue(family, _lang(rng, cfg), n_turns)
        if d is not None:
            out.append(d)
    return out
