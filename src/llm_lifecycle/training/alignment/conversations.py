"""Saiga conversations -> clean TRL conversational examples, with every rejected record named and counted.

Saiga (IlyaGusev/rulm) stores one conversation per JSONL line: `{"messages": [{"role", "content"}, ...]}`
with roles `system`, `user`, `bot`; `assistant` and `human` also occur. TRL's conversational format
uses `assistant`, so roles are normalised first (`bot`/`assistant` -> `assistant`, `human` -> `user`,
`system` kept). The Saiga chat template (`tokenization.chat_template`) renders `assistant` exactly like
`bot` (`<s>bot\\n...</s>`), so the normalised messages produce the same text and the same
`{% generation %}` (assistant-only loss) mask as the original ones.

Each conversation is then checked; the first problem found is its reason (one reason per record):

- `no_messages`: `messages` missing, not a list, or empty.
- `malformed_message`: an item is not an object with string `role` and `content`.
- `unknown_role`: a role outside system/user/human/bot/assistant.
- `empty_content`: a message whose content is empty or only whitespace.
- `ends_on_user`: the last message is not an assistant turn, so the final turn teaches nothing (a
  trailing user or system message, or a conversation that is only a system prompt).
- `first_not_user`: the first non-system message is not from the user (an answer to no question).
- `too_long`: more than `max_length` tokens once rendered with the chat template. Such a conversation
  is dropped, not truncated: truncation would cut an answer (and its `</s>`) in the middle and teach the
  model to stop mid-sentence or never.

`on_invalid: raise` stops at the first bad record with an error naming `file:line` (from `Records`)
and the problem; `drop` drops every bad record, logs a warning with counts per problem and a few
`file:line` examples, and reports the counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.chat_format import ROLES, normalise_messages
from llm_lifecycle.datasets.jsonl import where

logger = logging.getLogger(__name__)

PROBLEMS: dict[str, str] = {
    "no_messages": "no messages ('messages' missing, not a list, or empty)",
    "malformed_message": "a message is not an object with string 'role' and 'content'",
    "unknown_role": "unknown role",
    "empty_content": "empty message content",
    "ends_on_user": "the last message is not an assistant turn (no answer to learn)",
    "first_not_user": "the first non-system message is not from the user",
    "too_long": "longer than max_length tokens with the chat template",
}


class InvalidConversationError(ValueError):
    """A conversation that cannot be trained on; the message names `file:line` and the problem."""


class ConversationCheckSettings(BaseModel):
    """What to do with a bad SFT conversation (`sft.data`). The length limit is the trainer's own
    `max_length` (`sft.train.max_length`), passed to `check_conversations`: one number for both."""

    model_config = ConfigDict(extra="forbid")

    on_invalid: Literal["drop", "raise"] = "drop"
    n_examples: int = Field(3, ge=0, description="file:line examples per problem in the warning")


def conversation_problem(record: Any) -> tuple[str | None, str]:  # noqa: PLR0911
    """(problem key or None, detail) for one Saiga record, without the length check."""
    messages = record.get("messages") if isinstance(record, Mapping) else None
    if not isinstance(messages, list) or not messages:
        return "no_messages", ""
    for j, m in enumerate(messages):
        if not (
            isinstance(m, Mapping) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        ):
            return "malformed_message", f"message {j}: {str(m)[:60]!r}"
    for j, m in enumerate(messages):
        if m["role"] not in ROLES:
            return "unknown_role", f"message {j}: role {m['role']!r} (known: {sorted(ROLES)})"
    for j, m in enumerate(messages):
        if not m["content"].strip():
            return "empty_content", f"message {j} ({m['role']})"
    roles = [ROLES[m["role"]] for m in messages]
    if roles[-1] != "assistant":
        return "ends_on_user", f"last role {messages[-1]['role']!r}"
    first = next(r for r in roles if r != "system")  # exists: the last role is assistant
    if first != "user":
        return "first_not_user", f"first non-system role {first!r}"
    return None, ""


def n_chat_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    """Tokens of `messages` rendered with the tokenizer's chat template (what the SFT trainer sees)."""
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    return len(ids)


