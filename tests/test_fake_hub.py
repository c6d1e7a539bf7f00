"""The fake Hub (`tests/fake_hub.py`) against the real huggingface_hub, transformers and datasets clients.

The user-side code runs unchanged in a subprocess, because huggingface_hub and datasets read
`HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE` at import time (and this test session sets
HF_HUB_OFFLINE=1). The raw-protocol test talks HTTP to the server directly, in process.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.fake_hub import TOKEN, dataset_card, parquet_bytes, serve_fake_hub

MODEL_ID = "meta-llama/Meta-Llama-3-8B"
SAIGA = "IlyaGusev/saiga_scored"
FINEWEB = "HuggingFaceFW/fineweb-2"
_TEXTS = ["Moscow is a large city.", "The teacher lives in Moscow and has a cat.", "Москва — большой город."]


def _run(code: str, env: dict, *args: str) -> dict:
    """Run `code` in a fresh interpreter (with `sys.argv[1:] == args`); it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A 1-layer LLaMA and a byte-level BPE tokenizer saved as a hub checkpoint; (folder, expectations)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=300,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(_TEXTS * 10, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")
    tok.save_pretrained(folder)
    expected = {
        "ids": tok(_TEXTS[0]).input_ids,
        "weights": float(sum(p.detach().double().sum() for p in model.parameters())),
    }
    return folder, expected


@pytest.fixture
def hub():
    with serve_fake_hub() as fake:
        yield fake


def _saiga_rows(n: int = 20) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"вопрос {i}"},
                {"role": "assistant", "content": f"ответ {i}"},
            ],
            "opus_score": i % 10,
            "language": "Russian",
        }
        for i in range(n)
    ]


def _fineweb_files(per_file: int = 5) -> dict:
    configs = [
        {"config_name": lang, "data_files": [{"split": "train", "path": f"data/{lang}/train/*"}]}
        for lang in ("rus_Cyrl", "ukr_Cyrl")
    ]
    files: dict = {"README.md": dataset_card(configs, "# FineWeb-2 (fake)\n", license="odc-by")}
    for lang in ("rus_Cyrl", "ukr_Cyrl"):
        for k in range(2):
            rows = [
                {
                    "text": f"{lang} document {k}-{j}",
                    "id": f"<urn:uuid:{lang}-{k}-{j}>",
                    "language": lang,
                    "language_score": 0.9,
                }
                for j in range(per_file)
            ]
            files[f"data/{lang}/train/000_{k:05d}.parquet"] = parquet_bytes(rows, row_group_size=2)
    return files


_LOAD_MODEL = f"""
import json, sys
from transformers import AutoModelForCausalLM, AutoTokenizer
out = {{}}
if "--first-without-token" in sys.argv:
    try:
        AutoModelForCausalLM.from_pretrained({MODEL_ID!r}, token=False)
    except OSError as e:  # transformers wraps the hub's GatedRepoError
        out["refused"] = [type(e.__cause__).__name__, str(e)]
model = AutoModelForCausalLM.from_pretrained({MODEL_ID!r})
tok = AutoTokenizer.from_pretrained({MODEL_ID!r})
out.update(model=type(model).__name__, ids=tok({_TEXTS[0]!r}).input_ids,
           weights=float(sum(p.detach().double().sum() for p in model.parameters())))
print(json.dumps(out))
"""


@pytest.mark.slow
def test_gated_model_and_tokenizer_download_with_the_token_then_come_from_the_cache(
    hub, tiny_llama, tmp_path
):
    folder, expected = tiny_llama
    hub.add_model_repo(MODEL_ID, folder, gated=True, tokens={TOKEN})
    env = hub.env(tmp_path / "hf_home")

    out = _run(_LOAD_MODEL, env, "--first-without-token")
    # Without a token the gated repo refuses the files and transformers raises from GatedRepoError.
    cause, message = out.pop("refused")
    assert cause == "GatedRepoError" and "gated repo" in message and "401" in message
    assert out["model"] == "LlamaForCausalLM"
    assert out["ids"] == expected["ids"]
    assert out["weights"] == pytest.approx(expected["weights"], rel=1e-12)
    # Every file the checkpoint has came down once; the weights through the CDN redirect.
    assert sorted(p for _, p in hub.downloads) == sorted(p.name for p in folder.iterdir())
    assert len(hub.paths("GET", "/lfs/")) == 1
    # The refused attempt sent no token; from then on every hub call carried it, and the CDN never got it
    # (the client drops Authorization when a redirect leaves the hub's host).
    auths = [r.auth for r in hub.requests if not r.path.startswith("/lfs/")]
    first = auths.index(f"Bearer {TOKEN}")
    assert first > 0 and set(auths[:first]) == {None} and set(auths[first:]) == {f"Bearer {TOKEN}"}
    assert {r.auth for r in hub.requests if r.path.startswith("/lfs/")} == {None}

    # A second load checks the revision (repo info) and reads the snapshot: no file is fetched again.
    hub.clear()
    assert _run(_LOAD_MODEL, env) == out
    assert hub.downloads == [] and hub.paths(contains="/resolve/") == []
    assert hub.paths("GET", f"/api/models/{MODEL_ID}")


