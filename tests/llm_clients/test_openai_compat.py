"""The OpenAI-compatible client against a local fake server with injected faults (no network, a few seconds).

The fake server (`tests/fake_openai.py`) answers with `"echo: <last message>"`; faults are queued per prompt.
"""

from __future__ import annotations

import json
import time
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from pydantic import ValidationError

from llm_lifecycle.llm_clients import (
    ChatBackend,
    ChatReply,
    LLMBatchError,
    LLMClientError,
    LLMConnectionError,
    LLMHTTPError,
    LLMResponseError,
    OpenAIClientSettings,
    OpenAICompatClient,
    parse_retry_after,
    request_cache_key,
)
from tests.fake_openai import API_KEY, TOO_LONG, FakeOpenAI, serve_fake_openai


@pytest.fixture
def server():
    with serve_fake_openai() as fake:
        yield fake


def make_client(server: FakeOpenAI, credentials=None, **overrides) -> OpenAICompatClient:
    cfg = {
        "base_url": server.base_url,
        "model": "fake-gpt",
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "max_concurrency": 4,
        "api_key_env": None,
        **overrides,
    }
    return OpenAICompatClient(
        cfg, credentials=credentials if credentials is not None else {"api_key": API_KEY}
    )


def convs(prompts: list[str]) -> list[list[dict]]:
    return [[{"role": "system", "content": "be brief"}, {"role": "user", "content": p}] for p in prompts]


def test_batch_keeps_order_and_survives_every_fault(server):
    prompts = [f"p{i}" for i in range(12)]
    server.fail("p1", {"status": 429, "headers": {"Retry-After": "0.2"}, "message": "rate limited"})
    server.fail("p3", {"status": 500})
    server.fail("p5", {"status": 503, "headers": {"Retry-After": "0.2"}})
    server.fail("p7", {"garbage": "<html>502 Bad Gateway</html>"})
    server.fail("p8", {"garbage": json.dumps({"choices": []})})
    server.fail("p9", {"sleep": 4.0})  # beyond the client's timeout
    server.fail("p10", {"status": 502}, {"status": 500})

    # a timeout with headroom: a busy CI core must not time out the other prompts too
    with make_client(server, timeout_s=1.5) as client:
        replies = client.complete_many(convs(prompts))
        stats = client.stats

    assert replies == [f"echo: {p}" for p in prompts]  # every prompt, in order
    assert stats["retries"] == 8
    assert stats["retry_after_waits"] == 2
    assert stats["timeouts"] == 1
    assert stats["garbage"] == 2
    assert stats["errors"] == 0
    assert stats["http_calls"] == 12 + 8 == server.calls
    assert stats["completion_tokens"] == 2 * 12
    for prompt in ("p1", "p5"):  # Retry-After: 0.2 honoured (measured at the server)
        first, second = server.times[prompt]
        assert second - first >= 0.2
    assert set(server.auth) == {f"Bearer {API_KEY}"}  # the key reached the server, in the header


def test_json_that_is_not_a_chat_completion_is_garbage_and_retried(server):
    # The SDK parses 2xx bodies leniently (no validation); each of these is caught and retried like a 5xx.
    server.fail(
        "shape",
        {"garbage": json.dumps({"choices": [{"message": {"content": 5}}]})},
        {"garbage": json.dumps({"choices": [{"message": "hi"}]})},
        {"garbage": "[1, 2]"},
    )
    with make_client(server) as client:
        assert client.complete(convs(["shape"])[0]) == "echo: shape"
        stats = client.stats
    assert stats["garbage"] == 3 and stats["retries"] == 3 and stats["http_calls"] == 4 == server.calls


def test_parse_retry_after_seconds_ms_and_http_date():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    in_3s = format_datetime(now + timedelta(seconds=3), usegmt=True)
    assert parse_retry_after({"retry-after": "0.2"}, now) == pytest.approx(0.2)
    assert parse_retry_after({"retry-after": "7"}, now) == 7.0
    assert parse_retry_after({"retry-after": in_3s}, now) == pytest.approx(3.0)
    assert (
        parse_retry_after({"retry-after": format_datetime(now - timedelta(seconds=9), usegmt=True)}, now) == 0
    )
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}, now) == pytest.approx(0.25)
    assert parse_retry_after({"retry-after": "soon"}, now) is None
    assert parse_retry_after({}, now) is None


