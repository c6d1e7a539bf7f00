"""Chat backends: the `ChatBackend` protocol and an OpenAI-compatible HTTP client with retries and a cache."""

from llm_lifecycle.llm_clients.base import ChatBackend, ChatReply, Conversation, Message
from llm_lifecycle.llm_clients.local_hf import GenerationSettings, HFChatBackend
from llm_lifecycle.llm_clients.openai_compat import (
    LLMBatchError,
    LLMClientError,
    LLMConnectionError,
    LLMHTTPError,
    LLMResponseError,
    OpenAIClientConfig,
    OpenAICompatClient,
    parse_retry_after,
    request_cache_key,
)

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
    "OpenAIClientConfig",
    "OpenAICompatClient",
    "parse_retry_after",
    "request_cache_key",
]
