"""Chat backends: a local transformers model and an OpenAI-compatible client with retries and a cache
(the `ChatBackend` protocol they implement lives in `llm_lifecycle.chat_format`)."""

from llm_lifecycle.chat_format import ChatBackend, ChatReply, Conversation, Message
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
