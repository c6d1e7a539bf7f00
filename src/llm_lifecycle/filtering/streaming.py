"""The filter chain as datatrove stages on disk: documents stream from a reader to shards, never a list.

What runs (`stream_filter(source, cfg)`, the `data_filtering` node's path when `executor` is `local`,
`slurm` or `ray`; `ExecutorSettings`/`build_executor` in `executors.py` make the executor):

1. **quality** stage, `datatrove.tasks` tasks: a reader → the per-document blocks of
   `chain.build_blocks(cfg)`, each with an `exclusion_writer` that writes its rejects to
   `rejected/<NN>_<rule>/` → a writer of the survivors. Each task reads its share of the input and holds
   one document at a time.
2. **dedup** stage, one task: the survivors, read back in input order → the project's exact and MinHash
   dedup blocks (`chain.build_dedup_blocks`), rejects to `rejected/<NN>_<rule>/` → `kept/`.

**Why dedup is a second, single-task stage of the project's own blocks** rather than datatrove's
multi-stage MinHash pipeline: the dedup blocks keep "the first copy in input order" and their similarity
test (normalised text, word 5-gram shingles, estimated Jaccard of candidates from LSH) exactly as in
process, so the streaming run keeps and rejects the same pages, with the same reasons ("near duplicate of
<id> (jaccard~0.83)"), as the default run, and its metrics can be compared to it. It still streams: one
document at a time from the survivors' shards, with only the hashes and MinHash signatures of the kept
pages in memory (8.7 KB per kept page measured at 128 permutations, with the LSH bands: ~9 GB per
million). datatrove's pipeline (`datatrove.pipeline.dedup.minhash`: signatures, buckets, clusters,
filter; four stages, sharded) counts a pair as duplicate on an LSH bucket collision alone (no Jaccard
check), joins pairs into transitive clusters and keeps one member of each, the root of its union-find
(not the first in input order); it is the way past tens of millions of pages, with different decisions,
and would replace stage 2 here.

**Readers**, chosen by the input: `DocumentShards` (the catalog's `DocumentShardsDataset`: a JSONL file
or a folder of JSONL/Parquet shards) → `ShardsReader` over `.paths`; `HubDocuments` (a `HubDataset`
with `lazy: true`, e.g. FineWeb-2 in `conf/llama3_8b`) → `HubReader`, datatrove's
`HuggingFaceDatasetReader` (the split's `take` becomes a per-task `limit` of `ceil(take / tasks)`: about
`take` rows in all, not the split's first `take`); a path (str/Path) → its shards; anything else
iterable (a list, the JSONL dataset's `Records`) is written once to `input/00000.jsonl` and read from
there. A JSONL file is split into byte ranges at line boundaries when there are fewer files than tasks,
so one big file still feeds every task; each range is a *unit* named `<file #>_<range #>` (6 and 5
digits), and every output shard is named after the unit it came from, so sorted names are input order.

**Outputs** are in the project's record format (not datatrove's document format), so the folders are
the datasets: a kept record is the input record with `text` as the rules left it and the detected
`lang`; a rejected one is the original record plus `rule` and `reason`; records without an `id` get
`<file>:<line>` (`<dataset>/<rank>/<row>` from the hub). Kept records are in input order (hub input: in
task order); rejected ones are grouped by rule, in chain order, in input order within a rule.

**The funnel** comes from datatrove's per-task stats (`logs/<stage>/stats/<rank>.json`): documents and
characters the reader read and the bad lines it skipped, and each block's `dropped` count; the
characters each rule removed are summed over its reject shards (the original text travels with each
reject). The counts must add up (input − rejects = kept, for each stage) and every task must have its
completion marker, or the run fails naming the logs. Bad JSONL lines follow the dataset's
`on_bad_record` policy, as when the dataset is loaded in process.

Memory: one document per task in flight, plus the dedup stage's index of the kept pages. With `local`
the dedup stage (one task, one worker) runs in the Kedro process itself; on Slurm and Ray it is a job
of its own (give it the memory: `slurm.mem_per_cpu_gb`, `ray.mem_per_cpu_gb`).
Everything lives under one run folder (`datatrove.work_dir`/`data_filtering-<random>/`, a temporary
folder when `work_dir` is null): `kept/` and `rejected/` are moved into the catalog's versions by
`DocumentShardsDataset`, `logs/` stays (stats, per-task logs, datatrove's `executor.json`, Slurm's
scripts), the quality stage's intermediate shards are removed once dedup has read them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupFilter
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.pipeline.readers.base import BaseReader
from datatrove.pipeline.readers.huggingface import HuggingFaceDatasetReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

from llm_lifecycle.datasets.jsonl import BadRecordError, field_problem, parse_line
from llm_lifecycle.datasets.shards import DocumentShards, ShardFolder, shard_format
from llm_lifecycle.filtering.chain import (
    all_removed_error,
    build_blocks,
    build_dedup_blocks,
    funnel_table,
    validate_record,
)
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.executors import ExecutorSettings, build_executor, run_stages

logger = logging.getLogger(__name__)

RECORD, UNIT = "_record", "_unit"  # metadata: the input record as read; the input unit it came from
REASON = "_reason"  # metadata: the full reason of a reject whose stats key was shortened
OUTPUT_NAME = "${_unit}-${rank}.jsonl"  # one output shard per input unit (and task)


# -------------------------------------------------------------------------------------------- input
@dataclass
class InputSpec:
    """Where the documents are: local shards (`jsonl`/`parquet`, files in reading order) or a hub split."""

    kind: Literal["jsonl", "parquet", "hub"]
    paths: list[str] = field(default_factory=list)
    required_fields: dict[str, str] = field(default_factory=dict)
    on_bad_record: Literal["raise", "skip"] = "raise"
    hub: dict[str, Any] = field(default_factory=dict)  # HubDataset.hub_options()
    skipped_before: int = 0  # bad records a staged in-memory input had already skipped


def input_spec(source: Any, staging: Path) -> InputSpec:
    """The reader's view of `source` (see the module docstring); in-memory records are staged first."""
    if isinstance(source, (str, os.PathLike)):
        source = DocumentShards(source)
    if isinstance(source, DocumentShards):
        paths = [str(p) for p in source.paths]
        if not paths:
            raise ValueError(f"no documents to filter ({source.root} holds no shards)")
        return InputSpec(source.format, paths, dict(source.required_fields), source.on_bad_record)
    if hasattr(source, "hub_options"):
        return InputSpec("hub", hub=dict(source.hub_options()))
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise TypeError(f"cannot stream documents from a {type(source).__name__}: give records or shards")
    path = staging / "00000.jsonl"
    n = _stage_records(source, path)
    if n == 0:
        raise ValueError("no documents to filter (the input is empty)")
    skipped = len(getattr(source, "skipped", None) or [])
    logger.info("staged %d in-memory documents in %s (a DocumentShardsDataset input would stream)", n, path)
    return InputSpec("jsonl", [str(path)], skipped_before=skipped)