_ERRORS = f"""
import json, datasets, huggingface_hub as hh
out = {{}}
def catch(name, fn):
    try:
        fn()
        out[name] = None
    except Exception as e:
        resp = getattr(e, "response", None)
        out[name] = [type(e).__name__, resp.status_code if resp is not None else None, str(e)]
catch("file_no_token", lambda: hh.hf_hub_download({MODEL_ID!r}, "config.json", token=False))
catch("file_not_granted", lambda: hh.hf_hub_download({MODEL_ID!r}, "config.json", token="hf_not_granted"))
catch("file_missing_repo", lambda: hh.hf_hub_download("nobody/missing", "config.json"))
catch("file_missing_entry", lambda: hh.hf_hub_download({SAIGA!r}, "nope.json", repo_type="dataset"))
catch("dataset_gated", lambda: datasets.load_dataset({SAIGA!r}, split="train", token=False))
catch("dataset_missing", lambda: datasets.load_dataset("nobody/missing", split="train"))
print(json.dumps(out))
"""


@pytest.mark.slow
def test_gated_and_missing_repos_raise_the_clients_own_errors(hub, tmp_path):
    hub.add_model_repo(MODEL_ID, {"config.json": "{}"}, gated=True)
    hub.add_dataset_repo(
        SAIGA, {"README.md": "---\n---\n", "data/train.parquet": parquet_bytes(_saiga_rows())}, gated=True
    )
    out = _run(_ERRORS, hub.env(tmp_path / "hf_home"))

    assert out["file_no_token"][:2] == ["GatedRepoError", 401]
    assert out["file_not_granted"][:2] == ["GatedRepoError", 403]
    assert out["file_missing_repo"][:2] == ["RepositoryNotFoundError", 404]
    assert out["file_missing_entry"][:2] == ["RemoteEntryNotFoundError", 404]
    assert out["dataset_gated"][0] == "DatasetNotFoundError" and "gated dataset" in out["dataset_gated"][2]
    assert out["dataset_missing"][0] == "DatasetNotFoundError"
    assert "doesn't exist" in out["dataset_missing"][2]
    assert hub.downloads == []  # nothing gated leaked out
    assert ("HEAD", f"/{MODEL_ID}/resolve/main/config.json", "Bearer hf_not_granted") in hub.requests
    assert ("HEAD", f"/{MODEL_ID}/resolve/main/config.json", None) in hub.requests


_LOAD_SAIGA = f"""
import json, datasets
full = datasets.load_dataset({SAIGA!r}, split="train")
tail = datasets.load_dataset({SAIGA!r}, split="train[-8:]")
head = datasets.load_dataset({SAIGA!r}, split="train[:-8]")
print(json.dumps({{"n": len(full), "columns": full.column_names, "first": full[0]["messages"],
                  "tail": list(tail["opus_score"]), "head": len(head)}}))
"""