def test_retry_after_as_http_date_is_honoured(server):
    # An HTTP date has one-second resolution: ask for the next whole second; the retry must not come earlier.
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
    server.fail("d", {"status": 429, "headers": {"Retry-After": format_datetime(when, usegmt=True)}})
    with make_client(server) as client:
        assert client.complete(convs(["d"])[0]) == "echo: d"
    assert server.wall["d"][1] >= when.timestamp() - 0.01  # retried only once the date had passed
    assert client.stats["retry_after_waits"] == 1


def test_second_run_is_served_from_cache(server, tmp_path):
    prompts = [f"q{i}" for i in range(6)]
    server.fail("q2", {"status": 500})
    with make_client(server, cache_dir=tmp_path / "cache") as client:
        first = client.complete_many(convs(prompts))
    calls_after_first = server.calls
    assert calls_after_first == 7
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 6
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # atomic writes leave no temp files

    with make_client(server, cache_dir=tmp_path / "cache") as client:
        second = client.complete_many(convs(prompts))
        single = client.complete(convs(["q4"])[0])
        stats = client.stats
    assert second == first and single == "echo: q4"
    assert server.calls == calls_after_first  # zero HTTP calls
    assert stats["cache_hits"] == 7 and stats["cache_misses"] == 0 and stats["http_calls"] == 0

    # Every sampling parameter is part of the key: another temperature or seed is a new request.
    with make_client(server, cache_dir=tmp_path / "cache", extra_params={"seed": 1}) as client:
        client.complete(convs(["q0"])[0])
        client.complete(convs(["q0"])[0], temperature=0.7)
    assert server.calls == calls_after_first + 2
    assert server.bodies[-1]["seed"] == 1 and server.bodies[-1]["temperature"] == 0.7


def test_duplicates_in_a_batch_are_sent_once_with_cache(server, tmp_path):
    with make_client(server, cache_dir=tmp_path) as client:
        replies = client.complete_many(convs(["a", "b", "a", "a"]))
    assert replies == ["echo: a", "echo: b", "echo: a", "echo: a"]
    assert server.calls == 2
    with make_client(server) as client:  # no cache: each prompt is its own request (sampling may differ)
        client.complete_many(convs(["a", "a"]))
    assert server.calls == 4


def test_failed_request_is_not_cached(server, tmp_path):
    server.fail("bad", {"status": 400, "message": "model 'fake-gpt' does not support this"})
    with make_client(server, cache_dir=tmp_path) as client:
        with pytest.raises(LLMBatchError) as info:
            client.complete_many(convs(["good", "bad"]))
    assert list(info.value.errors) == [1] and info.value.errors[1].status == 400
    assert "1 of 2" in str(info.value) and "HTTP 400" in str(info.value)
    assert len(list(tmp_path.rglob("*.json"))) == 1
    calls = server.calls
    with make_client(server, cache_dir=tmp_path) as client:
        assert client.complete_many(convs(["good", "bad"])) == ["echo: good", "echo: bad"]
        assert client.stats["cache_hits"] == 1
    assert server.calls == calls + 1  # only the failed one was asked again


def test_concurrency_limit_is_respected(server):
    server.delay_s = 0.1
    with make_client(server, max_concurrency=3) as client:
        replies = client.complete_many(convs([f"c{i}" for i in range(12)]))
    assert replies == [f"echo: c{i}" for i in range(12)]
    assert 2 <= server.max_inflight <= 3


def test_non_retryable_4xx_raises_at_once(server):
    server.fail("x", {"status": 400, "message": "Invalid value for 'max_tokens'"})
    with make_client(server, backoff_base_s=5.0) as client:
        start = time.monotonic()
        with pytest.raises(LLMHTTPError) as info:
            client.complete(convs(["x"])[0])
        assert time.monotonic() - start < 2.5  # no backoff (a retry would wait 5 s)
        assert client.stats["retries"] == 0 and client.stats["errors"] == 1
    err = info.value
    assert err.status == 400 and err.attempts == 1 and server.calls == 1
    assert "HTTP 400" in str(err) and "Invalid value for 'max_tokens'" in str(err)


