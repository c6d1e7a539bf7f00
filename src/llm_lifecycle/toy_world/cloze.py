"""Cloze probes of the toy world: "does a pretrained model know the facts of its corpus?"

A cloze item is a sentence prefix taken from the very templates pages are rendered from
(`fact_templates.person_facts`, `fact_templates.city_facts`), e.g. "Kalo lives in" or "Все в городе
знают, что Кало — хороший", and a fixed set of candidate continuations: the correct value and every
other value of the same kind (all cities of the world, all professions, ...), each rendered by the same
template. A language model "answers" by ranking the candidates by log-probability
(`training.pretraining.evaluation.score_cloze`); a model that knows nothing gets an item right with
probability 1/len(candidates), the item's chance level.

Design:

- No hand-copied phrasing. For one template and one subject, the sentence is rendered once per
  candidate value (the subject with that value substituted); the prompt is the longest common prefix of
  these renderings, cut back to the last space, so the prompt is exactly what pages contain and ends just
  before the first word that depends on the value. A candidate's continuation is its rendering from there
  up to the end of the value, plus the first word or punctuation mark after it (`" Kalomira."`,
  `" 34 года."`, `" a baker."`, `" an engineer."`), so no candidate is a prefix of another (" 45" vs
  " 450") and inflections that depend on the value (года/лет, a/an) are part of what is scored. Every
  continuation starts with the space the template puts before the value.
- Only templates whose prompt names the subject make items (in "At 34, Kalo still learns ..." the
  value comes first and there is nothing to ask). If `fact_templates.py` gains or changes a template,
  items follow it.
- Candidates are shuffled per item (ties in scoring must not favour the answer's position), and items
  are drawn round-robin over (language, relation) groups, each group shuffled, so any `max_items` is
  balanced. Deterministic: one `random.Random(seed)`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from llm_lifecycle.toy_world.fact_templates import city_facts, person_facts
from llm_lifecycle.toy_world.world import (
    CITY_RELATIONS,
    COLORS,
    COUNTRIES,
    PERSON_RELATIONS,
    PETS,
    PROFESSIONS,
    City,
    Name,
    Person,
    World,
)

RELATIONS = PERSON_RELATIONS + CITY_RELATIONS

# What may follow the value inside a continuation: one punctuation mark, or one word.
_TERMINATOR = re.compile(r"[.,;:!?]|\s+[^\s.,;:!?]+")


@dataclass(frozen=True)
class ClozeItem:
    """A prompt, its correct continuation `answer` and all `candidates` (the answer included, once)."""

    prompt: str
    answer: str
    candidates: tuple[str, ...]
    relation: str
    lang: str
    subject: str = ""

    @property
    def chance(self) -> float:
        return 1.0 / len(self.candidates)


def _value_pool(world: World, relation: str) -> list:
    """Every value of the relation's kind: what the candidates of an item range over."""
    if relation == "city":
        return list(range(len(world.cities)))
    if relation == "age":
        return sorted({p.age for p in world.people})
    if relation in ("profession", "pet", "color"):
        return [Name(*pair) for pair in {"profession": PROFESSIONS, "pet": PETS, "color": COLORS}[relation]]
    if relation == "country":
        return [Name(*pair) for pair in COUNTRIES]
    if relation == "river":
        return list(dict.fromkeys(c.river for c in world.cities))
    if relation in ("population", "founded"):
        return sorted({getattr(c, relation) for c in world.cities})
    raise ValueError(f"unknown relation {relation!r}; known: {RELATIONS}")


def _renderer(
    world: World, subject: Person | City, relation: str, lang: str
) -> Callable[[object], list[str]]:
    """value -> the relation's sentences (one per template) for `subject` with that value substituted."""
    if isinstance(subject, Person):
        if relation == "city":
            return lambda v: person_facts(replace(subject, city=v), world.cities[v], lang)[relation]
        return lambda v: person_facts(replace(subject, **{relation: v}), world.city_of(subject), lang)[
            relation
        ]
    return lambda v: city_facts(replace(subject, **{relation: v}), lang)[relation]


