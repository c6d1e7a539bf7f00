"""The one interface every chat backend implements, so judging and preference code need not care who answers.

Backends: the OpenAI-compatible HTTP client (`openai_compat.py`: GPT-4, vLLM, llama.cpp server), the
offline toy-world teacher/judge and a local transformers model. A backend only has to turn a batch of
conversations into a batch of replies, in the same order; everything else (retries, caching, batching
on a GPU) is its own business. The protocol is structural: a backend does not inherit from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# One chat turn, OpenAI style: {"role": "system" | "user" | "assistant", "content": "..."}.
Message = Mapping[str, str]
# A conversation ending with the turn the backend should answer.
Conversation = Sequence[Message]


@dataclass(frozen=True)
class ChatReply:
    """One reply and how it ended.

    `finish_reason` is the server's (`"stop"`, `"length"` when `max_tokens` cut the reply off) or a local
    model's equivalent; None when unknown. `refused` says why there is no reply at all: `"too_long"` when
    the prompt (plus the reply budget) does not fit the model's context window, a deterministic refusal
    that a caller drops and counts instead of failing on every rerun.
    """

    text: str
    finish_reason: str | None = None
    refused: str | None = None

    @property
    def cut_off(self) -> bool:
        return self.finish_reason == "length"


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers conversations.

    `name` identifies the backend in reports and metrics (e.g. `"openai:gpt-4-0613"`, `"toy_teacher"`).
    `complete_many` returns exactly one reply per conversation, in the order given; it raises rather than
    returning fewer replies or placeholders.
    """

    name: str

    def complete_many(self, conversations: Sequence[Conversation]) -> list[str]: ...
