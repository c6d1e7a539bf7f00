"""Documents as shards on disk: a JSONL file, or a folder of JSONL (or Parquet) shards, read lazily.

`DocumentShardsDataset` is the catalog type of `raw_documents`, `filtered_documents` and
`rejected_documents`. Its `load()` returns `DocumentShards`, which reads nothing until it is iterated:
iterating yields the records (dicts) shard by shard, line by line, so a consumer that streams never
holds the corpus, and a consumer that needs a list builds one (`list(docs)`), as it did with the JSONL
dataset's `Records`. `.paths` lists the shard files in reading order for tools that read files
themselves (datatrove's readers in `llm_lifecycle.filtering.streaming`).

On disk a version is `<filepath>/<version>/<name>` (Kedro's layout), where `<name>` is either
- a JSONL file, when `save()` got records (a list, any iterable of mappings): the bytes are exactly
  those `JSONLinesDataset` writes (same writer, same atomic rename), so this type can replace it without
  changing a file; or
- a folder of shards (`*.jsonl`, `*.jsonl.gz`, `*.parquet`, in sub-folders too, read in sorted path
  order), when `save()` got a `ShardFolder`: a folder a node wrote in a staging area, which is moved
  into the version (a rename on the same filesystem: no copy), e.g. the streaming filter's kept shards.
A saved version is never overwritten (Kedro refuses an existing version).

Bad lines follow `JSONLinesDataset`'s policy (`load_args: {required_fields, on_bad_record}`): an error
naming `file:line`, or, with `on_bad_record: skip`, skipped, logged and listed in `.skipped` (filled
while iterating; reset at each new pass). Parquet rows are checked for the required fields too.

`len(docs)` is known after one full pass (before it, a TypeError that says so: `list(docs)` then reads
the files once); `docs.count()` counts with a pass; `bool(docs)` reads one record. There is no
indexing: iterate, or make a list.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from llm_lifecycle.datasets.jsonl import (
    FIELD_TYPES,
    BadRecordError,
    field_problem,
    parse_line,
    record_load_args,
    write_jsonl,
)
from llm_lifecycle.datasets.versions import newest_version_path

logger = logging.getLogger(__name__)

SHARD_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def shard_format(path: str | os.PathLike) -> Literal["jsonl", "parquet"]:
    name = str(path)
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "jsonl"
    raise ValueError(f"{path}: not a document shard (expected one of {', '.join(SHARD_SUFFIXES)})")


def list_shards(root: str | os.PathLike) -> list[Path]:
    """The shard files of `root` (itself when it is a file), in reading order (sorted paths)."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DatasetError(f"{root}: no such file or folder of document shards")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(SHARD_SUFFIXES))
    formats = {shard_format(p) for p in paths}
    if len(formats) > 1:
        raise DatasetError(f"{root}: mixes JSONL and Parquet shards; keep one format per folder")
    return paths


def check_required_fields(required: Mapping[str, str]) -> dict[str, str]:
    for field, type_name in required.items():
        if type_name not in FIELD_TYPES:
            raise ValueError(
                f"required field {field!r}: unknown type {type_name!r} (use one of {sorted(FIELD_TYPES)})"
            )
    return dict(required)


