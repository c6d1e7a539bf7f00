"""Chat messages as every stage passes them, and the one interface every chat backend implements.

Roles: Saiga data says `system`/`user`/`bot` (and `human`, `assistant` also occur); TRL and every
OpenAI-style server say `system`/`user`/`assistant`. `ROLES` maps each known spelling to the latter once,
for training data, preference prompts and API requests alike; the Saiga chat template renders
`assistant` as Saiga's `bot` again (`tokenization.chat_template`).

Backends: the OpenAI-compatible client (`llm_clients.openai_compat`: GPT-4, vLLM, llama.cpp server), the
toy world's reference teacher and a local transformers model. A backend turns a batch of conversations
into one `ChatReply` per conversation, in the same order; everything else (retries, caching, batching on
a GPU) is its own business. The protocol is structural: a backend does not inherit from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# One chat turn, OpenAI style: {"role": "system" | "user" | "assistant", "content": "..."}.
Message = Mapping[str, str]
# A conversation ending with the turn the backend should answer.
Conversation = Sequence[Message]

# Every role spelling that occurs in Saiga-format data -> the TRL/OpenAI role.
ROLES: dict[str, str] = {
    "system": "system",
    "user": "user",
    "human": "user",
    "bot": "assistant",
    "assistant": "assistant",
    "gpt": "assistant",
}


def normalise_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Plain `{"role", "content"}` dicts with TRL/OpenAI roles (`ROLES`); an unknown role passes unchanged
    (the chat template or the server names it). A message that is not a mapping with both keys raises,
    naming its index."""
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(f"message {i} must be a mapping with 'role' and 'content'")
        role = str(message["role"])
        out.append({"role": ROLES.get(role, role), "content": str(message["content"])})
    return out


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

    `name` identifies the backend in reports and metrics (e.g. `"openai:gpt-4-0613"`, `"reference"`).
    `replies` returns exactly one reply per conversation, in the order given (a prompt the backend
    refuses comes back as `ChatReply(refused=...)`); any other failure raises rather than returning
    fewer replies or placeholders.
    """

    name: str

    def replies(
        self,
        conversations: Sequence[Conversation],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[ChatReply]: ...
