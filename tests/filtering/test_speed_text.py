"""The `str.translate` tables of issue #19 count and replace exactly what the per-character code did.

The references below are the implementations before #19 (one `unicodedata.category` call per character).
Every code point of the Basic Multilingual Plane is checked, plus a stride through the other planes.
"""

from __future__ import annotations

import random
import re
import unicodedata

from llm_lifecycle.filtering.dedup import normalise, shingles
from llm_lifecycle.filtering.rules import symbol_char_ratio

_EXTRA_SYMBOLS = frozenset("#|*~•…_^")
_SPACE = re.compile(r"\s+")
CODE_POINTS = [chr(c) for c in [*range(0x10000), *range(0x10000, 0x110000, 97)] if not 0xD800 <= c <= 0xDFFF]


def reference_symbol_char_ratio(text: str) -> float:
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return 0.0
    n = sum(1 for ch in chars if ch in _EXTRA_SYMBOLS or unicodedata.category(ch).startswith("S"))
    return n / len(chars)


def reference_normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return _SPACE.sub(" ", text).strip()


def _mixed_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    filler = list(" \t\n\x1c\x85\u2028\u3000aZя#|*…★→") + ["word", "слово", "7 + 5 = 12"]
    return [
        "".join(rng.choice(CODE_POINTS if rng.random() < 0.5 else filler) for _ in range(40))
        for _ in range(n)
    ]


def test_symbol_char_ratio_matches_per_character_reference():
    mismatched = [
        ch for ch in CODE_POINTS if symbol_char_ratio("a" + ch) != reference_symbol_char_ratio("a" + ch)
    ]
    assert mismatched == []
    for text in _mixed_texts(500) + ["", "   \n", "★★★ → #tag", "plain text only"]:
        assert symbol_char_ratio(text) == reference_symbol_char_ratio(text), text


def test_normalise_matches_per_character_reference():
    block = "".join(CODE_POINTS)
    assert normalise(block) == reference_normalise(block)
    for text in _mixed_texts(500, seed=1) + ["Hello,  WORLD!\n7 + 5 = 12.", "", "ＡＢＣ１２３！", "Ǆ ﬁ ²"]:
        assert normalise(text) == reference_normalise(text), text


def test_normalise_memo_does_not_change_results():
    texts = [f"Page {i}: Kalomira, the baker — bakes bread!" for i in range(10)]
    first = [normalise(t) for t in texts]
    assert [normalise(t) for t in reversed(texts)] == first[::-1]  # misses and hits alike
    assert first == [reference_normalise(t) for t in texts]
    assert shingles(texts[0], 3)[0] == b"page 0 kalomira"
