"""The errors of the chat clients: one `LLMClientError` base, a subclass per way a request fails for good.

Raised by `OpenAICompatClient` after its retries (`attempts` counts every HTTP attempt made). Their
messages carry the server's own (redacted) error text; the `openai` SDK's exceptions, whose messages
quote the server's whole body, are never chained into them. This module imports no SDK, so callers
can catch these without loading one.
"""

from __future__ import annotations


class LLMClientError(RuntimeError):
    """A chat request failed for good. `status` is the last HTTP status (None: no HTTP reply)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class LLMHTTPError(LLMClientError):
    """The server answered with an error status (non-retryable, or retryable until retries ran out)."""


class LLMResponseError(LLMClientError):
    """The server answered 2xx with a body that is not a chat completion, on every attempt."""


class LLMConnectionError(LLMClientError):
    """Timeouts or connection errors on every attempt."""


class LLMBatchError(LLMClientError):
    """Some requests of a `complete_many` batch failed; `errors` maps prompt index -> its error.

    The successful replies of the batch are cached (when the cache is on), so a rerun only asks again
    for the failed ones.
    """

    def __init__(self, message: str, errors: dict[int, LLMClientError]) -> None:
        first = errors[min(errors)]
        super().__init__(message, status=first.status, attempts=first.attempts)
        self.errors = errors
