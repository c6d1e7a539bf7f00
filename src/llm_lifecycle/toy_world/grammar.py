"""The little grammar the toy world's templates need: number agreement and the English article.

Pages (`fact_templates.py`, `clean_pages.py`) and instructions (`instruction_templates.py`, `sampler.py`)
both write "34 года" / "a baker"; one copy of each rule keeps the two in agreement, which matters
because a model learns a fact from the pages and is asked about it in the instructions' wording.
"""

from __future__ import annotations


def ru_plural(n: int, one: str, few: str, many: str) -> str:
    """Russian noun form after a number: 1 год, 2 года, 5 лет (11-14 take `many`)."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def en_plural(n: int, word: str) -> str:
    """The number and a regular English noun: "1 year", "2 years"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def with_article(word: str) -> str:
    """`word` with its indefinite article, by its first letter: "a baker", "an engineer", "an Engineer".

    By spelling, not sound ("a hour"): right for the world's vocabulary (`world.PROFESSIONS`, `world.PETS`),
    which is all this is used for.
    """
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word