@pytest.mark.slow
def test_load_dataset_reads_the_card_configs_and_slices_then_reuses_the_cache(hub, tmp_path):
    rows = _saiga_rows()
    card = dataset_card(
        [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
        "# Saiga scored (fake)\n",
        language=["ru"],
    )
    hub.add_dataset_repo(SAIGA, {"README.md": card, "data/train-00000-of-00001.parquet": parquet_bytes(rows)})
    env = hub.env(tmp_path / "hf_home")

    out = _run(_LOAD_SAIGA, env)
    assert out == {
        "n": 20,
        "columns": ["messages", "opus_score", "language"],
        "first": rows[0]["messages"],
        "tail": [r["opus_score"] for r in rows[-8:]],
        "head": 12,
    }
    assert sorted(p for _, p in hub.downloads) == ["README.md", "data/train-00000-of-00001.parquet"]
    assert {r.auth for r in hub.requests if not r.path.startswith("/lfs/")} == {f"Bearer {TOKEN}"}
    # datasets resolves `data/train-*` by listing the folder through the tree API at the card's commit.
    assert any("/tree/" in p for p in hub.paths("GET", f"/api/datasets/{SAIGA}"))

    hub.clear()  # a fresh process: the README is re-validated by HEAD, the parquet is not fetched again
    assert _run(_LOAD_SAIGA, env) == out
    assert hub.downloads == [] and hub.paths("GET", "/lfs/") == []
    assert hub.paths("HEAD", f"/datasets/{SAIGA}/resolve/main/README.md")

    # Offline, datasets falls back to the prepared cache without a single request.
    hub.clear()
    assert _run(_LOAD_SAIGA, {**env, "HF_HUB_OFFLINE": "1"}) == out
    assert hub.requests == []


_STREAM_FINEWEB = f"""
import json, datasets
ds = datasets.load_dataset({FINEWEB!r}, "rus_Cyrl", split="train", streaming=True)
print(json.dumps({{"rows": list(ds.take(7))}}))
"""


@pytest.mark.slow
def test_streaming_a_config_reads_its_parquet_files_by_range_over_a_paginated_tree(hub, tmp_path):
    hub.tree_page_size = 1  # the data folder then takes two pages: the client must follow the Link header
    hub.add_dataset_repo(FINEWEB, _fineweb_files(per_file=5))
    out = _run(_STREAM_FINEWEB, hub.env(tmp_path / "hf_home"))

    texts = [r["text"] for r in out["rows"]]
    # Seven rows: all five of the first file, then on into the second (the Ukrainian files are never read).
    assert texts == [f"rus_Cyrl document {k}-{j}" for k, n in ((0, 5), (1, 2)) for j in range(n)]
    assert set(out["rows"][0]) == {"text", "id", "language", "language_score"}
    assert any("cursor=" in p for p in hub.paths("GET", "/tree/"))
    read = {p for _, p in hub.downloads}
    assert read == {
        "README.md",
        "data/rus_Cyrl/train/000_00000.parquet",
        "data/rus_Cyrl/train/000_00001.parquet",
    }
    # pyarrow reads through HfFileSystem with Range requests, and nothing is saved to the cache.
    assert hub.ranges and all(r.startswith("bytes=") for _, r in hub.ranges)
    assert not list((tmp_path / "hf_home").rglob("*.parquet"))


def _http(hub, method: str, path: str, headers: dict | None = None, body: str | None = None):
    url = urlsplit(hub.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def test_raw_protocol_headers_ranges_and_errors(hub):
    sha = hub.add_model_repo(
        MODEL_ID, {"config.json": '{"a": 1}', "model.safetensors": b"\0" * 100}, gated=True
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}

    status, headers, body = _http(hub, "HEAD", f"/{MODEL_ID}/resolve/main/config.json", auth)
    assert (status, headers["x-repo-commit"], headers["content-length"], body) == (200, sha, "8", b"")
    assert len(headers["etag"].strip('"')) == 40 and not any(k.startswith("x-xet") for k in headers)

    status, headers, _ = _http(hub, "HEAD", f"/{MODEL_ID}/resolve/{sha}/model.safetensors", auth)
    assert status == 302 and headers["x-linked-size"] == "100"
    assert len(headers["x-linked-etag"].strip('"')) == 64  # the LFS sha256
    cdn = urlsplit(headers["location"])
    assert cdn.port != urlsplit(hub.endpoint).port and "link" not in headers

    config = f"/{MODEL_ID}/resolve/main/config.json"
    status, headers, body = _http(hub, "GET", config, {**auth, "Range": "bytes=2-4"})
    assert (status, headers["content-range"], body) == (206, "bytes 2-4/8", b'a":')
    status, headers, body = _http(hub, "GET", config, {**auth, "Range": "bytes=-3"})
    assert (status, headers["content-range"], body) == (206, "bytes 5-7/8", b" 1}")
    status, headers, _ = _http(hub, "GET", config, {**auth, "Range": "bytes=9-"})
    assert (status, headers["content-range"]) == (416, "bytes */8")

    status, headers, body = _http(hub, "GET", config)
    assert (status, headers["x-error-code"]) == (401, "GatedRepo")
    assert "restricted" in json.loads(body)["error"]
    status, headers, _ = _http(hub, "GET", "/api/models/nobody/missing")
    assert (status, headers["x-error-code"]) == (404, "RepoNotFound")
    status, headers, _ = _http(hub, "HEAD", f"/{MODEL_ID}/resolve/main/nope.json", auth)
    assert (status, headers["x-error-code"], headers["x-repo-commit"]) == (404, "EntryNotFound", sha)

    status, _, body = _http(hub, "GET", f"/api/models/{MODEL_ID}/revision/main")  # metadata stays public
    info = json.loads(body)
    assert (info["sha"], info["gated"]) == (sha, "manual")
    assert [s["rfilename"] for s in info["siblings"]] == ["config.json", "model.safetensors"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    query = "paths=model.safetensors&paths=missing&expand=false"
    status, _, body = _http(hub, "POST", f"/api/models/{MODEL_ID}/paths-info/main", form, query)
    (entry,) = json.loads(body)
    assert entry["path"] == "model.safetensors" and entry["lfs"]["size"] == 100 and "xetHash" not in entry
    assert hub.requests[0] == ("HEAD", f"/{MODEL_ID}/resolve/main/config.json", f"Bearer {TOKEN}")
