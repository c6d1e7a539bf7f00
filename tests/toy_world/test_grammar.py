"""Plurals and articles shared by the pages and the instructions."""

from __future__ import annotations

import pytest

from llm_lifecycle.toy_world.grammar import en_plural, ru_plural, with_article
from llm_lifecycle.toy_world.world import PETS, PROFESSIONS


@pytest.mark.parametrize(
    ("n", "word"),
    [(1, "год"), (21, "год"), (101, "год"), (2, "года"), (4, "года"), (34, "года"), (0, "лет"), (5, "лет")]
    + [(11, "лет"), (12, "лет"), (14, "лет"), (111, "лет"), (112, "лет"), (25, "лет")],
)
def test_ru_plural(n, word):
    assert ru_plural(n, "год", "года", "лет") == word


def test_en_plural():
    assert en_plural(1, "year") == "1 year"
    assert [en_plural(n, "letter") for n in (0, 2, 11)] == ["0 letters", "2 letters", "11 letters"]


def test_with_article():
    assert with_article("baker") == "a baker"
    assert with_article("engineer") == "an engineer"
    assert with_article("Engineer") == "an Engineer"  # by letter, case-insensitive


def test_world_vocabulary_is_lowercase():
    """Pages used a case-sensitive article rule and instructions a case-insensitive one; they agree (and the
    shared `with_article` keeps every output) because the words given an article are lowercase."""
    for en, _ in (*PROFESSIONS, *PETS):
        assert en and en == en.lower()
        assert with_article(en) == ("an " if en[0] in "aeiou" else "a ") + en
