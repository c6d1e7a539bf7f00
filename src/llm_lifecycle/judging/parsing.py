"""Parse judge replies: MT-Bench's `[[rating]]` (with the `[rating]` fallback) and `[[A]]`/`[[B]]`/`[[C]]`.

A reply that does not parse is not guessed at: `parse_rating` returns None (MT-Bench records -1), the
caller keeps the raw text, excludes it from means and counts it in the parse-failure rate. Ratings
outside 1–10 are failures too. When a reply contains several ratings (a judge that restates the
format, "e.g. [[5]]", before its own), the last one is the verdict, as the prompt asks for the rating
after the explanation.
"""

from __future__ import annotations

import re
from typing import Literal

Verdict = Literal["A", "B", "tie"]

_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_FALLBACK = re.compile(r"\[(\d+\.?\d*)\]")
_VERDICT = re.compile(r"\[\[([ABC])\]\]")


def parse_rating(reply: str) -> float | None:
    """`"... Rating: [[7]]"` -> 7.0; `"[8.5]"` -> 8.5 (fallback); None when absent or outside 1–10."""
    for pattern in (_RATING, _RATING_FALLBACK):
        found = pattern.findall(reply or "")
        if found:
            value = float(found[-1])
            return value if 1.0 <= value <= 10.0 else None
    return None


def parse_verdict(reply: str) -> Verdict | None:
    """`"[[A]]"` -> "A", `"[[B]]"` -> "B", `"[[C]]"` -> "tie"; None when absent or contradictory.

    MT-Bench takes the first of `[[A]]`/`[[B]]`/`[[C]]` found; a reply naming two different verdicts
    is ambiguous and treated as a parse failure here instead.
    """
    found = set(_VERDICT.findall(reply or ""))
    if len(found) != 1:
        return None
    letter = found.pop()
    return "tie" if letter == "C" else letter  # type: ignore[return-value]
