"""Mediocre answers: the share of real instruction data that is vague, off-topic, or in another language.

Real SFT data is not all good. Saiga's conversations were written by GPT-3.5/GPT-4 and then scored by a
judge, and low-scored ones were filtered out because a share of the answers are vague, answer another
question, switch language or talk about someone else. A share of the toy world's SFT answers
(`toy_world.instructions.mediocre_share`) is replaced by one of four such kinds, drawn uniformly:

* `vague`: a non-answer ("Сложно сказать точно.");
* `wrong_relation`: a true fact about the same subject, but not the one asked ("Ганни — пекарь." to "Где
  живёт Ганни?");
* `wrong_language`: the right answer in the other language;
* `wrong_entity`: the same relation stated about another subject of the same part of the world.

The last three need a fact about a subject; other turns (sums, word games, code) get a vague answer.
The SFT model imitates these answers at about their share; what corrects it is the preference data,
where the teacher's answer is `chosen` and the SFT model's own answer is `rejected`, as in the Saiga
recipe (SFT, then DPO on teacher vs SFT answers). Nothing in the preference or evaluation data knows
which answers were mediocre.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from llm_lifecycle.toy_world.instruction_templates import Lang, fact_answer
from llm_lifecycle.toy_world.world import Name

KINDS: tuple[str, ...] = ("vague", "wrong_relation", "wrong_language", "wrong_entity")
VAGUE: dict[str, tuple[str, ...]] = {
    "ru": ("Сложно сказать точно.", "Это интересный вопрос, но ответ зависит от многого."),
    "en": ("It is hard to say for sure.", "That is an interesting question, but it depends."),
}


class Subject(Protocol):
    name: Name
    kind: str
    facts: dict[str, Name]


def mediocre_answer(
    fact: str, lang: Lang, subjects: Sequence[Subject], rng: random.Random
) -> tuple[str, str]:
    """(kind, answer) of a mediocre answer to the turn that asks `fact` ("Ganni:city", "sum:7 + 5")."""
    kind = rng.choice(KINDS)
    name, _, relation = fact.partition(":")
    s = next((x for x in subjects if x.name.en == name), None)
    if kind == "vague" or s is None or relation not in s.facts:
        return "vague", rng.choice(VAGUE[lang])
    if kind == "wrong_language":
        return kind, fact_answer(s.name, relation, s.facts[relation], "en" if lang == "ru" else "ru")
    if kind == "wrong_relation":
        other = rng.choice([r for r in s.facts if r != relation])
        return kind, fact_answer(s.name, other, s.facts[other], lang)
    pool = [x for x in subjects if x is not s and x.kind == s.kind and relation in x.facts]
    if not pool:
        return "vague", rng.choice(VAGUE[lang])
    o = rng.choice(pool)
    return kind, fact_answer(o.name, relation, o.facts[relation], lang)