def _stage_records(records: Iterable[Any], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i, raw in enumerate(records):
            fh.write(json.dumps(validate_record(raw, i), ensure_ascii=False) + "\n")
            n += 1
    return n


def make_reader(spec: InputSpec) -> BaseReader:
    if spec.kind == "hub":
        return HubReader(spec.hub)
    return ShardsReader(spec.paths, spec.required_fields, spec.on_bad_record)


def to_document(record: dict, unit: str, where: Any) -> Document:
    """A datatrove Document carrying `record` (the input as read) in its metadata, with a string `id`
    (`where(short=True)`, its file:line, when it has none); errors name `where`."""
    if "text" not in record:
        raise ValueError(f"{where}: no 'text' field (fields: {sorted(record)})")
    if not isinstance(record["text"], str):
        raise TypeError(f"{where}: 'text' must be a string, got {type(record['text']).__name__}")
    doc_id = record.get("id")
    record["id"] = where(short=True) if doc_id is None else str(doc_id)
    return Document(text=record["text"], id=record["id"], metadata={RECORD: record, UNIT: unit})


@dataclass(frozen=True)
class Unit:
    """A contiguous part of one input file: bytes [start, end) (lines that start there), or all of it."""

    path: str
    start: int
    end: int | None  # None: to the end (compressed files and Parquet are read whole)
    name: str


def plan_units(paths: list[str], n_tasks: int) -> list[Unit]:
    """Files in order, uncompressed JSONL ones cut into byte ranges so that there are about `n_tasks`
    units of similar size; unit `i` goes to task `i % n_tasks`. Deterministic: every task plans alike."""
    sizes = [os.path.getsize(p) for p in paths]
    total = sum(sizes) or 1
    units = []
    for fi, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        splittable = path.endswith(".jsonl") and size > 0
        k = max(1, round(size * n_tasks / total)) if splittable else 1
        k = min(k, n_tasks)
        if k == 1:
            units.append(Unit(path, 0, None, f"{fi:06d}_00000"))
            continue
        bounds = [size * j // k for j in range(k + 1)]
        units += [Unit(path, bounds[j], bounds[j + 1], f"{fi:06d}_{j:05d}") for j in range(k)]
    return units


class ShardsReader(BaseReader):
    """Local JSONL/Parquet shards, in order, as Documents carrying their record (see the module docstring).

    Stats: `documents`, `doc_len` (characters read), `bad_records_skipped`."""

    name = "📄 document shards"

    def __init__(
        self,
        paths: list[str],
        required_fields: Mapping[str, str] | None = None,
        on_bad_record: Literal["raise", "skip"] = "raise",
    ):
        super().__init__()
        self.paths = [str(p) for p in paths]
        self.required_fields = dict(required_fields or {})
        self.on_bad_record = on_bad_record

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        if data:
            yield from data
        for unit in plan_units(self.paths, world_size)[rank::world_size]:
            rows = _parquet_unit(unit) if shard_format(unit.path) == "parquet" else _jsonl_unit(unit)
            for where, parse_problem, record in rows:
                problem = parse_problem
                if problem is None and self.required_fields:
                    problem = field_problem(record, self.required_fields)
                if problem is not None:
                    self._bad_record(f"{where}: {problem}")
                    continue
                doc = to_document(record, unit.name, where)
                self.stat_update("documents")
                self.update_doc_stats(doc)
                yield doc

    def _bad_record(self, message: str) -> None:
        if self.on_bad_record == "raise":
            raise BadRecordError(
                f"{message} (set load_args.on_bad_record: skip to skip and count such lines)"
            )
        logger.warning("skipping bad record %s", message)
        self.stat_update("bad_records_skipped")


class _Where:
    """`file:line` of one record, computed only when asked (an error, a record without an id): the line
    number of a unit's first line is counted once per unit, on first need (`base`, shared)."""

    def __init__(self, path: str, first_byte: int, nth: int, base: list[int | None]):
        self.path, self.first_byte, self.nth, self.base = path, first_byte, nth, base

    def __call__(self, short: bool = False) -> str:
        if self.base[0] is None:
            self.base[0] = 1 + _count_newlines(self.path, self.first_byte)
        return f"{os.path.basename(self.path) if short else self.path}:{self.base[0] + self.nth}"

    def __str__(self) -> str:
        return self()


class _Row:
    """`file:row N` of a Parquet record."""

    def __init__(self, path: str, row: int):
        self.path, self.row = path, row

    def __call__(self, short: bool = False) -> str:
        return f"{os.path.basename(self.path) if short else self.path}:row {self.row}"

    def __str__(self) -> str:
        return self()


def _jsonl_unit(unit: Unit) -> Iterator[tuple[_Where, str | None, dict | None]]:
    import gzip

    compressed = unit.path.endswith(".gz")
    with (gzip.open if compressed else open)(unit.path, "rb") as fh:
        if unit.start > 0:
            fh.seek(unit.start - 1)
            fh.readline()  # the line that straddles `start` belongs to the previous unit
        first = 0 if compressed else fh.tell()
        pos, nth = first, -1
        base: list[int | None] = [None if first else 1]
        while unit.end is None or pos < unit.end:
            raw = fh.readline()
            if not raw:
                break
            pos += len(raw)
            nth += 1
            problem, record = parse_line(raw, {})
            if problem is None and record is None:
                continue  # a blank line
            yield _Where(unit.path, first, nth, base), problem, record


def _parquet_unit(unit: Unit) -> Iterator[tuple[_Row, str | None, dict | None]]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(unit.path).iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            yield _Row(unit.path, row), None, record
            row += 1


def _count_newlines(path: str, upto: int) -> int:
    count, left = 0, upto
    with open(path, "rb") as fh:
        while left > 0:
            block = fh.read(min(left, 1 << 20))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
    return count


class HubReader(HuggingFaceDatasetReader):
    """datatrove's hub reader with the `HubDataset` entry's options; documents carry their row."""

    def __init__(self, options: Mapping[str, Any]):
        self.options = dict(options)
        dataset_options = {"name": options.get("config_name"), "split": options.get("split", "train")}
        if options.get("revision"):
            dataset_options["revision"] = options["revision"]
        super().__init__(
            options["dataset_name"],
            dataset_options | dict(options.get("load_args") or {}),
            streaming=bool(options.get("streaming")),
        )

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        if self.options.get("take") is not None:
            self.limit = math.ceil(self.options["take"] / world_size)
        yield from super().run(data, rank, world_size)

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str) -> Document:
        columns = self.options.get("columns")
        record = {key: data[key] for key in columns} if columns else dict(data)
        rank = str(id_in_file).split("/")[0]
        return to_document(
            record, f"{rank}_00000", _HubRow(source_file, self.options.get("split"), id_in_file)
        )


class _HubRow:
    def __init__(self, dataset: str, split: Any, id_in_file: Any):
        self.dataset, self.split, self.id_in_file = dataset, split, id_in_file

    def __call__(self, short: bool = False) -> str:
        if short:
            return f"{self.dataset}/{self.id_in_file}"
        return f"{self.dataset}[{self.split}] row {self.id_in_file}"

    def __str__(self) -> str:
        return self()


# ------------------------------------------------------------------------------------------ outputs
def json_default(obj: Any) -> Any:
    """JSON for what Parquet and hub rows hold beyond plain Python: dates and times (NaT: null) and numpy
    scalars; anything else raises, as `json.dumps` does."""
    import datetime

    import numpy as np

    if isinstance(obj, datetime.date | datetime.time):
        return None if obj != obj else obj.isoformat()  # noqa: PLR0124 - pandas.NaT differs from itself
    if isinstance(obj, np.datetime64):
        return None if np.isnat(obj) else np.datetime_as_string(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class RecordWriter(JsonlWriter):
    """Writes the project's records: `kept` (text as filtered, detected `lang`), `rejected` (the input
    record + `rule`, `reason`), or `documents` (datatrove's form, between the two stages)."""

    name = "🗂 records"

    def __init__(
        self,
        output_folder: str,
        form: Literal["kept", "rejected", "documents"],
        rule: str | None = None,
        default_language: str = "en",
    ):
        super().__init__(output_folder, output_filename=OUTPUT_NAME, compression=None)
        self.form, self.rule, self.default_language = form, rule, default_language

    def _default_adapter(self, document: Document) -> dict:
        record = document.metadata[RECORD]
        if self.form == "kept":
            lang = document.metadata.get("language", record.get("lang", self.default_language))
            return {**record, "text": document.text, "lang": lang}
        if self.form == "rejected":
            reason = document.metadata.get(REASON, document.metadata.get("filter_reason", ""))
            return {**record, "rule": self.rule, "reason": reason}
        return {"text": document.text, "id": document.id, "metadata": document.metadata}

    def _write(self, document: dict, file_handler, _filename: str) -> None:
        line = json.dumps(document, ensure_ascii=False, default=json_default) + "\n"
        file_handler.write(line.encode("utf-8"))


class StagedDocumentsReader(BaseReader):
    """The quality stage's survivors (`RecordWriter(form="documents")` shards), in shard-name order."""

    name = "📄 staged documents"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def run(self, data=None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:
        if data:
            yield from data
        paths = sorted(Path(self.folder).glob("*.jsonl")) if Path(self.folder).is_dir() else []
        for path in paths[rank::world_size]:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    doc = Document(text=row["text"], id=row["id"], metadata=row["metadata"])
                    self.stat_update("documents")
                    self.update_doc_stats(doc)
                    yield doc


class ShortReasonStats(BaseFilter):
    """A dedup block whose reasons name another page ("exact duplicate of <id>"): datatrove counts one
    `dropped_<reason>` stat per distinct reason, which would be one per duplicate. This wrapper gives
    datatrove the reason up to " of " (`dropped_exact duplicate`) and the reject writer the full one."""

    def __init__(self, block: BaseFilter):
        self.name = block.name  # before super().__init__: datatrove names the block's stats after it
        super().__init__(block.exclusion_writer)
        self.block = block

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        keep, reason = get_filter_result(self.block.filter(doc))
        if keep:
            return True
        doc.metadata[REASON] = reason or ""
        return False, (reason or "").split(" of ", 1)[0]


# ----------------------------------------------------------------------------------------- stages
@dataclass
class Stage:
    name: str
    steps: list
    n_blocks: int  # the filter blocks between the reader and the writer
    single_task: bool = False
    tasks: int | None = None  # a fixed number of tasks (datatrove's MinHash buckets: one per bucket)
    in_funnel: bool = True  # False: a stage that reads documents but passes none on (signatures)


class DatatroveNearDedup(MinhashDedupFilter):
    """datatrove's MinHash stage 4 under the project's rule name, its rejects with a reason."""

    name = "near_dedup"

    def run(self, data, rank: int = 0, world_size: int = 1):
        def tagged(docs):
            for doc in docs:
                doc.metadata[REASON] = "near duplicate (datatrove MinHash cluster)"
                yield doc

        yield from super().run(tagged(data), rank, world_size)


def minhash_config(cfg: FilteringSettings) -> MinhashConfig:
    """datatrove's MinHash with the project's n-gram size and seed, banded (datasketch's optimum for
    `num_perm` hashes) so that pages at `threshold` estimated Jaccard collide in some bucket."""
    from datasketch import MinHashLSH

    nd = cfg.near_dedup
    lsh = MinHashLSH(threshold=nd.threshold, num_perm=nd.num_perm)  # its (bands, rows) optimum, weights 0.5
    buckets, rows = lsh.b, lsh.r
    return MinhashConfig(n_grams=nd.ngram, num_buckets=buckets, hashes_per_bucket=rows, seed=nd.seed)


def datatrove_dedup_stages(
    cfg: FilteringSettings, root: Path, survivors: Path, kept_writer: Any
) -> list[Stage]:
    """Signatures (N tasks) -> buckets (one task per bucket) -> clusters (one task) -> filter (N tasks),
    all on disk: memory does not grow with the corpus. The filter stage reads the survivors in the same
    per-task order as the signature stage (datatrove names documents by task and position)."""
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )

    from llm_lifecycle.filtering.rules import SharedTokenizer

    mh = minhash_config(cfg)
    sigs, buckets, remove = (
        root / "minhash" / "signatures",
        root / "minhash" / "buckets",
        root / "minhash" / "remove",
    )
    signature = MinhashDedupSignature(str(sigs), config=mh)
    # the chain's faster spaCy tokenizer, same words, under the same vocabulary cap
    signature.word_tokenizer = SharedTokenizer("en", max_vocab=cfg.word_tokenizer_max_vocab)
    near = DatatroveNearDedup(str(remove))
    index = len(build_blocks(cfg))
    near.exclusion_writer = RecordWriter(
        str(root / "rejected" / f"{index:02d}_near_dedup"), "rejected", rule="near_dedup"
    )
    return [
        Stage("minhash_signatures", [StagedDocumentsReader(str(survivors)), signature], 0, in_funnel=False),
        Stage(
            "minhash_buckets",
            [MinhashDedupBuckets(str(sigs), str(buckets), config=mh)],
            0,
            tasks=mh.num_buckets,
            in_funnel=False,
        ),
        Stage(
            "minhash_clusters",
            [MinhashDedupCluster(str(buckets), str(remove), config=mh)],
            0,
            single_task=True,
            in_funnel=False,
        ),
        Stage("near_dedup", [StagedDocumentsReader(str(survivors)), near, kept_writer], 1),
    ]


def build_stages(spec: InputSpec, cfg: FilteringSettings, root: Path) -> list[Stage]:
    """The quality stage and, when a dedup rule is on, the dedup stage (see the module docstring)."""
    quality, dedup = build_blocks(cfg), build_dedup_blocks(cfg)
    dedup = [ShortReasonStats(block) for block in dedup]
    for i, block in enumerate(quality + dedup):
        folder = root / "rejected" / f"{i:02d}_{block.name}"
        block.exclusion_writer = RecordWriter(str(folder), "rejected", rule=block.name)

    def kept(form: Literal["kept", "documents"], folder: Path) -> RecordWriter:
        return RecordWriter(str(folder), form, default_language=cfg.default_language)

    if not dedup:
        return [Stage("quality", [make_reader(spec), *quality, kept("kept", root / "kept")], len(quality))]
    survivors = root / "survivors"
    if cfg.near_dedup.enabled and cfg.near_dedup.engine == "datatrove":
        if cfg.exact_dedup.enabled:
            logger.info("near_dedup.engine datatrove: exact copies are removed as MinHash duplicates")
        return [
            Stage("quality", [make_reader(spec), *quality, kept("documents", survivors)], len(quality)),
            *datatrove_dedup_stages(cfg, root, survivors, kept("kept", root / "kept")),
        ]
    return [
        Stage("quality", [make_reader(spec), *quality, kept("documents", survivors)], len(quality)),
        Stage(
            "dedup",
            [StagedDocumentsReader(str(survivors)), *dedup, kept("kept", root / "kept")],
            len(dedup),
            single_task=True,
        ),
    ]


def stage_settings(settings: ExecutorSettings, stage: Stage) -> ExecutorSettings:
    if stage.tasks is not None:
        # A stage with tasks of its own (one per MinHash bucket) runs as many at once as the others: on
        # one machine `workers: -1` means one process per configured task, not one per bucket (each
        # process imports datatrove and unpickles the pipeline: 18 of them on 2 cores cost ~4 s).
        at_once = settings.tasks if settings.kind == "local" and settings.workers == -1 else settings.workers
        return settings.model_copy(update={"tasks": stage.tasks, "workers": min(at_once, stage.tasks)})
    if not stage.single_task:
        return settings
    slurm = settings.slurm.model_copy(update={"job_name": f"{settings.slurm.job_name}_{stage.name}"})
    return settings.model_copy(update={"tasks": 1, "workers": 1, "slurm": slurm})


@dataclass
class StreamResult:
    kept: ShardFolder  # kept/: one shard per input unit, input order
    rejected: ShardFolder  # rejected/<NN>_<rule>/: one shard per input unit
    funnel: pd.DataFrame
    root: Path  # the run folder (logs/ stays there)


def stream_filter(source: Any, cfg: FilteringSettings | Mapping[str, Any]) -> StreamResult:
    """Run the chain on a datatrove executor from `source` to shards; see the module docstring."""
    cfg = cfg if isinstance(cfg, FilteringSettings) else FilteringSettings.model_validate(cfg)
    settings = cfg.executor_settings()
    root = _run_folder(cfg.datatrove.work_dir)
    try:
        spec = input_spec(source, root / "input")
        stages = build_stages(spec, cfg, root)
        executors = [
            build_executor(s.steps, stage_settings(settings, s), str(root / "logs" / s.name)) for s in stages
        ]
        logger.info(
            "data_filtering on datatrove (%s, %d tasks): %s -> %s",
            settings.kind,
            settings.tasks,
            spec.hub.get("dataset_name") if spec.kind == "hub" else f"{len(spec.paths)} {spec.kind} file(s)",
            root,
        )
        run_stages(executors, settings)
        funnel = funnel_from_run(root, stages, [ex.world_size for ex in executors], spec.skipped_before)
    except BaseException:
        if cfg.datatrove.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
        raise
    shutil.rmtree(root / "survivors", ignore_errors=True)
    shutil.rmtree(root / "minhash", ignore_errors=True)
    shutil.rmtree(root / "input", ignore_errors=True)
    (root / "rejected").mkdir(exist_ok=True)  # nothing rejected is an empty folder, not a missing one
    n_in, n_kept = int(funnel["docs_remaining"].iloc[0]), int(funnel["docs_remaining"].iloc[-1])
    logger.info("kept %d of %d documents (%.1f%%); logs in %s", n_kept, n_in, 100 * n_kept / n_in, root)
    return StreamResult(ShardFolder(root / "kept"), ShardFolder(root / "rejected"), funnel, root)


def _run_folder(work_dir: str | None) -> Path:
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="data_filtering-", dir=work_dir))


