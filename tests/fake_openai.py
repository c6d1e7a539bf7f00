"""A local fake OpenAI-compatible server with injectable faults (client, teacher and judge tests).

`POST /v1/chat/completions` answers `"echo: <last message>"` (or `reply(body)` when set). Faults are
queued per prompt (the last message's content), so which request fails does not depend on thread
scheduling: `{"status": 429, "headers": {"Retry-After": "0"}}`, `{"garbage": "not json"}`,
`{"sleep": 3}` (a timeout), `{"finish_reason": "length"}` (a reply cut off at max_tokens), and the
context-window refusal `TOO_LONG` (HTTP 400 as OpenAI words it).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "sk-test-VERY-SECRET-0123456789abcdef"
# OpenAI's answer to a prompt that does not fit the context window
TOO_LONG = {
    "status": 400,
    "message": "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9120 tokens. Please reduce the length of the messages.",
    "code": "context_length_exceeded",
}


class FakeOpenAI:
    """State shared with the handler threads: counters, received headers/bodies and fault queues."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.inflight = 0
        self.max_inflight = 0
        self.delay_s = 0.0  # every reply waits this long (to make requests overlap)
        self.auth: list[str | None] = []
        self.bodies: list[dict] = []
        self.times: dict[str, list[float]] = defaultdict(list)
        self.wall: dict[str, list[float]] = defaultdict(list)
        self.faults: dict[str, list[dict]] = defaultdict(list)
        # (predicate on the request body, faults): for prompts a test cannot spell out in advance
        self.rules: list[tuple[Callable[[dict], bool], list[dict]]] = []
        self.answered: list[str] = []  # canonical JSON of every body that got its reply (not a fault)
        self.base_url = ""
        # body -> assistant text; default echoes the last message
        self.reply: Callable[[dict], str] = lambda body: f"echo: {body['messages'][-1]['content']}"

    def fail(self, prompt: str, *faults: dict) -> None:
        self.faults[prompt].extend(faults)

    def fail_matching(self, predicate: Callable[[dict], bool], *faults: dict) -> None:
        """Queue `faults` for the next requests whose body matches `predicate`, one each."""
        self.rules.append((predicate, list(faults)))

    def _next_fault(self, prompt: str, body: dict) -> dict | None:
        if self.faults[prompt]:
            return self.faults[prompt].pop(0)
        for predicate, faults in self.rules:
            if faults and predicate(body):
                return faults.pop(0)
        return None

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        body = json.loads(handler.rfile.read(length))
        auth = handler.headers.get("Authorization")
        prompt = body["messages"][-1]["content"]
        with self.lock:
            self.calls += 1
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            self.auth.append(auth)
            self.bodies.append(body)
            self.times[prompt].append(time.monotonic())
            self.wall[prompt].append(time.time())
            fault = self._next_fault(prompt, body)
            if fault is None or "finish_reason" in fault:
                self.answered.append(json.dumps(body, sort_keys=True, ensure_ascii=False))
        left = threading.Event()

        def leave() -> None:
            # In flight until the reply starts out, not until this thread gets to run again: the client
            # frees its slot once it has read the reply, and its next request may come in before then.
            with self.lock:
                if not left.is_set():
                    left.set()
                    self.inflight -= 1

        try:
            time.sleep(self.delay_s)
            self._reply(handler, body, prompt, fault, auth, leave)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)
        finally:
            leave()

    def _reply(self, handler, body, prompt, fault, auth, leave) -> None:
        status, headers, payload = 200, {}, None
        if fault is None or "finish_reason" in fault:
            finish = (fault or {}).get("finish_reason", "stop")
            message = {"role": "assistant", "content": self.reply(body)}
            payload = json.dumps(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                }
            )
        elif "sleep" in fault:
            time.sleep(fault["sleep"])
            return self._reply(handler, body, prompt, None, auth, leave)
        elif "garbage" in fault:
            payload = fault["garbage"].replace("{AUTH}", str(auth))
        else:
            status = fault["status"]
            headers = fault.get("headers", {})
            message = fault.get("message", "boom").replace("{AUTH}", str(auth))
            error = {"message": message, "type": "test_error", "code": fault.get("code")}
            payload = json.dumps({"error": error})
        data = payload.encode()
        leave()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


@contextlib.contextmanager
def serve_fake_openai() -> Iterator[FakeOpenAI]:
    """Run a `FakeOpenAI` on a free localhost port; `fake.base_url` ends in `/v1`."""
    fake = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/v1/chat/completions":
                self.send_error(404)
                return
            fake.handle(self)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