def check_conversations(
    records: Sequence[Any],
    tokenizer: Any,
    cfg: ConversationCheckSettings | None = None,
    max_length: int | None = None,
) -> tuple[list[dict], dict[str, int]]:
    """Check Saiga records; return (clean TRL examples `{"messages": [...]}`, counts per problem).

    `max_length`: tokens with the chat template; a longer conversation is `too_long` (None: no limit).

    The report has one key per problem in `PROBLEMS` (zero when none), plus `n_input`, `n_kept`,
    `n_dropped` and `n_skipped_at_load` (lines the JSONL reader already skipped, from `Records.skipped`).
    Extra fields of a record (`source`, scores) are not carried over. With `on_invalid="raise"` the first
    bad record raises `InvalidConversationError` naming `where(records, i)`.
    """
    cfg = cfg or ConversationCheckSettings()
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    clean: list[dict] = []
    for i, record in enumerate(records):
        problem, detail = conversation_problem(record)
        messages = None
        if problem is None:
            messages = normalise_messages(record["messages"])
            if max_length is not None:
                n = n_chat_tokens(tokenizer, messages)
                if n > max_length:
                    problem, detail = "too_long", f"{n} tokens > max_length {max_length}"
        if problem is None:
            clean.append({"messages": messages})
            continue
        message = f"{where(records, i)}: {PROBLEMS[problem]}" + (f": {detail}" if detail else "")
        if cfg.on_invalid == "raise":
            raise InvalidConversationError(f"{message} (set on_invalid: drop to drop and count such records)")
        counts[problem] += 1
        if len(examples.setdefault(problem, [])) < cfg.n_examples:
            examples[problem].append(message)

    n_dropped = sum(counts.values())
    report = {key: counts.get(key, 0) for key in PROBLEMS}
    report.update(
        n_input=len(records),
        n_kept=len(clean),
        n_dropped=n_dropped,
        n_skipped_at_load=len(getattr(records, "skipped", []) or []),
    )
    if n_dropped:
        lines = [
            f"  {key}: {counts[key]} (e.g. {'; '.join(examples[key])})" for key in PROBLEMS if counts[key]
        ]
        logger.warning("dropped %d of %d conversations:\n%s", n_dropped, len(records), "\n".join(lines))
    else:
        logger.info("all %d conversations passed the checks", len(records))
    return clean, report


def _conversation_hash(conversation: Mapping[str, Any], salt: str) -> str:
    text = json.dumps(conversation.get("messages", conversation), ensure_ascii=False, sort_keys=True)
    return hashlib.sha1(f"{salt}:{text}".encode()).hexdigest()


def split_train_val(
    conversations: Sequence[dict], val_fraction: float, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """(train, val): the `round(n · val_fraction)` conversations with the lowest salted SHA-1 go to val.

    Deterministic and independent of the input order (as Saiga's split by hash); at least one
    conversation goes to val when `val_fraction > 0` and there are two or more. Identical conversations
    share a hash and always land on the same side, so a duplicate never leaks from train into val (the
    val side may then hold a few more than the target). Each side keeps the input order.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n = len(conversations)
    target = 0 if val_fraction == 0 or n < 2 else min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))
    salt = f"sft-val:{seed}"
    hashes = [_conversation_hash(c, salt) for c in conversations]
    val_hashes: set[str] = set()
    taken = 0
    group_sizes = Counter(hashes)
    for h in sorted(group_sizes):
        if taken >= target:
            break
        if taken + group_sizes[h] >= n:
            continue  # never leave train empty
        val_hashes.add(h)
        taken += group_sizes[h]
    train = [c for c, h in zip(conversations, hashes, strict=True) if h not in val_hashes]
    val = [c for c, h in zip(conversations, hashes, strict=True) if h in val_hashes]
    return train, val
