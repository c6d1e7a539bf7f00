"""Exact and near deduplication as stateful datatrove blocks, run in one process, in input order.

Exact: SHA-1 of the normalised text (NFKC, lower case, punctuation and symbols dropped, whitespace
collapsed), so copies that differ only in case, punctuation or spacing collide. Digits are kept: two
worked sums that differ only in their numbers are different pages.

Near: MinHash (Broder 1997) over word n-gram shingles of the same normalised text, indexed in a
datasketch `MinHashLSH`; the LSH only proposes candidates, and a page is a near duplicate when its
estimated Jaccard similarity with an already *kept* page reaches the threshold. The first copy in input
order is kept, later copies are rejected and name the page they copy.

Both keep their index in memory, which is fine for this project's corpora (thousands to a few million
pages). For web scale, datatrove's own multi-stage MinHash pipeline (`datatrove.pipeline.dedup.minhash`:
signatures, buckets, clustering, filter) shards the same computation across tasks.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

_SPACE = re.compile(r"\s+")


class _PunctSymbolToSpace(dict):
    """`str.translate` table: punctuation and symbol code points (Unicode P*, S*) -> " ", others kept.

    Filled on first sight of each character (`__missing__`), so `translate` runs at C speed over a table
    of the characters the corpus actually uses, with `unicodedata`'s exact categories (a Unicode property
    class of the `regex` module would follow that module's Unicode version, not Python's). It grows to
    the number of distinct characters seen (thousands for real text).
    """

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = " " if unicodedata.category(ch)[0] in "PS" else ch
        self[code] = out
        return out


_TO_SPACE = _PunctSymbolToSpace()


@lru_cache(maxsize=4)
def normalise(text: str) -> str:
    """Text as dedup compares it: NFKC, lower case, punctuation/symbols -> space, one space between words.

    Memoised for the last few texts: exact and near dedup normalise the same page one after the other.
    """
    text = unicodedata.normalize("NFKC", text).lower().translate(_TO_SPACE)
    return _SPACE.sub(" ", text).strip()


def shingles(text: str, n: int) -> list[bytes]:
    """Word n-grams of the normalised text (the whole text when it has fewer than n words)."""
    words = normalise(text).split()
    if len(words) <= n:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]


class ExactDedupFilter(BaseFilter):
    name = "exact_dedup"

    def __init__(self, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.seen: dict[bytes, str] = {}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        key = hashlib.sha1(normalise(doc.text).encode()).digest()
        if key in self.seen:
            return False, f"exact duplicate of {self.seen[key]}"
        self.seen[key] = doc.id
        return True


class MinHashDedupFilter(BaseFilter):
    name = "near_dedup"

    def __init__(
        self,
        ngram: int = 5,
        num_perm: int = 128,
        threshold: float = 0.6,
        *,
        seed: int = 1,
        lsh_threshold: float | None = None,
        exclusion_writer=None,
    ):
        from datasketch import MinHash, MinHashLSH

        super().__init__(exclusion_writer)
        self.ngram, self.num_perm, self.threshold = ngram, num_perm, threshold
        self._template = MinHash(num_perm=num_perm, seed=seed)  # permutations drawn once, shared by all
        lsh_threshold = threshold if lsh_threshold is None else lsh_threshold
        self.lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
        self.kept: list[tuple[str, MinHash]] = []  # LSH key (position) -> (doc id, signature)

    def signature(self, text: str):
        from datasketch import MinHash

        t = self._template
        m = MinHash(num_perm=self.num_perm, seed=t.seed, permutations=t.permutations, scheme=t.scheme)
        m.update_batch(shingles(text, self.ngram))
        return m

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        m = self.signature(doc.text)
        best, best_id = 0.0, ""
        for key in self.lsh.query(m):
            doc_id, other = self.kept[key]
            sim = m.jaccard(other)
            if sim > best:
                best, best_id = sim, doc_id
        if best >= self.threshold:
            return False, f"near duplicate of {best_id} (jaccard~{best:.2f})"
        self.lsh.insert(len(self.kept), m)
        self.kept.append((doc.id, m))
        return True
