"""Judge reply parsing on hand-written replies, malformed ones included."""

from __future__ import annotations

import pytest

from llm_lifecycle.judging.parsing import parse_rating, parse_verdict


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The answer is correct and concise. Rating: [[9]]", 9.0),
        ("Rating: [[7.5]]", 7.5),
        ("Partly right. [6]", 6.0),  # MT-Bench's single-bracket fallback
        ('The format is "[[rating]]", e.g. [[5]]. Here it is wrong. Rating: [[2]]', 2.0),  # the last one wins
        ("[[10]]", 10.0),
        ("[[1]]", 1.0),
        ("Rating: 8/10", None),  # no brackets
        ("Rating: [[eight]]", None),
        ("Rating: [[11]]", None),  # out of the 1-10 scale
        ("Rating: [[0]]", None),
        ("", None),
        ("[[A]]", None),  # a pairwise verdict is not a rating
    ],
)
def test_parse_rating(reply, expected):
    assert parse_rating(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Assistant A is more accurate. [[A]]", "A"),
        ("B follows the instructions. Final verdict: [[B]]", "B"),
        ("Both are equally good. [[C]]", "tie"),
        ("I prefer A. [[A]] ... on reflection still [[A]]", "A"),  # repeated, consistent
        ("[[A]] or maybe [[B]]", None),  # contradictory: not guessed
        ("Assistant A is better.", None),
        ("[A]", None),  # no single-bracket fallback for verdicts (it would match "[A]ssistant")
        ("[[D]]", None),
        ("", None),
    ],
)
def test_parse_verdict(reply, expected):
    assert parse_verdict(reply) == expected