# ------------------------------------------------------------------------------------------- funnel
def read_stats(logging_dir: Path, world_size: int) -> list[list[dict]]:
    """datatrove's per-task stats: for each task, one dict per pipeline step (reader, blocks, writer)."""
    out = []
    for rank in range(world_size):
        path = logging_dir / "stats" / f"{rank:05d}.json"
        if not path.is_file():
            raise RuntimeError(f"no stats for task {rank} in {path.parent}: the task did not complete")
        out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def stat_total(per_task: list[list[dict]], step: int, key: str) -> int:
    """`key`'s total at pipeline step `step`, summed over tasks (datatrove writes 0 or {"total": ...})."""
    total = 0
    for steps in per_task:
        value = steps[step]["stats"].get(key, 0)
        total += value["total"] if isinstance(value, dict) else value
    return int(total)


def funnel_from_run(
    root: Path, stages: list[Stage], world_sizes: list[int], skipped_before: int
) -> pd.DataFrame:
    """The funnel of a finished run, from its stats and reject shards (see the module docstring)."""
    rules: list[str] = []
    removed_docs: dict[str, int] = {}
    n_in = chars_in = skipped = 0
    flowing = None  # documents that entered the current stage
    for stage, world_size in zip(stages, world_sizes, strict=True):
        if not stage.in_funnel:
            continue
        stats = read_stats(root / "logs" / stage.name, world_size)
        entered = stat_total(stats, 0, "documents")
        if flowing is None:
            n_in, chars_in = entered, stat_total(stats, 0, "doc_len")
            skipped = stat_total(stats, 0, "bad_records_skipped") + skipped_before
        elif entered != flowing:
            raise RuntimeError(
                f"{stage.name} stage read {entered} documents, the previous one kept {flowing}"
            )
        dropped = 0
        for i, block in enumerate(stage.steps[1 : 1 + stage.n_blocks], start=1):
            rules.append(block.name)
            removed_docs[block.name] = stat_total(stats, i, "dropped")
            dropped += removed_docs[block.name]
        written = stat_total(stats, -1, "total")
        if entered - dropped != written:
            raise RuntimeError(
                f"{stage.name} stage: {entered} documents in, {dropped} rejected, but {written} written"
            )
        flowing = written
    if n_in == 0:
        raise ValueError("no documents to filter (the input is empty)")
    removed_chars = {}
    for i, rule in enumerate(rules):
        folder = root / "rejected" / f"{i:02d}_{rule}"
        count = chars = 0
        for record in DocumentShards(folder) if folder.is_dir() else ():
            count += 1
            chars += len(record["text"])
        if count != removed_docs[rule]:
            raise RuntimeError(
                f"rule {rule}: the stats count {removed_docs[rule]} rejects, {folder} holds {count}"
            )
        removed_chars[rule] = chars
    funnel = funnel_table(
        n_in, chars_in, rules=rules, removed_docs=removed_docs, removed_chars=removed_chars, skipped=skipped
    )
    if flowing == 0:
        raise all_removed_error(funnel)
    return funnel
