"""Chat backends: a local transformers model and an OpenAI-compatible client with retries and a cache
(the `ChatBackend` protocol they implement lives in `llm_lifecycle.chat_format`).

Names resolve lazily (PEP 562): the pipeline registry imports node modules that name these classes, and
importing the `openai` SDK (~0.8 s) or transformers there would slow every `kedro` command."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_lifecycle.lazy_imports import lazy_exports

if TYPE_CHECKING:
    from llm_lifecycle.chat_format import ChatBackend, ChatReply, Conversation, Message
    from llm_lifecycle.llm_clients.errors import (
        LLMBatchError,
        LLMClientError,
        LLMConnectionError,
        LLMHTTPError,
        LLMResponseError,
    )
    from llm_lifecycle.llm_clients.local_hf import GenerationSettings, HFChatBackend
    from llm_lifecycle.llm_clients.openai_compat import OpenAIClientSettings, OpenAICompatClient
    from llm_lifecycle.llm_clients.response_cache import ResponseCache, request_cache_key
    from llm_lifecycle.llm_clients.retry import parse_retry_after

_WHERE = {
    "llm_lifecycle.chat_format": ("ChatBackend", "ChatReply", "Conversation", "Message"),
    "llm_lifecycle.llm_clients.local_hf": ("GenerationSettings", "HFChatBackend"),
    "llm_lifecycle.llm_clients.errors": (
        "LLMBatchError",
        "LLMClientError",
        "LLMConnectionError",
        "LLMHTTPError",
        "LLMResponseError",
    ),
    "llm_lifecycle.llm_clients.openai_compat": ("OpenAIClientSettings", "OpenAICompatClient"),
    "llm_lifecycle.llm_clients.response_cache": ("ResponseCache", "request_cache_key"),
    "llm_lifecycle.llm_clients.retry": ("parse_retry_after",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = [
    "ChatBackend",
    "ChatReply",
    "Conversation",
    "GenerationSettings",
    "HFChatBackend",
    "LLMBatchError",
    "LLMClientError",
    "LLMConnectionError",
    "LLMHTTPError",
    "LLMResponseError",
    "Message",
    "OpenAIClientSettings",
    "OpenAICompatClient",
    "ResponseCache",
    "parse_retry_after",
    "request_cache_key",
]

__getattr__ = lazy_exports(__name__, _MODULE_OF)


def __dir__() -> list[str]:
    return __all__
