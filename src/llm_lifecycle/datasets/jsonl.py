"""JSON Lines dataset that tells you exactly which line of which file is wrong.

Web corpora, Saiga conversations and MT-Bench questions all travel as JSONL. A bad line (not JSON,
not an object, invalid UTF-8, a required field missing or of the wrong type) either raises an error
naming `file:line` and the problem, or, with `load_args: {on_bad_record: skip}`, is skipped, logged and
counted: the loaded `Records` list carries `.skipped`, one "file:line: reason" per dropped line, so the
consuming node can report how much was lost. Saves are atomic (temp file + rename) and, with
`versioned: true`, never overwrite an earlier run's file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from llm_lifecycle.datasets.versions import newest_version_path

logger = logging.getLogger(__name__)

FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "list": list,
    "dict": dict,
}


class Records(list):
    """A list of records that remembers where each came from and which input lines were skipped (and why).

    `where(i)` is "file:line" of record i, so a node that finds a record semantically wrong (an unknown
    role, an empty conversation) can name the line just as the parser does for syntax errors.
    """

    skipped: list[str]

    def __init__(
        self,
        items: Iterable[dict] = (),
        skipped: list[str] | None = None,
        source: str | None = None,
        lines: list[int] | None = None,
    ):
        super().__init__(items)
        self.skipped = list(skipped or [])
        self.source = source
        self.lines = list(lines) if lines is not None else None

    def where(self, index: int) -> str:
        """`file:line` of record `index` when known, else `record <index>`."""
        if self.source is not None and self.lines is not None and index < len(self.lines):
            return f"{self.source}:{self.lines[index]}"
        return f"record {index}"

    def keep(self, predicate: Callable[[Any], bool], limit: int | None = None) -> Records:
        """The first `limit` (all) records for which `predicate` holds, each still named by its file:line."""
        kept = [i for i, record in enumerate(self) if predicate(record)][:limit]
        lines = [self.lines[i] for i in kept] if self.lines is not None else None
        return Records((self[i] for i in kept), self.skipped, self.source, lines)


def where(records: Iterable[Any], index: int) -> str:
    """`file:line` of record `index` of `records` if it is a `Records` list, else `record <index>`."""
    return records.where(index) if isinstance(records, Records) else f"record {index}"


def keep(
    records: Sequence[Any], predicate: Callable[[Any], bool] = bool, limit: int | None = None
) -> Sequence[Any]:
    """The first `limit` (all) of `records` for which `predicate` holds; a `Records` list keeps naming each
    record by its file:line."""
    if isinstance(records, Records):
        return records.keep(predicate, limit)
    return [record for record in records if predicate(record)][:limit]


class BadRecordError(DatasetError):
    """A JSONL line that cannot be used; the message names file, line and the problem."""


def read_jsonl(
    path: str | os.PathLike,
    required_fields: Mapping[str, str] | None = None,
    on_bad_record: Literal["raise", "skip"] = "raise",
) -> Records:
    """Parse `path` line by line; see the module docstring for the error policy."""
    if on_bad_record not in ("raise", "skip"):
        raise ValueError(f"on_bad_record must be 'raise' or 'skip', got {on_bad_record!r}")
    required = dict(required_fields or {})
    for field, type_name in required.items():
        if type_name not in FIELD_TYPES:
            raise ValueError(
                f"required field {field!r}: unknown type {type_name!r} (use one of {sorted(FIELD_TYPES)})"
            )
    records, skipped, lines = [], [], []
    with open(path, "rb") as fh:  # bytes: so invalid UTF-8 is reported per line, not for the whole file
        for lineno, raw in enumerate(fh, start=1):
            problem, record = parse_line(raw, required)
            if problem is None:
                if record is not None:
                    records.append(record)
                    lines.append(lineno)
                continue
            where = f"{path}:{lineno}: {problem}"
            if on_bad_record == "raise":
                raise BadRecordError(
                    f"{where} (set load_args.on_bad_record: skip to skip and count such lines)"
                )
            logger.warning("skipping bad record %s", where)
            skipped.append(where)
    if skipped:
        logger.warning("%s: skipped %d bad line(s), kept %d", path, len(skipped), len(records))
    return Records(records, skipped, source=str(path), lines=lines)


def parse_line(raw: bytes, required: dict[str, str]) -> tuple[str | None, dict | None]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start} ({raw[exc.start : exc.start + 4]!r})", None
    if not line.strip():
        return None, None  # blank lines (e.g. a trailing newline) are not records
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"malformed JSON ({exc.msg} at column {exc.colno})", None
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}", None
    problem = field_problem(record, required)
    return (problem, None) if problem else (None, record)


def field_problem(record: Mapping[str, Any], required: Mapping[str, str]) -> str | None:
    """What is wrong with `record`'s required fields (`{field: type name}`), or None."""
    for field, type_name in required.items():
        if field not in record:
            return f"missing required field {field!r}"
        expected = FIELD_TYPES[type_name]
        value = record[field]
        if not isinstance(value, expected) or (type_name in ("int", "float") and isinstance(value, bool)):
            return f"field {field!r} must be {type_name}, got {type(value).__name__}"
    return None


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Write records atomically: a crash mid-write never leaves a truncated file at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(dict(record), ensure_ascii=False, sort_keys=False))
                fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_load_args(owner: str, filepath: str, load_args: dict[str, Any] | None) -> dict[str, Any]:
    """`load_args` of a dataset of records (`required_fields`, `on_bad_record`); anything else is named."""
    args = dict(load_args or {})
    unknown = set(args) - {"required_fields", "on_bad_record"}
    if unknown:
        raise DatasetError(f"{owner}({filepath}): unknown load_args {sorted(unknown)}")
    return args


class JSONLinesDataset(AbstractVersionedDataset[list[dict], Records]):
    """Kedro dataset for a local JSONL file of objects (list of dicts in, `Records` out).

    Catalog example::

        raw_documents:
          type: llm_lifecycle.datasets.JSONLinesDataset
          filepath: ${globals:data_dir}/01_raw/documents.jsonl
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
        self._load_args = record_load_args("JSONLinesDataset", filepath, load_args)
        self.metadata = metadata

    def load(self) -> Records:
        return read_jsonl(str(self._get_load_path()), **self._load_args)

    def save(self, data: Iterable[Mapping[str, Any]]) -> None:
        write_jsonl(data, str(self._get_save_path()))

    def _exists(self) -> bool:
        path = newest_version_path(self)
        return path is not None and path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args, "version": self._version}
