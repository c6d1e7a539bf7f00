"""Deterministic held-out splits by hashing a record's key (the Saiga recipe splits by hash too).

A hash split does not depend on record order or on how many records there are, so adding documents
never moves an old one between train and held-out, and every stage (tokenizer report, pretraining
validation) agrees on which documents it has never trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any


def is_heldout(key: str, fraction: float, salt: str = "heldout") -> bool:
    """True for about `fraction` of keys, always the same ones for the same `salt`."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    digest = hashlib.sha1(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_records(
    records: Iterable[Mapping[str, Any]], fraction: float, salt: str = "heldout", key: str = "id"
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(train, heldout) by `is_heldout(record[key])`; records without `key` use their text."""
    train, heldout = [], []
    for record in records:
        k = str(record[key]) if key in record else str(record["text"])
        (heldout if is_heldout(k, fraction, salt) else train).append(record)
    return train, heldout
