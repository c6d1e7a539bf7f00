"""The pretraining data, in memory or as token shards on disk: one parameter switches.

`pretraining.data.format`:
- `memory` (the embedded default): `packing.pack_corpus` tokenizes the documents in this process and
  holds the blocks as one tensor. Fastest for a corpus of a few hundred thousand tokens.
- `shards`: `shards.write_token_shards` tokenizes them with datatrove's `DocumentTokenizer` into token
  files, run by the executor of `pretraining.data.executor` (the same Local/Slurm/Ray choice as the
  filter), and training reads memory-mapped `shards.ShardBlocks`: memory does not grow with the corpus,
  and every rank of a distributed run reads only its own blocks. Same documents, same blocks, same
  stats as `memory` (tests/training/test_shards.py).

Shards are a cache addressed by content, like the pretraining checkpoints: they are written once into
`<shards_dir>/<fingerprint>/`, where the fingerprint covers the tokenizer file, the input documents (the
versioned shard files the catalog hands over, by path and size, or the records themselves when they come
as a list) and the settings that shape the tokens; a rerun with the same inputs reuses them, a changed
input writes a new folder and never touches an old one. A folder is written under a temporary name and
renamed when complete, so a killed tokenization leaves no half folder that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_TMP_PREFIX = ".tmp_"


def _documents_identity(documents: Iterable[Mapping[str, Any]], staging: Path) -> tuple[str, list[Path]]:
    """(a digest of the input, the JSONL files datatrove reads). Versioned shard files are named by path
    and size (a saved version is never rewritten); records given as a list are written to `staging` and
    hashed."""
    paths = getattr(documents, "paths", None)
    if paths and all(str(p).endswith((".jsonl", ".jsonl.gz")) for p in paths):
        files = [Path(p).resolve() for p in paths]
        listing = [f"{p}:{p.stat().st_size}" for p in files]
        return hashlib.sha256("\n".join(listing).encode()).hexdigest(), files
    staging.mkdir(parents=True, exist_ok=True)
    path = staging / "documents.jsonl"
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8") as fh:
        for i, record in enumerate(documents):
            if "text" not in record:
                raise ValueError(f"document #{i} ({record.get('id')!r}) has no 'text' field")
            line = json.dumps({"id": str(record.get("id", i)), "text": record["text"]}, ensure_ascii=False)
            fh.write(line + "\n")
            digest.update(line.encode())
    return digest.hexdigest(), [path]


def token_shards(
    tokenizer: Any,
    documents: Iterable[Mapping[str, Any]],
    shards_dir: str | os.PathLike,
    *,
    val_fraction: float,
    salt: str,
    executor: Any = None,
) -> Path:
    """Write (or find) the token shards of `documents` under `shards_dir`; returns their folder.

    `executor`: `filtering.executors.ExecutorSettings` (local/slurm/ray, tasks, workers and each one's
    options: the same choice as the filter's); None is one local task. With Slurm or a Ray cluster,
    `shards_dir` must be on a filesystem the tasks see."""
    from llm_lifecycle.training.pretraining.shards import (
        METADATA_FILE,
        tokenizer_fingerprint,
        write_token_shards,
    )

    root = Path(shards_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f"{_TMP_PREFIX}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    work = staging / "shards"
    try:
        tokenizer.save_pretrained(work / "tokenizer")  # kept with the shards; datatrove reads the file
        docs_digest, files = _documents_identity(documents, staging / "input")
        settings = {"val_fraction": val_fraction, "salt": salt, "format": 1}
        identity = [tokenizer_fingerprint(work / "tokenizer"), docs_digest, settings]
        fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
        final = root / fingerprint
        if (final / METADATA_FILE).is_file():
            logger.info("token shards of these documents exist: reusing %s", final)
            return final
        runner: dict[str, Any] = {}
        if executor is not None:
            from llm_lifecycle.filtering.executors import build_executor, run_stages

            # A task reads whole input files: more tasks than files would only start idle ones.
            tasks = min(executor.tasks, len(files))
            workers = executor.workers if executor.workers == -1 else min(executor.workers, tasks)
            executor = executor.model_copy(update={"tasks": tasks, "workers": workers})

            runner = {
                "executor_factory": lambda steps, logs: build_executor(steps, executor, logs),
                "run_executor": lambda ex: run_stages([ex], executor),
            }
        write_token_shards(files, work, work / "tokenizer", val_fraction=val_fraction, salt=salt, **runner)
        os.replace(work, final)  # rename(2): a complete folder appears at once
        logger.info("token shards written to %s", final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)
