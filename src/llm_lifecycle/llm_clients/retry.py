"""The retry policy of the chat clients: what is retried and how long to wait (the loop is the client's).

* Retryable: HTTP 408, 409, 429 and 5xx (`RETRYABLE_STATUSES`); the client also retries timeouts,
  connection errors and garbage 2xx replies. Other statuses (400, 401, 403, 404, 422, ...) are final.
* The wait before retry k (`retry_wait_s`) is `min(backoff_max_s, backoff_base_s * 2**(k-1))` scaled by
  a random factor in [0.5, 1] ("equal jitter", so many clients do not retry in lockstep). A
  `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms` header (`parse_retry_after`)
  raises the wait to at least what the server asked for, capped by `max_retry_after_s`.

Ours, not the `openai` SDK's: its backoff is fixed (0.5 s doubling to 8 s) and its header parser is
private. This module imports no SDK.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Mapping
from datetime import datetime, timezone

RETRYABLE_STATUSES = frozenset({408, 409, 429, *range(500, 600)})


def retry_wait_s(
    attempt: int,
    retry_after: float | None,
    *,
    backoff_base_s: float,
    backoff_max_s: float,
    max_retry_after_s: float,
    rng: random.Random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based), given the server's `retry_after`."""
    wait = min(backoff_max_s, backoff_base_s * 2 ** (attempt - 1))
    wait *= rng.uniform(0.5, 1.0)
    if retry_after is not None:
        wait = max(wait, min(retry_after, max_retry_after_s))
    return wait


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())