class DocumentShards:
    """Records of a JSONL file or a folder of shards, read lazily (see the module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike,
        required_fields: Mapping[str, str] | None = None,
        on_bad_record: Literal["raise", "skip"] = "raise",
    ):
        if on_bad_record not in ("raise", "skip"):
            raise ValueError(f"on_bad_record must be 'raise' or 'skip', got {on_bad_record!r}")
        self.root = Path(root)
        self.required_fields = check_required_fields(required_fields or {})
        self.on_bad_record = on_bad_record
        self.skipped: list[str] = []
        self._count: int | None = None
        self._paths: list[Path] | None = None

    @property
    def paths(self) -> list[Path]:
        """The shard files, in reading order (listed once, on first use)."""
        if self._paths is None:
            self._paths = list_shards(self.root)
        return list(self._paths)

    @property
    def format(self) -> Literal["jsonl", "parquet"]:
        paths = self.paths
        return shard_format(paths[0]) if paths else "jsonl"

    def __iter__(self) -> Iterator[dict]:
        self.skipped = []
        count = 0
        for path in self.paths:
            if shard_format(path) == "parquet":
                for where, record in _parquet_rows(path):
                    problem = field_problem(record, self.required_fields)
                    if problem is None:
                        count += 1
                        yield record
                    else:
                        self._bad_record(f"{where}: {problem}")
                continue
            with (gzip.open if path.name.endswith(".gz") else open)(path, "rb") as fh:
                for lineno, raw in enumerate(fh, start=1):  # as JSONLinesDataset reads a file
                    problem, record = parse_line(raw, self.required_fields)
                    if problem is None:
                        if record is not None:  # None: a blank line
                            count += 1
                            yield record
                        continue
                    self._bad_record(f"{path}:{lineno}: {problem}")
        self._count = count
        if self.skipped:
            logger.warning("%s: skipped %d bad record(s), kept %d", self.root, len(self.skipped), count)

    def _bad_record(self, message: str) -> None:
        if self.on_bad_record == "raise":
            raise BadRecordError(
                f"{message} (set load_args.on_bad_record: skip to skip and count such lines)"
            )
        logger.warning("skipping bad record %s", message)
        self.skipped.append(message)

    def __len__(self) -> int:
        """The number of records, once a full pass has counted them; before that a TypeError (so that
        `list(docs)` reads the files once: Python asks `len()` first and takes a TypeError as "unknown").
        `count()` counts with a pass of its own."""
        if self._count is None:
            raise TypeError(
                f"len() of {self!r} is known after one full pass over it: iterate it first, or call .count()"
            )
        return self._count

    def count(self) -> int:
        """The number of records (a pass over the shards unless one was made already)."""
        if self._count is None:
            for _ in self:
                pass
        return int(self._count or 0)

    def __bool__(self) -> bool:
        if self._count is not None:
            return self._count > 0
        return next(iter(self), None) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"


class ShardFolder(DocumentShards):
    """A folder of shards a node wrote in a staging area: `DocumentShardsDataset.save` moves it into the
    dataset's version (no copy); any other dataset that accepts records simply iterates it."""


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            yield f"{path}:row {row}", record
            row += 1


class DocumentShardsDataset(AbstractVersionedDataset[Any, DocumentShards]):
    """Kedro dataset of documents as shards (see the module docstring).

    Catalog example::

        filtered_documents:
          type: llm_lifecycle.datasets.DocumentShardsDataset
          filepath: ${globals:data_dir}/02_intermediate/filtered_documents.jsonl
          load_args: {required_fields: {text: str}, on_bad_record: raise}
          versioned: true
    """

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self._load_args = record_load_args("DocumentShardsDataset", filepath, load_args)
        try:
            DocumentShards(".", **self._load_args)  # validates the arguments now, not at the first load
        except ValueError as exc:
            raise DatasetError(f"DocumentShardsDataset({filepath}): {exc}") from exc
        self.metadata = metadata

    def load(self) -> DocumentShards:
        path = Path(str(self._get_load_path()))
        if not path.exists():
            raise DatasetError(f"{path}: no such file or folder of document shards")
        return DocumentShards(path, **self._load_args)

    def save(self, data: Iterable[Mapping[str, Any]] | ShardFolder) -> None:
        path = Path(str(self._get_save_path()))
        if isinstance(data, ShardFolder):
            _move_folder(data.root, path)
        else:
            write_jsonl(data, path)

    def _exists(self) -> bool:
        path = newest_version_path(self)
        return path is not None and path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args, "version": self._version}


def _move_folder(src: Path, dst: Path) -> None:
    """Move the staged folder `src` to `dst` (a rename when both are on one filesystem)."""
    if not src.is_dir():
        raise DatasetError(f"{src}: the staged shard folder does not exist (already saved, or never written)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():  # an unversioned entry is overwritten, as JSONLinesDataset overwrites its file
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    shutil.move(str(src), str(dst))
