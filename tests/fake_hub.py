"""A loopback stand-in for the Hugging Face Hub's HTTP API, for hermetic download tests.

A test registers tiny model and dataset repos, points a subprocess at the server with
`HF_ENDPOINT=<hub.endpoint>` (plus `HF_HOME`, `HF_TOKEN`; see `FakeHub.env`) and runs unchanged user code:
`transformers.AutoModelForCausalLM.from_pretrained(...)`, `AutoTokenizer.from_pretrained(...)`,
`datasets.load_dataset(...)` with or without `streaming=True`. It must be a subprocess because
huggingface_hub and datasets read `HF_ENDPOINT`/`HF_HOME`/`HF_HUB_OFFLINE` once, at import time.

Endpoints (what huggingface_hub 2.4 / datasets 5.2 / transformers 5.x call, read from their source):

- `HEAD|GET /{repo_id}/resolve/{rev}/{path}` and `/datasets/{repo_id}/resolve/{rev}/{path}`:
  `hf_hub_download` sends a HEAD first and needs `X-Repo-Commit` (else `FileMetadataError`), an `ETag`
  (git blob sha1, or the LFS sha256 via `X-Linked-Etag`) and a size (`Content-Length` or `X-Linked-Size`).
  Small ("git") files are served in place (200); LFS-like files (`LFS_SUFFIXES`) answer 302 to a second
  listener on another port that plays the CDN, as the real hub redirects to its CDN: the client then
  drops the `Authorization` header, which tests can check. GET and the CDN honour `Range` (206),
  because streaming reads parquet footers and row groups by range. Missing files answer 404
  `X-Error-Code: EntryNotFound` with `X-Repo-Commit`, which lets the client cache the absence.
- `GET /api/{models|datasets}/{repo_id}[/revision/{rev}]`: repo info (`sha`, `siblings`, `gated`).
  transformers calls it first to pin `main` to a commit, then HEADs `resolve/{sha}/...` (so a second
  load finds the snapshot and sends no HEAD at all); `HfFileSystem` calls it to check that a
  repo/revision exists before any listing or read.
- `GET /api/{type}s/{repo_id}/tree/{rev}[/{path}]?recursive=&expand=&cursor=`: the listing behind
  `HfFileSystem.glob`/`ls` (datasets resolves `data_files` patterns through it) and transformers'
  `additional_chat_templates/` lookup. Pages of `tree_page_size` entries linked by a `Link: <...>; rel="next"`
  header, as the hub paginates (1000 a page).
- `POST /api/{type}s/{repo_id}/paths-info/{rev}` (form `paths=...&expand=...`): `HfApi.get_paths_info`,
  and `HfFileSystem.info` when its listing cache cannot answer (`refresh=True`, `expand_info`).

No `X-Xet-Hash` header, `Link: rel="xet-auth"` or `xetHash` tree field is ever sent, so the client takes
the plain HTTP path even with `hf_xet` installed. Gating is enforced where the hub enforces it, on file
content (`resolve`): without a token 401, with a token not granted 403, both `X-Error-Code: GatedRepo`
(the client raises `GatedRepoError`); info and listings stay public, as on the hub. Unknown repos answer
404 `X-Error-Code: RepoNotFound`. Everything else is 404, and every request is recorded in
`hub.requests` as `(method, path, auth)`; `hub.downloads` lists each file body sent.

datasets 5.2 also reaches for `http://datasets-server.<endpoint host>/info` (its dataset-viewer export
infos; the name does not resolve, the error is swallowed) and, unless `HF_UPDATE_DOWNLOAD_COUNTS=false`,
a HEAD to s3.amazonaws.com to count downloads; `FakeHub.env` turns the latter off. It needs neither the
hub's `/api/datasets/{id}/parquet` nor the croissant endpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

TOKEN = "hf_fake_hub_token_0123456789abcdef"
# Suffixes the hub's default .gitattributes stores in LFS: these are served through the fake CDN.
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".onnx",
    ".parquet",
    ".arrow",
    ".gz",
    ".zst",
)
_DATE = "2024-05-01T12:00:00.000Z"
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_API_RE = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/revision/([^/]+))?$")
_TREE_RE = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$")
_PATHS_INFO_RE = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/paths-info/([^/]+)$")
_RESOLVE_RE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class HubRequest(NamedTuple):
    method: str
    path: str  # with the query string; CDN requests start with /lfs/
    auth: str | None  # the Authorization header as sent


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class _File:
    path: str
    data: bytes
    lfs: bool
    sha256: str = ""
    oid: str = ""  # git blob id: of the content, or of the LFS pointer
    pointer_size: int = 0

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        if self.lfs:
            spec = "version https://git-lfs.github.com/spec/v1"
            pointer = f"{spec}\noid sha256:{self.sha256}\nsize {len(self.data)}\n"
            self.oid, self.pointer_size = _git_sha1(pointer.encode()), len(pointer)
        else:
            self.oid = _git_sha1(self.data)

    def entry(self, expand: bool, sha: str) -> dict:
        out: dict = {"type": "file", "oid": self.oid, "size": len(self.data), "path": self.path}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": self.pointer_size}
        if expand:
            out["lastCommit"] = {"id": sha, "title": "Upload", "date": _DATE}
        return out


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    files: dict[str, _File]
    gated: bool
    tokens: frozenset[str]
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # The commit id is derived from the content, so re-registering changed files makes a new commit.
        listing = "".join(f"{p}\0{f.oid}\n" for p, f in sorted(self.files.items()))
        self.sha = hashlib.sha1(f"{self.repo_type}/{self.repo_id}\n{listing}".encode()).hexdigest()

    def is_dir(self, path: str) -> bool:
        return path == "" or any(p.startswith(path + "/") for p in self.files)

    def dir_entry(self, path: str, expand: bool) -> dict:
        out = {"type": "directory", "oid": hashlib.sha1(f"{self.sha}:{path}".encode()).hexdigest(), "size": 0}
        out["path"] = path
        if expand:
            out["lastCommit"] = {"id": self.sha, "title": "Upload", "date": _DATE}
        return out

    def tree(self, base: str, recursive: bool, expand: bool) -> list[dict]:
        prefix = base + "/" if base else ""
        dirs: set[str] = set()
        files: list[dict] = []
        for path in sorted(self.files):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            if recursive:
                dirs.update(prefix + "/".join(parts[:i]) for i in range(1, len(parts)))
                files.append(self.files[path].entry(expand, self.sha))
            elif len(parts) == 1:
                files.append(self.files[path].entry(expand, self.sha))
            else:
                dirs.add(prefix + parts[0])
        # Folders first, then files, as the hub lists them.
        return [self.dir_entry(d, expand) for d in sorted(dirs)] + files


class FakeHub:
    """State shared with the handler threads: the repos, the request log and the served file bodies."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.endpoint = ""  # http://127.0.0.1:PORT, set by serve_fake_hub
        self.cdn_endpoint = ""  # the second listener that serves LFS blobs
        self.tree_page_size = 1000  # the hub's page size for tree listings; lower it to test pagination
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.requests: list[HubRequest] = []
        self.downloads: list[tuple[str, str]] = []  # (repo_id, path) for every file body (or range) sent
        self.ranges: list[tuple[str, str]] = []  # (path, Range header) of every ranged GET/HEAD
        self._blobs: dict[str, tuple[_Repo, _File]] = {}

    # ---- registering repos -------------------------------------------------------------------------

    def add_model_repo(
        self,
        repo_id: str,
        files: str | Path | Mapping[str, bytes | str],
        *,
        gated: bool = False,
        tokens: set[str] | frozenset[str] = frozenset({TOKEN}),
    ) -> str:
        """Register (or replace) a model repo from a folder or `{path: content}`; returns its commit sha."""
        return self._add("model", repo_id, files, gated, tokens)

    def add_dataset_repo(
        self,
        repo_id: str,
        files: str | Path | Mapping[str, bytes | str],
        *,
        gated: bool = False,
        tokens: set[str] | frozenset[str] = frozenset({TOKEN}),
    ) -> str:
        """Register (or replace) a dataset repo; `tokens` are the ones granted access when `gated`."""
        return self._add("dataset", repo_id, files, gated, tokens)

    def _add(self, repo_type, repo_id, files, gated, tokens) -> str:
        if not isinstance(files, Mapping):
            root = Path(files)
            files = {
                p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            }
        entries = {}
        for path, content in files.items():
            data = content.encode() if isinstance(content, str) else bytes(content)
            entries[path] = _File(path, data, lfs=path.endswith(LFS_SUFFIXES))
        repo = _Repo(repo_type, repo_id, entries, gated, frozenset(tokens))
        with self.lock:
            self.repos[(repo_type, repo_id)] = repo
            for f in entries.values():
                if f.lfs:
                    self._blobs[f.sha256] = (repo, f)
        return repo.sha

    # ---- what tests look at ------------------------------------------------------------------------

    def env(self, home: str | Path, token: str | None = TOKEN, **extra: str) -> dict[str, str]:
        """An environment for a subprocess that talks to this hub only: the test session's as it started
        (`SESSION_ENV`) without its HF_* settings (it sets HF_HUB_OFFLINE=1), its own HF_HOME, and no
        download-count ping to S3."""
        from tests.kedro_project import SESSION_ENV

        prefixes = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "DATASETS_")
        env = {k: v for k, v in SESSION_ENV.items() if not k.startswith(prefixes)}
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HOME=str(home),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_UPDATE_DOWNLOAD_COUNTS="false",
            TOKENIZERS_PARALLELISM="false",
            DO_NOT_TRACK="1",
        )
        if token is not None:
            env["HF_TOKEN"] = token
        env.update(extra)
        return env

    def paths(self, method: str | None = None, contains: str = "") -> list[str]:
        with self.lock:
            return [
                r.path for r in self.requests if (method is None or r.method == method) and contains in r.path
            ]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.downloads.clear()
            self.ranges.clear()

    # ---- request handling --------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str, cdn: bool) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.requests.append(HubRequest(method, h.path, h.headers.get("Authorization")))
        url = urlsplit(h.path)
        path, query = unquote(url.path), parse_qs(url.query)
        try:
            if cdn:
                self._cdn(h, method, url.path)
            elif method in ("GET", "HEAD") and (m := _RESOLVE_RE.match(url.path)):
                repo_type = _TYPES[m[1]] if m[1] else "model"
                self._resolve(h, method, repo_type, m[2], unquote(m[3]), unquote(m[4]))
            elif method == "GET" and (m := _TREE_RE.match(url.path)):
                self._tree(h, _TYPES[m[1]], m[2], unquote(m[3]), unquote(m[4] or "").strip("/"), query)
            elif method == "GET" and (m := _API_RE.match(url.path)):
                self._info(h, _TYPES[m[1]], m[2], unquote(m[3]) if m[3] else "main", query)
            elif method == "POST" and (m := _PATHS_INFO_RE.match(url.path)):
                self._paths_info(
                    h, _TYPES[m[1]], m[2], unquote(m[3]), h.headers.get("Content-Type", ""), body
                )
            else:
                self._error(h, 404, None, f"Cannot {method} {path}", method)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up (e.g. a streaming reader that had enough)

    def _repo(self, h, method, repo_type, repo_id, revision) -> _Repo | None:
        """The repo at `revision` ("main" or its commit sha), or None after answering the hub's error."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(h, 404, "RepoNotFound", "Repository not found", method)
        elif revision not in ("main", repo.sha):
            self._error(h, 404, "RevisionNotFound", "Invalid rev id: " + revision, method, repo.sha)
        else:
            return repo
        return None

    def _resolve(self, h, method, repo_type, repo_id, revision, path) -> None:
        repo = self._repo(h, method, repo_type, repo_id, revision)
        if repo is None:
            return
        if repo.gated:
            auth = h.headers.get("Authorization") or ""
            token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            if token is None:
                msg = (
                    f"Access to {repo_type} {repo_id} is restricted. You must be authenticated to access it."
                )
                return self._error(h, 401, "GatedRepo", msg, method)
            if token not in repo.tokens:
                msg = f"Access to {repo_type} {repo_id} is restricted and you are not in the authorized list."
                return self._error(h, 403, "GatedRepo", msg, method)
        f = repo.files.get(path)
        if f is None:
            return self._error(h, 404, "EntryNotFound", "Entry not found", method, repo.sha)
        headers = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if f.lfs:
            # The hub redirects LFS content to its CDN; the linked headers carry the real etag and size.
            headers.update(
                {
                    "Location": f"{self.cdn_endpoint}/lfs/{f.sha256}?name={quote(path.rsplit('/', 1)[-1])}",
                    "ETag": f'"{f.oid}"',
                    "X-Linked-Etag": f'"{f.sha256}"',
                    "X-Linked-Size": str(len(f.data)),
                }
            )
            return self._send(h, 302, headers, b"", method)
        headers["ETag"] = f'"{f.oid}"'
        self._send_file(h, method, repo, f, headers)

    def _cdn(self, h, method, path) -> None:
        m = re.match(r"^/lfs/([0-9a-f]{64})$", path)
        with self.lock:
            hit = self._blobs.get(m[1]) if m and method in ("GET", "HEAD") else None
        if hit is None:
            return self._send(h, 404, {"Content-Type": "text/plain"}, b"NoSuchKey", method)
        repo, f = hit
        self._send_file(h, method, repo, f, {"ETag": f'"{f.sha256}"', "Accept-Ranges": "bytes"})

    def _send_file(self, h, method, repo: _Repo, f: _File, headers: dict) -> None:
        data, status = f.data, 200
        if (rng := h.headers.get("Range")) is not None:
            with self.lock:
                self.ranges.append((f.path, rng))
            m = _RANGE_RE.match(rng.strip())
            size = len(data)
            if m and m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            elif m and m[2]:  # suffix range: the last N bytes
                start, end = max(size - int(m[2]), 0), size - 1
            else:
                start, end = size, -1
            if start >= size or start > end:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(h, 416, headers, b"", method)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            data, status = data[start : end + 1], 206
        headers.setdefault("Content-Type", "application/octet-stream")
        if method == "GET":
            with self.lock:
                self.downloads.append((repo.repo_id, f.path))
        self._send(h, status, headers, data, method)

    def _info(self, h, repo_type, repo_id, revision, query) -> None:
        repo = self._repo(h, "GET", repo_type, repo_id, revision)
        if repo is None:
            return
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for f in sorted(repo.files.values(), key=lambda f: f.path):
            sib: dict = {"rfilename": f.path}
            if blobs:
                sib.update(size=len(f.data), blobId=f.oid)
                if f.lfs:
                    sib["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": f.pointer_size}
            siblings.append(sib)
        info = {
            "_id": repo.sha[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": repo.sha,
            "lastModified": _DATE,
            "createdAt": _DATE,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(len(f.data) for f in repo.files.values()),
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        self._json(h, info)

    def _tree(self, h, repo_type, repo_id, revision, base, query) -> None:
        repo = self._repo(h, "GET", repo_type, repo_id, revision)
        if repo is None:
            return
        if not repo.is_dir(base):
            return self._error(
                h, 404, "EntryNotFound", f"{base} does not exist on {revision}", "GET", repo.sha
            )
        flag = {k: query.get(k, ["false"])[0].lower() == "true" for k in ("recursive", "expand")}
        entries = repo.tree(base, flag["recursive"], flag["expand"])
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start : start + self.tree_page_size]
        headers = {}
        if start + self.tree_page_size < len(entries):
            url = urlsplit(h.path)
            nxt = f"{self.endpoint}{url.path}?recursive={str(flag['recursive']).lower()}"
            nxt += f"&expand={str(flag['expand']).lower()}&cursor={start + self.tree_page_size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._json(h, page, headers)

    def _paths_info(self, h, repo_type, repo_id, revision, content_type, body) -> None:
        repo = self._repo(h, "POST", repo_type, repo_id, revision)
        if repo is None:
            return
        # huggingface_hub posts a form (`paths` repeated); accept JSON too, as the hub does.
        if "json" in content_type:
            form = json.loads(body or b"{}")
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(body.decode())
            paths, expand = form.get("paths", []), form.get("expand", ["false"])[0].lower() == "true"
        out = []
        for p in (raw.strip("/") for raw in paths):
            if p in repo.files:
                out.append(repo.files[p].entry(expand, repo.sha))
            elif p and repo.is_dir(p):
                out.append(repo.dir_entry(p, expand))
        self._json(h, out)

    # ---- responses ---------------------------------------------------------------------------------

    def _json(self, h, payload, headers: dict | None = None) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self._send(h, 200, headers, json.dumps(payload).encode(), "GET")

    def _error(self, h, status, code, message, method, commit: str | None = None) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if commit:
            headers["X-Repo-Commit"] = commit
        self._send(h, status, headers, json.dumps({"error": message}).encode(), method)

    @staticmethod
    def _send(h, status, headers, data: bytes, method: str) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))  # HEAD too: the size a GET would send
        h.end_headers()
        if method != "HEAD" and data:
            h.wfile.write(data)


@contextlib.contextmanager
def serve_fake_hub() -> Iterator[FakeHub]:
    """Run a `FakeHub` on a free 127.0.0.1 port (plus one for its CDN); `hub.endpoint` is the HF_ENDPOINT."""
    hub = FakeHub()

    def handler(cdn: bool) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            # Keep-alive: the clients reuse one connection for the HEAD/GET sequence of each file.
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                hub.handle(self, "GET", cdn)

            def do_HEAD(self):
                hub.handle(self, "HEAD", cdn)

            def do_POST(self):
                hub.handle(self, "POST", cdn)

            def log_message(self, *args):
                pass

        return Handler

    servers = []
    for cdn in (False, True):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(cdn))
        httpd.daemon_threads = True
        httpd.block_on_close = False
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(httpd)
    hub.endpoint = f"http://127.0.0.1:{servers[0].server_address[1]}"
    hub.cdn_endpoint = f"http://127.0.0.1:{servers[1].server_address[1]}"
    try:
        yield hub
    finally:
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()


# ---- building repos -----------------------------------------------------------------------------------


def parquet_bytes(rows: list[dict], row_group_size: int | None = None) -> bytes:
    """A parquet file of `rows` (pyarrow is imported here only: the server itself is stdlib)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=row_group_size)
    return buf.getvalue()


def _yaml(value, indent: int = 0) -> str:
    """Block-style YAML for dicts/lists of strings, numbers and bools (JSON scalars are valid YAML)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:\n{_yaml(v, indent + 2)}")
            else:
                lines.append(f"{pad}{k}: {json.dumps(v, ensure_ascii=False)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for v in value:
            inner = _yaml(v, indent + 2) if isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False)
            lines.append(f"{pad}- {inner.lstrip()}")
        return "\n".join(lines)
    return pad + json.dumps(value, ensure_ascii=False)


def dataset_card(configs: list[dict], body: str = "", **metadata) -> str:
    """A README.md with YAML front matter, e.g. `configs=[{"config_name": "rus_Cyrl", "data_files":
    [{"split": "train", "path": "data/rus_Cyrl/train/*"}]}]` as on FineWeb-2."""
    front = _yaml({**metadata, "configs": configs})
    return f"---\n{front}\n---\n{body}"
