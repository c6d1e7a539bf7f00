"""Client for any OpenAI-compatible chat endpoint (`POST {base_url}/chat/completions`), on the `openai` SDK.

Works against the OpenAI API (GPT-4 as MT-Bench judge or preference teacher), a vLLM server
(`vllm serve ... --port 8000` -> `base_url: http://localhost:8000/v1`) and the llama.cpp server. As in
the SDK, `base_url` ends at the API version (`.../v1`).

The SDK sends the request (URL, JSON body, `Authorization` header) over a thread-safe connection
pool with a per-request timeout, and turns failures into typed errors (`openai.APIStatusError` with
status, error body and headers; `APITimeoutError`; `APIConnectionError`). `extra_params` it does not
name (vLLM's `top_k`, ...) go through its `extra_body`, so the body sent is exactly the body cached.

Retries are ours: the SDK runs with `max_retries=0` under one retry loop here, the simplest way to
(a) retry a "garbage" 2xx (not JSON, or no string `choices[0].message.content`, as from a proxy's
    error page) like a 5xx, which the SDK never does, within one `max_retries` budget and with a true
    `attempts` count in the final error;
(b) count real HTTP attempts: each attempt is exactly one request, so `http_calls`, `retries`,
    `timeouts`, `retry_after_waits` and `wait_s` are counted where they happen. Counting the SDK's
    own retries would take a wrapped transport (event hooks never see a timeout) and its private
    backoff function, and its HTTP library changed (httpx -> httpx2) within the versions we accept;
(c) keep the backoff configurable (`backoff_base_s`, `backoff_max_s`, `max_retry_after_s`; tests run
    at 0.01 s); the policy (what is retried, backoff with jitter, `Retry-After`) is in `retry`.

What this module adds, each because the SDK has no such thing:

* `complete(messages)` -> reply text; `complete_many(conversations)` / `replies(conversations)` ->
  one reply per conversation, in the order given, with at most `max_concurrency` requests in flight
  (a thread pool plus a semaphore, so the limit also holds when several threads share one client).
  Every request of a batch runs to completion (so every success is cached) before `LLMBatchError`
  lists every failed index.
* Retried (up to `max_retries` times): HTTP 408, 409, 429 and 5xx, timeouts, connection errors and
  garbage replies. Other statuses (400, 401, 403, 404, 422, ...) raise `LLMHTTPError` at once with
  the status and the server's own message (the exception classes are in `errors`).
* Cache (`cache_dir`, off when None): a `response_cache.ResponseCache` (successes and too-long
  refusals, one file per request). With the cache on, identical requests in one batch are sent once.
* Prompts that do not fit: with `context_window` set, a prompt whose estimated tokens
  (UTF-8 bytes / `bytes_per_token`, a deliberately low ratio so the estimate errs long) plus
  `max_tokens` exceed the window is refused without a call; a server's own 400 "maximum context
  length" reply is a refusal too. `replies()` returns such prompts as `ChatReply(refused="too_long")`
  for the caller to drop and count; `complete_many()` raises on them. `finish_reason` is passed on
  (`ChatReply.cut_off` for a reply that hit `max_tokens`).
* Timeouts: `timeout_s`, or by default `60 s + 0.25 s × max_tokens` of the request (a 1024-token
  reply from a large model at ~10 tokens/s needs well over the minute that suits short replies).
* The API key comes from `credentials["api_key"]` (Kedro's `conf/local/credentials.yml`) or from the
  environment variable named by `api_key_env` (never from the SDK's own `OPENAI_API_KEY` lookup). It
  is held as a `SecretStr` outside the config, reaches nothing but the SDK's `Authorization` header,
  and is scrubbed from any server text that ends up in an exception or a log line; SDK exceptions
  (whose messages quote the server's body) are never chained into ours. It is not part of the cache
  key or of the cached files. No key at all is allowed (local vLLM / llama.cpp servers usually need
  none; the request then has no `Authorization` header), except for api.openai.com, where a client
  without one stops at once with what to set.
* `stats` counts prompts, cache hits/misses, HTTP calls, retries, errors and tokens, for MLflow.

Saiga's roles are mapped on the way out (`bot` -> `assistant`, `human` -> `user`), since OpenAI-style
servers reject unknown roles.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
from openai._types import Omit  # the SDK's header remover (`openai.Omit` in newer SDKs)
from openai.types import CompletionUsage
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from llm_lifecycle.chat_format import ChatReply, Conversation, normalise_messages
from llm_lifecycle.llm_clients.errors import (
    LLMBatchError,
    LLMClientError,
    LLMConnectionError,
    LLMHTTPError,
    LLMResponseError,
)
from llm_lifecycle.llm_clients.response_cache import ResponseCache, canonical_json, request_cache_key
from llm_lifecycle.llm_clients.retry import RETRYABLE_STATUSES, parse_retry_after, retry_wait_s

logger = logging.getLogger(__name__)

# Request fields the client owns; `extra_params` may not set them.
_RESERVED_PARAMS = frozenset({"model", "messages", "temperature", "max_tokens", "stream", "n"})
_SNIPPET_CHARS = 300
# How OpenAI, vLLM and llama.cpp word a prompt that does not fit the context (HTTP 400).
_TOO_LONG = re.compile(r"context_length_exceeded|maximum context length|context size|context window", re.I)
# The `stats` counters besides `wait_s` (described under `OpenAICompatClient.stats`).
_COUNTERS = (
    "requests cache_hits cache_misses http_calls retries retry_after_waits timeouts garbage errors "
    "too_long cut_off prompt_tokens completion_tokens"
).split()
# The SDK insists on some api_key; with none of ours, this one is never sent (the header is omitted).
_NO_KEY = "no-key"


class OpenAIClientSettings(BaseModel):
    """Where to send requests and how to behave; holds no secret (the key comes from `credentials`/env).

    `extra_params` are sent as-is in every request body (`seed`, `top_p`, `stop`, `frequency_penalty`,
    vLLM's `top_k`, ...) and are part of the cache key.
    """

    # hide_input_in_errors: a misplaced `api_key: sk-...` in YAML must not be echoed by the error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = "https://api.openai.com/v1"
    model: str = Field(min_length=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    timeout_s: float | None = Field(None, gt=0.0, description="None: 60 s + 0.25 s per max_tokens")
    context_window: int | None = Field(None, ge=1, description="prompt + max_tokens limit, in tokens")
    bytes_per_token: float = Field(2.0, gt=0.0, description="for the prompt-length estimate (errs long)")
    max_retries: int = Field(5, ge=0)
    backoff_base_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(60.0, ge=0.0)
    max_retry_after_s: float = Field(300.0, ge=0.0)
    max_concurrency: int = Field(4, ge=1)
    cache_dir: Path | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    extra_params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None  # backend name in reports; default "openai:<model>"

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if value.endswith("/chat/completions"):
            raise ValueError("base_url is the API root (e.g. http://host:8000/v1), without /chat/completions")
        return value

    @field_validator("extra_params")
    @classmethod
    def _check_extra_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(_RESERVED_PARAMS & value.keys())
        if clash:
            raise ValueError(f"extra_params may not set {clash}: use the config fields (no streaming, n=1)")
        json.dumps(value)  # must be JSON-serialisable: it goes into the body and the cache key
        return value


def _messages(messages: Conversation) -> list[dict[str, str]]:
    """The request's messages with OpenAI roles; a conversation needs at least one."""
    out = normalise_messages(messages)
    if not out:
        raise ValueError("a conversation needs at least one message")
    return out


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: which error to raise if it was the last, and the server's wish."""

    error_cls: type[LLMClientError]
    detail: str
    status: int | None = None
    retry_after: float | None = None


class OpenAICompatClient:
    """Chat client for an OpenAI-compatible endpoint; implements `ChatBackend`. Thread-safe.

    `OpenAICompatClient(config, credentials=None)`: `config` is an `OpenAIClientSettings` or a mapping
    (a Kedro `params:` entry); `credentials` is a mapping with `api_key` (a `credentials.yml` entry).
    Use as a context manager, or call `close()`, to release the connection pool.
    """

    def __init__(
        self, config: OpenAIClientSettings | Mapping[str, Any], credentials: Mapping[str, Any] | None = None
    ) -> None:
        self.config = config if isinstance(config, OpenAIClientSettings) else OpenAIClientSettings(**config)
        self.name = self.config.name or f"openai:{self.config.model}"
        self._api_key = _resolve_api_key(self.config, credentials)
        # Ours: the SDK is always handed some key (`_NO_KEY`), so it would not stop; say what to set.
        if self._api_key is None and urlsplit(self.config.base_url).hostname == "api.openai.com":
            raise LLMClientError(
                f"{self.name}: no API key for {self.config.base_url}: export OPENAI_API_KEY, or put "
                "`openai: {api_key: ...}` in conf/local/credentials.yml (or point OPENAI_BASE_URL at a "
                "server that needs none)"
            )
        self._url = f"{self.config.base_url}/chat/completions"  # for error messages
        # The concurrency limit across threads sharing this client (the SDK has a pool, not a limit).
        self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
        self._stats_lock = threading.Lock()
        self._stats: dict[str, float] = {}
        self.reset_stats()
        self._rng = random.Random()
        key = self._api_key.get_secret_value() if self._api_key is not None else _NO_KEY
        # Keyless local servers: omit the header rather than send the SDK a placeholder as a key.
        self._headers: dict[str, Any] = {} if self._api_key is not None else {"Authorization": Omit()}
        self._sdk = openai.OpenAI(base_url=self.config.base_url, api_key=key, max_retries=0)
        cache_dir = self.config.cache_dir
        self._cache = ResponseCache(cache_dir, label=self.name) if cache_dir is not None else None

    # ------------------------------------------------------------------ public API
    def complete(
        self, messages: Conversation, *, temperature: float | None = None, max_tokens: int | None = None
    ) -> str:
        """The reply to one conversation. Raises `LLMClientError` (a subclass) when it finally fails."""
        try:
            return self.complete_many([messages], temperature=temperature, max_tokens=max_tokens)[0]
        except LLMBatchError as exc:
            raise exc.errors[0] from None

    def complete_many(
        self,
        conversations: Sequence[Conversation],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """One reply text per conversation, in order; raises `LLMBatchError` if any prompt got none
        (a refusal included). See `replies` for the rest."""
        replies = self.replies(conversations, temperature=temperature, max_tokens=max_tokens, seed=seed)
        refused = {
            i: LLMHTTPError(f"prompt refused: {r.refused}", status=400)
            for i, r in enumerate(replies)
            if r.refused
        }
        if refused:
            first = min(refused)
            raise LLMBatchError(
                f"{len(refused)} of {len(replies)} prompts refused as too long for the context window "
                f"(indices {sorted(refused)[:10]}); first, #{first}",
                refused,
            )
        return [r.text for r in replies]

    def replies(
        self,
        conversations: Sequence[Conversation],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[ChatReply]:
        """One `ChatReply` per conversation, in order; `temperature`/`max_tokens`/`seed` override the
        config for this call.

        Prompts too long for the context window come back as `ChatReply(refused="too_long")`. All other
        requests run to completion (so every success is cached) before a failure is raised as
        `LLMBatchError`, which lists every failed index.
        """
        bodies = [self._body(c, temperature, max_tokens, seed) for c in conversations]
        keys = [request_cache_key(self.config.base_url, b) for b in bodies]
        replies: list[ChatReply | None] = [None] * len(bodies)
        pending: dict[str, list[int]] = {}  # job id -> prompt indices it answers
        caching = self._cache is not None
        for i, key in enumerate(keys):
            self._bump("requests")
            cached = self._cache.get(key) if self._cache is not None else None
            if cached is not None:
                self._bump("cache_hits")
                replies[i] = cached
            elif self._too_long(bodies[i]):  # refused here: no call, nothing to pay
                self._bump("too_long")
                replies[i] = ChatReply("", refused="too_long")
            elif caching and key in pending:  # same request twice in one batch: send it once
                self._bump("cache_hits")
                pending[key].append(i)
            else:
                if caching:
                    self._bump("cache_misses")
                pending[key if caching else f"{i}:{key}"] = [i]

        jobs = list(pending.values())
        errors: dict[int, LLMClientError] = {}
        if jobs:
            workers = min(self.config.max_concurrency, len(jobs))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm-client") as pool:
                futures = [pool.submit(self._fetch_and_store, keys[idx[0]], bodies[idx[0]]) for idx in jobs]
                for indices, future in zip(jobs, futures, strict=True):
                    try:
                        reply = future.result()
                    except LLMClientError as exc:
                        for i in indices:
                            errors[i] = exc
                        continue
                    for i in indices:
                        replies[i] = reply
        s = self.stats
        logger.info(
            "%s: %d prompts, %d cache hits, %d HTTP calls, %d retries, %d too long, %d cut off, %d failed",
            self.name,
            len(bodies),
            s["cache_hits"],
            s["http_calls"],
            s["retries"],
            sum(1 for r in replies if r is not None and r.refused),
            sum(1 for r in replies if r is not None and r.cut_off),
            len(errors),
        )
        if errors:
            first = min(errors)
            raise LLMBatchError(
                f"{len(errors)} of {len(bodies)} chat requests failed "
                f"(indices {sorted(errors)[:10]}{'...' if len(errors) > 10 else ''}); "
                f"first, #{first}: {errors[first]}",
                errors,
            )
        return [r for r in replies if r is not None]

    @property
    def stats(self) -> dict[str, float]:
        """A snapshot of the counters: requests (prompts asked), cache_hits, cache_misses, http_calls,
        retries, retry_after_waits, timeouts, garbage, errors (prompts that failed for good), too_long
        (refused for the context window), cut_off (replies that hit max_tokens), wait_s (seconds slept
        before retries), prompt_tokens, completion_tokens (from `usage`)."""
        with self._stats_lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats = {**dict.fromkeys(_COUNTERS, 0), "wait_s": 0.0}

    def close(self) -> None:
        self._sdk.close()

    def __enter__(self) -> OpenAICompatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        key = "set" if self._api_key is not None else "none"
        return f"OpenAICompatClient(name={self.name!r}, base_url={self.config.base_url!r}, api_key={key})"

    # ------------------------------------------------------------------ internals
    def _body(
        self,
        messages: Conversation,
        temperature: float | None,
        max_tokens: int | None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        cfg = self.config
        body = {
            **cfg.extra_params,
            "model": cfg.model,
            "messages": _messages(messages),
            "temperature": cfg.temperature if temperature is None else float(temperature),
            "max_tokens": cfg.max_tokens if max_tokens is None else int(max_tokens),
        }
        if seed is not None:  # a repeated judge run: its own request (and cache entry)
            body["seed"] = int(seed)
        return body

    def _bump(self, counter: str, amount: float = 1) -> None:
        with self._stats_lock:
            self._stats[counter] += amount

    def _redact(self, text: str) -> str:
        """Key scrubbing: servers echo the key ("Incorrect API key provided: sk-..."); the SDK keeps it."""
        if self._api_key is not None:
            secret = self._api_key.get_secret_value()
            if secret:
                text = text.replace(secret, "***")
        return text

    def _too_long(self, body: dict[str, Any]) -> bool:
        """Whether the prompt's estimated tokens plus the reply budget exceed `context_window` (ours: the
        SDK knows no model's window, and a refusal found here costs nothing)."""
        window = self.config.context_window
        if window is None:
            return False
        prompt_bytes = sum(len(m["content"].encode("utf-8")) for m in body["messages"])
        return prompt_bytes / self.config.bytes_per_token + body["max_tokens"] > window

    def _fetch_and_store(self, key: str, body: dict[str, Any]) -> ChatReply:
        try:
            reply, usage = self._post_with_retries(body)
        except LLMClientError:
            self._bump("errors")
            raise
        for field in ("prompt_tokens", "completion_tokens"):
            value = usage.get(field)
            if isinstance(value, int):
                self._bump(field, value)
        if reply.refused:
            self._bump("too_long")
        if reply.cut_off:
            self._bump("cut_off")
        if self._cache is not None:
            self._cache.put(key, self.config.base_url, body, reply, usage)
        return reply

    def _post_with_retries(self, body: dict[str, Any]) -> tuple[ChatReply, dict[str, Any]]:
        cfg = self.config
        attempts = cfg.max_retries + 1
        failure: _Failure | None = None
        for attempt in range(1, attempts + 1):
            outcome = self._attempt(body)
            if isinstance(outcome, tuple):
                return outcome
            failure = outcome
            if failure.status == 400 and _TOO_LONG.search(failure.detail):
                logger.warning("%s: prompt refused as too long (%s)", self.name, failure.detail)
                return ChatReply("", refused="too_long"), {}
            if failure.error_cls is LLMHTTPError and failure.status not in RETRYABLE_STATUSES:
                raise LLMHTTPError(
                    f"HTTP {failure.status} from {self._url} (not retried): {failure.detail}",
                    status=failure.status,
                    attempts=attempt,
                )
            if attempt == attempts:
                break
            wait = retry_wait_s(
                attempt,
                failure.retry_after,
                backoff_base_s=cfg.backoff_base_s,
                backoff_max_s=cfg.backoff_max_s,
                max_retry_after_s=cfg.max_retry_after_s,
                rng=self._rng,
            )
            if failure.retry_after is not None:
                self._bump("retry_after_waits")
            self._bump("retries")
            self._bump("wait_s", wait)
            logger.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                self.name,
                attempt,
                attempts,
                failure.detail,
                wait,
            )
            time.sleep(wait)
        assert failure is not None
        raise failure.error_cls(
            f"{failure.detail} (from {self._url}; gave up after {attempts} attempts)",
            status=failure.status,
            attempts=attempts,
        )

    def _attempt(self, body: dict[str, Any]) -> tuple[ChatReply, dict[str, Any]] | _Failure:
        """One request through the SDK (exactly one HTTP call): the (reply, usage) of a good reply, or
        what went wrong. SDK exceptions are turned into redacted text here and never re-raised."""
        # The SDK's default is a flat 600 s; ours grows with the reply budget (see the module docstring).
        timeout = self.config.timeout_s or 60.0 + 0.25 * body["max_tokens"]
        params = {k: v for k, v in body.items() if k not in ("model", "messages")}
        try:
            with self._slots:
                self._bump("http_calls")
                raw = self._sdk.chat.completions.with_raw_response.create(
                    model=body["model"],
                    messages=body["messages"],
                    extra_body=params,
                    extra_headers=self._headers,
                    timeout=timeout,
                )
        except openai.APITimeoutError:
            self._bump("timeouts")
            return _Failure(LLMConnectionError, f"timeout after {timeout:g} s")
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            detail = f"connection error: {type(cause).__name__}: {self._redact(str(cause))}"
            return _Failure(LLMConnectionError, detail)
        except openai.APIStatusError as exc:
            status = exc.status_code
            detail = f"HTTP {status}: {self._redact(_server_message(exc))}"
            retry_after = parse_retry_after(exc.response.headers)
            return _Failure(LLMHTTPError, detail, status=status, retry_after=retry_after)

        # The garbage check: the SDK parses leniently and never retries a 2xx, so we check the shape.
        status = raw.http_response.status_code
        snippet = self._redact(raw.http_response.text[:_SNIPPET_CHARS])
        try:
            completion = raw.parse()
        except ValueError:
            self._bump("garbage")
            return _Failure(LLMResponseError, f"reply is not valid JSON: {snippet!r}", status=status)
        try:
            choice = completion.choices[0]
            content = choice.message.content
        except (AttributeError, IndexError, KeyError, TypeError):
            choice, content = None, None
        if not isinstance(content, str):
            self._bump("garbage")
            detail = f"reply lacks choices[0].message.content: {snippet}"
            return _Failure(LLMResponseError, detail, status=status)
        usage = completion.usage
        usage = usage.model_dump(exclude_unset=True) if isinstance(usage, CompletionUsage) else {}
        finish = getattr(choice, "finish_reason", None)  # lenient parsing: may be absent or not a string
        finish = finish if isinstance(finish, str) else None
        logger.debug("%s: HTTP %d, %d chars, finish %s", self.name, status, len(content), finish)
        return ChatReply(content, finish_reason=finish), usage


def _resolve_api_key(config: OpenAIClientSettings, credentials: Mapping[str, Any] | None) -> SecretStr | None:
    """`credentials["api_key"]` first, then the `api_key_env` variable, else None (no auth header)."""
    if credentials:
        if "api_key" not in credentials:
            raise ValueError(f"credentials have no 'api_key' entry (entries: {sorted(credentials)})")
        key = credentials["api_key"]
        key = key.get_secret_value() if isinstance(key, SecretStr) else str(key)
        if key.strip():
            return SecretStr(key.strip())
    if config.api_key_env:
        key = os.environ.get(config.api_key_env, "").strip()
        if key:
            return SecretStr(key)
    return None


def _server_message(exc: openai.APIStatusError) -> str:
    """The server's own error text, not the SDK's message (which quotes the whole body): OpenAI's
    `error.message` (the SDK hands over `error` as `body`), vLLM's `message`, or the raw body."""
    body = exc.body
    if isinstance(body, dict):
        for field in ("message", "error", "detail"):
            if isinstance(body.get(field), str) and body[field]:
                return body[field][:_SNIPPET_CHARS]
        return canonical_json(body)[:_SNIPPET_CHARS]
    if isinstance(body, str) and body.strip():
        return body.strip()[:_SNIPPET_CHARS]
    return exc.response.reason_phrase or "no message"