def _common_prefix(texts: Sequence[str]) -> str:
    first, last = min(texts), max(texts)  # the common prefix of all = that of the extremes
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def _common_suffix(texts: Sequence[str]) -> str:
    return _common_prefix([t[::-1] for t in texts])[::-1]


def _template_item(
    sentences: dict, correct, subject_name: str, relation: str, lang: str
) -> tuple[str, str, list[str]] | None:
    """(prompt, answer, candidates) for one template rendered with every value, or None if not askable."""
    texts = list(sentences.values())
    lcp = _common_prefix(texts)
    cut = lcp.rfind(" ")
    if cut <= 0:
        return None
    prompt = lcp[:cut]
    if subject_name not in prompt:
        return None
    # The value ends where the common tail begins; the tail is moved back to a word boundary so that a
    # shared ending of two values ("...ra." / "...ra.") is not mistaken for template text.
    tails = [t[cut:] for t in texts]
    suffix = _common_suffix(tails)
    while suffix and (suffix[0].isalnum() or suffix[0] in "-'"):
        suffix = suffix[1:]
    term = _TERMINATOR.match(suffix)
    extra = term.group(0) if term else ""
    conts = {v: t[: len(t) - len(suffix)] + extra for v, t in zip(sentences, tails, strict=True)}
    if len(set(conts.values())) != len(conts):  # two values render alike: the item cannot tell them apart
        return None
    return prompt, conts[correct], [conts[v] for v in sentences]


def _items_for(world: World, subject: Person | City, relation: str, lang: str) -> list[ClozeItem]:
    pool = _value_pool(world, relation)
    if len(pool) < 2:
        return []
    correct = getattr(subject, relation)  # Person.city is an index, like the pool
    render = _renderer(world, subject, relation, lang)
    rendered = {v: render(v) for v in pool}  # value -> [sentence per template]
    name = subject.name.en if lang == "en" else subject.name.ru
    items = []
    for j in range(len(rendered[correct])):
        made = _template_item({v: s[j] for v, s in rendered.items()}, correct, name, relation, lang)
        if made is not None:
            prompt, answer, candidates = made
            items.append(ClozeItem(prompt, answer, tuple(candidates), relation, lang, name))
    return items


def all_cloze_items(world: World, langs: Sequence[str] = ("ru", "en")) -> list[ClozeItem]:
    """Every askable (subject, relation, template) of the world, candidates in value order; deduplicated."""
    items: list[ClozeItem] = []
    seen: set[tuple[str, str]] = set()
    for lang in langs:
        if lang not in ("ru", "en"):
            raise ValueError(f"cloze items exist in 'ru' and 'en', got {lang!r}")
        subjects: list[tuple[Person | City, tuple[str, ...]]] = [(p, PERSON_RELATIONS) for p in world.people]
        subjects += [(c, CITY_RELATIONS) for c in world.cities]
        for subject, relations in subjects:
            for relation in relations:
                for item in _items_for(world, subject, relation, lang):
                    key = (item.prompt, item.answer)
                    if key not in seen:
                        seen.add(key)
                        items.append(item)
    return items


def cloze_items(
    world: World, seed: int, max_items: int | None = None, langs: Sequence[str] = ("ru", "en")
) -> list[ClozeItem]:
    """Up to `max_items` cloze items, balanced over (lang, relation), candidates shuffled; deterministic."""
    if max_items is not None and max_items < 1:
        raise ValueError(f"max_items must be >= 1 or None, got {max_items}")
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[ClozeItem]] = {}
    for item in all_cloze_items(world, langs):
        groups.setdefault((item.lang, item.relation), []).append(item)
    queues = []
    for key in sorted(groups):
        group = list(groups[key])
        rng.shuffle(group)
        queues.append(group)
    picked: list[ClozeItem] = []
    while any(queues) and (max_items is None or len(picked) < max_items):
        for queue in queues:
            if queue and (max_items is None or len(picked) < max_items):
                picked.append(queue.pop())
    out = []
    for item in picked:
        candidates = list(item.candidates)
        rng.shuffle(candidates)
        out.append(replace(item, candidates=tuple(candidates)))
    return out
