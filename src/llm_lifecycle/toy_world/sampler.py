"""The dialogue sampler: builds one conversation of a task family from one part of the world.

`Sampler.dialogue(family, lang, n_turns)` returns a chain of `Turn`s whose answers are facts of the
world, arithmetic or the spelling of a word, taking only subjects, words and sums of its part
(`held_out.py`). Follow-up turns depend on the earlier ones ("А кем работает этот человек?", "А если
прибавить ещё 3?"), as MT-Bench turn 2 does. Templates are not drawn independently: a least-used-first
picker (`Sampler._pick`) balances relations, phrasings, games and follow-ups per family and language,
so a few hundred conversations cover every template; `SWEEP_SIZES` counts the distinct first turns of
each family for the SFT coverage sweep. The wording comes from `instruction_templates.py`; one
method per family, all sharing the picker and the rng, which is why they are one class.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from llm_lifecycle.toy_world.grammar import en_plural, ru_plural
from llm_lifecycle.toy_world.held_out import HeldOutPlan, Split, game_words
from llm_lifecycle.toy_world.instruction_templates import (
    CODE_EXPRS,
    RELATIONS,
    ROLEPLAY,
    WORD_GAMES,
    Lang,
    code_output,
    fact_answer,
    game_value,
    value_text,
)
from llm_lifecycle.toy_world.world import PERSON_RELATIONS, Name, World

T = TypeVar("T")


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


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


@dataclass(frozen=True)
class Turn:
    """One user turn and its reference answer."""

    user: str
    answer: str
    units: tuple[str, ...]  # held-out units the turn touches: "entity:Ganni", "word:ru:Ло", "sum:7 + 5"
    fact: str  # what exactly is asked, language-free: "Ganni:city", "older:Ganni|Lomi", "sum:7 + 5"


@dataclass(frozen=True)
class Dialogue:
    """A conversation of one task family, in one language."""

    family: str
    lang: Lang
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class _Subject:
    """A person or a city with the facts the templates can ask about."""

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


class Sampler:
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
            answer = a.format(v=value_text(rel, s.facts[rel], lang))
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
                Turn("By how many years?", f"By {en_plural(d, 'year')}.", units, f"age_gap:{pair}"),
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
            answer = answer.format(w=w, v=game_value(game, w, lang))
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
            turns.append(Turn(q, code_output(game, w, lang), (unit,), f"code:{lang}:{w}:{game}"))
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
                    else f"And how old will this person be in {en_plural(k, 'year')}?"
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
