"""Two ways to run the same list of filter blocks: a plain in-process loop, or datatrove's executor.

`run_in_process` calls each block's `filter(doc)` in order and stops at the first rejection; this is
exactly what a datatrove pipeline of filters does to one document, minus the generator plumbing and the
JSONL round trip, and it lets stateful blocks (dedup) see documents in input order.

`run_datatrove_local` runs the blocks as a real datatrove pipeline on `LocalPipelineExecutor`
(`tasks = workers` processes): the documents are written as `workers` JSONL shards, each task reads one
(`JsonlReader`), filters it, writes survivors with `JsonlWriter`, and every block's `exclusion_writer`
writes its rejects to `rejected/<rule>/`, so each reject keeps the rule that removed it and the reason
(`metadata.filter_reason`). Results are put back in input order through `metadata._index`.

Worker processes start with datatrove's default "forkserver" method and import the caller's `__main__`:
a script that uses this executor needs the usual `if __name__ == "__main__":` guard. A given `work_dir`
is reused: its input/kept/rejected/logs sub-folders are cleared first.

Scaling out is a change of executor only: `SlurmPipelineExecutor(pipeline, tasks=..., time=...,
partition=...)` and `RayPipelineExecutor(pipeline, tasks=...)` take the same `pipeline` list built in
`run_datatrove_local` (with the folders on a shared filesystem or object store instead of a temp dir).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

INDEX_KEY = "_index"  # position in the input, carried in metadata through every executor


@dataclass
class Outcome:
    """What happened to one input document: kept (rule is None) or rejected by `rule` for `reason`."""

    index: int
    text: str
    metadata: dict = field(default_factory=dict)
    rule: str | None = None
    reason: str | None = None


def run_in_process(
    docs: Sequence[Document], blocks: Sequence[BaseFilter], progress: bool = False
) -> list[Outcome]:
    """Apply `blocks` to each document in order; the first block that rejects it names the rule."""
    outcomes = []
    for doc in tqdm(docs, desc="filtering", unit="doc", disable=not progress, mininterval=1.0):
        rule = reason = None
        for block in blocks:
            keep, why = get_filter_result(block.filter(doc))
            if not keep:
                rule, reason = block.name, why or ""
                break
        outcomes.append(Outcome(doc.metadata[INDEX_KEY], doc.text, doc.metadata, rule, reason))
    return outcomes


def run_datatrove_local(
    docs: Sequence[Document], blocks: Sequence[BaseFilter], workers: int, work_dir: str | None = None
) -> list[Outcome]:
    """Run `blocks` on datatrove's LocalPipelineExecutor with `workers` tasks; outcomes in input order."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    # The JSONL reader drops documents with empty text; judge those here, with the same blocks.
    empty = run_in_process([d for d in docs if not d.text], copy.deepcopy(list(blocks)))
    docs = [d for d in docs if d.text]
    if not docs:
        return empty
    tmp = tempfile.TemporaryDirectory(prefix="data_filtering_") if work_dir is None else nullcontext(work_dir)
    with tmp as root_name:
        root = Path(root_name)
        for sub in ("input", "kept", "rejected", "logs"):  # a reused work_dir must not leak an old run
            shutil.rmtree(root / sub, ignore_errors=True)
        _write_shards(docs, root / "input", n_shards=workers)
        steps = copy.deepcopy(list(blocks))
        for block in steps:
            block.exclusion_writer = JsonlWriter(str(root / "rejected" / block.name), compression=None)
        pipeline = [
            JsonlReader(str(root / "input"), compression=None, add_file_path=False),
            *steps,
            JsonlWriter(str(root / "kept"), compression=None),
        ]
        logger.info("datatrove LocalPipelineExecutor: %d documents, %d tasks in %s", len(docs), workers, root)
        LocalPipelineExecutor(
            pipeline, tasks=workers, workers=workers, logging_dir=str(root / "logs"), skip_completed=False
        ).run()
        outcomes = _read_outcomes(root / "kept", rule=None)
        for block in steps:
            outcomes += _read_outcomes(root / "rejected" / block.name, rule=block.name)
    if len(outcomes) != len(docs):
        raise RuntimeError(f"datatrove returned {len(outcomes)} documents for {len(docs)} inputs")
    return sorted(outcomes + empty, key=lambda o: o.index)


def _write_shards(docs: Sequence[Document], folder: Path, n_shards: int) -> None:
    folder.mkdir(parents=True)
    size = -(-len(docs) // n_shards)  # contiguous shards: each task reads one file
    for shard in range(n_shards):
        with open(folder / f"{shard:05d}.jsonl", "w", encoding="utf-8") as fh:
            for doc in docs[shard * size : (shard + 1) * size]:
                row = {"id": doc.id, "text": doc.text, "metadata": doc.metadata}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_outcomes(folder: Path, rule: str | None) -> list[Outcome]:
    outcomes = []
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                meta = row.get("metadata", {})
                reason = meta.pop("filter_reason", "") if rule else None
                outcomes.append(Outcome(int(meta[INDEX_KEY]), row["text"], meta, rule, reason))
    return outcomes