def test_retries_run_out_with_a_clear_error(server):
    server.fail("s", *[{"status": 500, "message": "overloaded"}] * 3)
    server.fail("g", *[{"garbage": "not json at all"}] * 3)
    server.fail("t", *[{"sleep": 2.5}] * 3)
    with make_client(server, max_retries=2, timeout_s=1.0) as client:
        with pytest.raises(LLMHTTPError, match=r"HTTP 500: overloaded.*3 attempts") as info:
            client.complete(convs(["s"])[0])
        assert info.value.status == 500 and info.value.attempts == 3
        with pytest.raises(LLMResponseError, match="not valid JSON.*3 attempts"):
            client.complete(convs(["g"])[0])
        with pytest.raises(LLMConnectionError, match="timeout"):
            client.complete(convs(["t"])[0])
        assert client.stats["errors"] == 3 and client.stats["retries"] == 6
    # Nobody listening: a connection error, retried, then raised.
    closed = OpenAIClientSettings(
        base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, backoff_base_s=0.01, api_key_env=None
    )
    with OpenAICompatClient(closed) as client, pytest.raises(LLMConnectionError, match="connection error"):
        client.complete([{"role": "user", "content": "hi"}])


def test_api_key_never_leaks(server, tmp_path, debug_logs):
    caplog = debug_logs
    server.fail("ok", {"status": 429, "headers": {"Retry-After": "0.05"}, "message": "slow down {AUTH}"})
    server.fail("unauth", {"status": 401, "message": "Incorrect API key provided: {AUTH}"})
    server.fail("down", *[{"status": 503, "message": "upstream saw {AUTH}"}] * 2)
    server.fail("junk", *[{"garbage": "<pre>{AUTH}</pre>"}] * 2)
    errors: list[BaseException] = []
    with make_client(server, cache_dir=tmp_path / "cache", max_retries=1) as client:
        assert client.complete(convs(["ok"])[0]) == "echo: ok"
        for prompt in ("unauth", "down", "junk"):
            with pytest.raises(LLMHTTPError if prompt != "junk" else LLMResponseError) as info:
                client.complete(convs([prompt])[0])
            errors.append(info.value)
        server.fail("unauth", {"status": 401, "message": "Incorrect API key provided: {AUTH}"})
        with pytest.raises(LLMBatchError) as info:
            client.complete_many(convs(["ok", "unauth"]))
        errors.append(info.value)
        texts = [repr(client), repr(client.config), client.config.model_dump_json(), str(client.stats)]
    with pytest.raises(ValidationError) as info:  # a key pasted into the config is refused, not echoed
        OpenAIClientSettings(model="m", api_key=API_KEY)
    errors.append(info.value)

    assert f"Bearer {API_KEY}" in server.auth  # the key was really sent, so its absence below means something
    assert "Incorrect API key" in str(errors[0])  # the server's message is kept, the key scrubbed
    for err in errors:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
    texts += [p.read_text() for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    texts.append(caplog.text)
    assert any("retrying" in r.getMessage() for r in caplog.records)
    # the DEBUG lines were captured too, whatever logging configuration an earlier test applied
    assert any(r.levelname == "DEBUG" and r.name.startswith("llm_lifecycle") for r in caplog.records)
    for text in texts:
        assert API_KEY not in text


def test_api_key_sources(server, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", "env-key-123")
    with make_client(server, credentials={}, api_key_env="FAKE_LLM_KEY") as client:
        client.complete(convs(["e"])[0])
    with make_client(server, credentials={"api_key": "cred-key"}, api_key_env="FAKE_LLM_KEY") as client:
        client.complete(convs(["c"])[0])
    monkeypatch.setenv("OPENAI_API_KEY", "sdk-default-env-key")  # the SDK's own fallback: never used
    with make_client(server, credentials={}, api_key_env="UNSET_LLM_KEY_VAR") as client:
        client.complete(convs(["n"])[0])  # local servers need no key: no Authorization header at all
    assert server.auth == ["Bearer env-key-123", "Bearer cred-key", None]
    with pytest.raises(ValueError, match="no 'api_key'"):
        make_client(server, credentials={"token": "x"})


def test_request_shape_roles_and_config_validation(server):
    with make_client(
        server, temperature=0.3, max_tokens=64, extra_params={"seed": 7, "top_p": 0.9}
    ) as client:
        assert isinstance(client, ChatBackend) and client.name == "openai:fake-gpt"
        client.complete(
            [
                {"role": "user", "content": "hi"},
                {"role": "bot", "content": "yo"},
                {"role": "user", "content": "z"},
            ]
        )
    body = server.bodies[-1]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert (body["model"], body["temperature"], body["max_tokens"], body["seed"], body["top_p"]) == (
        "fake-gpt",
        0.3,
        64,
        7,
        0.9,
    )
    with pytest.raises(ValidationError, match="extra_params"):
        OpenAIClientSettings(model="m", extra_params={"model": "other"})
    with pytest.raises(ValidationError, match="API root"):
        OpenAIClientSettings(model="m", base_url="http://h/v1/chat/completions")
    key = request_cache_key("http://h/v1", {"model": "m", "messages": [], "temperature": 0})
    assert key == request_cache_key("http://h/v1", {"temperature": 0, "messages": [], "model": "m"})


def test_prompts_too_long_are_refused_counted_and_never_asked_twice(server, tmp_path):
    # The server's own 400 "maximum context length" is a refusal, not a failure of the batch; it is
    # deterministic, so it is cached and a rerun does not ask again.
    server.fail("long", TOO_LONG)
    prompts = convs(["a", "long", "b"])
    with make_client(server, cache_dir=tmp_path) as client:
        replies = client.replies(prompts)
        assert [r.refused for r in replies] == [None, "too_long", None]
        assert replies[0] == ChatReply("echo: a", finish_reason="stop")
        assert client.stats["too_long"] == 1 and client.stats["errors"] == 0 and client.stats["retries"] == 0
        with pytest.raises(LLMBatchError, match="1 of 3 prompts refused as too long"):
            client.complete_many(prompts)  # the strict call does not pretend there is a reply
    assert server.calls == 3
    with make_client(server, cache_dir=tmp_path) as client:
        assert [r.refused for r in client.replies(prompts)] == [None, "too_long", None]
        assert client.stats["http_calls"] == 0


def test_the_context_window_is_checked_before_a_call(server):
    # 1000 bytes of prompt / 2 bytes per token + 64 reply tokens > 300: refused without asking
    long_prompt, short_prompt = "x" * 1000, "y" * 100
    with make_client(server, context_window=300, max_tokens=64) as client:
        replies = client.replies(convs([long_prompt, short_prompt]))
    assert [r.refused for r in replies] == ["too_long", None]
    assert server.calls == 1 and server.bodies[0]["messages"][-1]["content"] == short_prompt


def test_cut_off_replies_say_so_and_are_counted(server, tmp_path):
    server.fail("cut", {"finish_reason": "length"})
    with make_client(server, cache_dir=tmp_path) as client:
        cut, whole = client.replies(convs(["cut", "whole"]))
        assert cut.cut_off and cut.text == "echo: cut" and not whole.cut_off
        assert client.stats["cut_off"] == 1
    with make_client(server, cache_dir=tmp_path) as client:  # the cache keeps how the reply ended
        assert client.replies(convs(["cut"]))[0].cut_off


def test_default_timeout_grows_with_the_reply_budget(server):
    # 60 s + 0.25 s per token: a 1024-token GPT-4 reply (~100 s at 10 tokens/s) is not cut at a minute
    server.fail("slow", {"sleep": 0.3})
    with make_client(server, timeout_s=None, max_retries=0) as client:
        assert client.complete(convs(["slow"])[0]) == "echo: slow"
    assert OpenAIClientSettings(model="m").timeout_s is None


def test_api_openai_com_without_a_key_stops_at_once(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(
        LLMClientError, match="no API key for https://api.openai.com/v1: export OPENAI_API_KEY"
    ):
        OpenAICompatClient({"model": "gpt-4-0613"}, credentials={"api_key": ""})
