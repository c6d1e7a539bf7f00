"""On-disk cache of chat replies, one JSON file per request (ours: the `openai` SDK keeps none).

* Key: the sha256 of a canonical JSON (`canonical_json`: sorted keys, no spaces, UTF-8 kept) of
  `CACHE_FORMAT_VERSION`, the endpoint (`base_url`) and the full request body (model, messages, every
  sampling parameter, `extra_params` included). The API key is not part of the key nor of the cached
  files: it does not change the reply, a rotated key must not invalidate the cache, and a cache
  directory may be shared or inspected without leaking a secret.
* Layout: `<cache_dir>/<key[:2]>/<key>.json`, holding the key, `base_url`, the request, the reply
  (`content`, `finish_reason`), `refused`, `usage` and `created_at`. An entry whose key does not
  match its name, or that has neither content nor a refusal, is ignored with a warning.
* What is cached: successful replies (with their `finish_reason`) and "prompt too long" refusals,
  which are deterministic. Other failures are not, so a rerun asks the server again exactly for what
  failed, and a rerun of a finished batch makes no HTTP call.
* Writes are atomic: each entry goes to a temporary file in the same directory and is renamed over
  its name (`os.replace`), so a killed run never leaves half an entry, and concurrent writers of the
  same key leave one whole entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llm_lifecycle.chat_format import ChatReply

logger = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


def canonical_json(obj: Any) -> str:
    """The one JSON spelling of `obj` (sorted keys, no spaces, UTF-8 kept): stable across runs."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_cache_key(base_url: str, body: Mapping[str, Any]) -> str:
    """sha256 of the endpoint and the full request body (model, messages, sampling params); never the key."""
    blob = canonical_json({"v": CACHE_FORMAT_VERSION, "base_url": base_url, "body": dict(body)})
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """The replies cached under `cache_dir` (created if missing). Thread-safe: entries are written atomically.

    `label` prefixes the log lines (the client's name).
    """

    def __init__(self, cache_dir: str | os.PathLike[str], *, label: str = "cache") -> None:
        self.cache_dir = Path(cache_dir)
        self.label = label
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(base_url: str, body: Mapping[str, Any]) -> str:
        """The cache key of a request (`request_cache_key`)."""
        return request_cache_key(base_url, body)

    def path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatReply | None:
        """The cached reply or refusal for `key`; None if there is none or it is unreadable."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            content, refused = entry.get("content"), entry.get("refused")
            if entry.get("key") != key or not (isinstance(content, str) or isinstance(refused, str)):
                raise ValueError("entry does not match its key")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("%s: ignoring unreadable cache entry %s (%s)", self.label, path, exc)
            return None
        if refused:
            return ChatReply("", refused=refused)
        return ChatReply(content, finish_reason=entry.get("finish_reason"))

    def put(
        self, key: str, base_url: str, body: Mapping[str, Any], reply: ChatReply, usage: Mapping[str, Any]
    ) -> None:
        """Store `reply` (a success or a refusal) to the request `body` sent to `base_url`."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "v": CACHE_FORMAT_VERSION,
            "key": key,
            "base_url": base_url,
            "request": body,
            "content": None if reply.refused else reply.text,
            "finish_reason": reply.finish_reason,
            "refused": reply.refused,
            "usage": usage,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
