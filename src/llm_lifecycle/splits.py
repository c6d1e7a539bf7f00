"""Deterministic held-out splits by hashing a record's key (the Saiga recipe splits by hash too).

A hash split does not depend on record order or on how many records there are, so adding documents
never moves an old one between train and held-out, and every stage (tokenizer report, pretraining
validation) agrees on which documents it has never trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class PromptHoldoutSettings(BaseModel):
    """One pool of conversations (Saiga) feeding both SFT and preference generation: the share of its
    prompts that preference generation takes and SFT never trains on, so DPO's prompts are new to the
    SFT model, as its evaluation prompts are (`conf/*/parameters.yml`, key `preference_holdout`)."""

    model_config = ConfigDict(extra="forbid")

    fraction: float = Field(gt=0, lt=1)
    salt: str = "preferences"

    def holds_out(self, record: Mapping[str, Any]) -> bool:
        """Whether `record`'s prompt (its messages without the final answer) is in the held-out share.

        The key is the prompt, so every record asking the same thing lands on the same side."""
        messages = list(record.get("messages") or [])
        while messages and messages[-1].get("role") in ("bot", "assistant", "gpt"):
            messages.pop()
        key = json.dumps(
            [(m.get("role"), m.get("content")) for m in messages], ensure_ascii=False, sort_keys=True
        )
        return is_heldout(key, self.fraction, self.salt)
