"""Pretraining data at scale: token shards on disk (datatrove), memory-mapped blocks, a streaming baseline.

`packing.pack_corpus` holds the whole corpus as one tensor; this module is the same data as files, so a
corpus larger than memory trains the same way. Every choice keeps the result EQUAL to the in-memory path
on the same documents (`tests/training/test_shards.py` checks blocks with `torch.equal` and the stats):

- Writing (`write_token_shards`): a datatrove pipeline per split, `JsonlReader -> HashSplitFilter ->
  DocumentTokenizer`, run by any datatrove executor (`executor_factory`; default `LocalPipelineExecutor`).
  The split is `splits.split_records`'s rule for one record (`is_validation_record`): a hash of the id,
  so validation documents are never trained on, whatever the file layout or number of tasks. A record
  without text raises, naming file, line and id (datatrove's reader would skip it with one warning and
  the shards would silently differ from `pack_corpus`); lines that are not JSON are still skipped with
  a warning by `JsonlReader` itself.
- `<s> text </s>`: the tokenizer never adds BOS itself (`tokenization/train.py`); datatrove's
  `eos_token` option only appends EOS, so the tokenizer step gets a `TemplateProcessing` post-processor
  `<s> $A </s>` (the `post_processor` hook of datatrove's `PipelineStepWithTokenizer`): the Rust
  tokenizer adds both markers, nothing is re-implemented, and the ids equal `packing.encode_documents`.
  The tokenizer is the project's saved one (`<dir>/tokenizer.json`; datatrove loads a local *file*).
- Order: datatrove gives task r the input files r, r+W, r+2W, ...; the readers get a paths file
  permuted so that task r's share is a contiguous run of the inputs, and task r's shard is written
  before task r+1's in name order, so the concatenated shards are the documents in input order (no
  shuffling by default). `shuffle=True` shuffles documents inside each task's file
  (`DocumentTokenizer`) and then across files (`DocumentTokenizerMerger`, one task by design);
  `max_tokens_per_file` cuts the result into several files through the same merger (order kept).
- `shards.json`, written last, describes the result: token dtype, vocabulary size, every file with its
  token and document counts, each split's largest token id and a content fingerprint (BLAKE2b of the
  token bytes), and the tokenizer's fingerprint. They are computed once, in one sequential pass over
  the written files, so training validates ids (`loop.pretrain` reads `max_token_id`) and names its
  checkpoint folder (`checkpoints.run_fingerprint` reads `fingerprint`) without scanning the corpus;
  opening checks only that each file has the size it should.

Reading (`ShardBlocks`): a nanoGPT-style `np.memmap` over the `.ds` files, not datatrove's
`DatatroveFolderDataset`. That dataset serves non-overlapping windows of `seq_len + 1` tokens *per file*
(`DatatroveFileDataset`: window i = tokens [i(seq_len+1), (i+1)(seq_len+1)) of one file; each file's
tail is dropped and no window crosses a file), one window per `__getitem__` through a file handle, as a
dict, meant to feed a `DataLoader` with shifted labels. Our loop wants block i = tokens
[i*block_size, (i+1)*block_size) of the split's whole stream (labels = inputs, the model shifts them),
batches gathered by a tensor of block indices, and exactly `pack_corpus`'s blocks: with several files the
per-file windows would drop a tail per file and give different blocks. The memmap view indexes the
concatenated stream across file boundaries, reads only the requested pages (the OS page cache does the
buffering) and returns int64 `[b, block_size]` tensors, so the loop uses it in place of the tensor. Each
batch maps the files it reads and unmaps them when it returns, as nanoGPT re-creates its memmap every
batch: a map held for the whole run keeps each page it has read in the process's resident set, which then
grows with the corpus as training samples across it (+0.4 KB per document between 10x and 30x the toy
world, `benchmarks/bench_memory.py`). The tail after the last full block is dropped, as in `pack_corpus`.

Baseline (`unigram_cross_entropy`, `shard_stats`): the unigram cross-entropy of `packing` computed in
chunks of blocks (a bincount per chunk), on the same targets (`blocks[:, 1:]`), and the stats dict of
`pack_corpus` with the same keys.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from llm_lifecycle.splits import is_heldout

logger = logging.getLogger(__name__)

METADATA_FILE = "shards.json"
FORMAT = "llm_lifecycle.token_shards/1"
SPLITS = ("train", "val")
SPLIT_KEY = "split_key"  # Document.metadata entry the reader fills and the split filter reads
_DTYPES = {2: "uint16", 4: "uint32"}  # datatrove's token sizes (bytes)
_HASH_BYTES = 1 << 24  # bytes per read when fingerprinting


# --------------------------------------------------------------------------- the split, one document


def split_key(record: Mapping[str, Any], key: str = "id", text_field: str = "text") -> str:
    """What `splits.split_records` hashes for `record`: `record[key]`, or its text when it has no `key`."""
    return str(record[key]) if key in record else str(record[text_field])


def is_validation_record(
    record: Mapping[str, Any], val_fraction: float, salt: str = "pretrain", key: str = "id"
) -> bool:
    """True when `packing.split_documents` (`splits.split_records`) puts `record` in validation."""
    return is_heldout(split_key(record, key), val_fraction, salt)


class HashSplitFilter(BaseFilter):
    """Keeps the documents of one split (`"train"` or `"val"`), decided by `is_validation_record`'s rule
    on the key the reader stored in `metadata["split_key"]` (see `_strict_adapter`)."""

    name = "🔀 Hash split"

    def __init__(self, split: str, val_fraction: float, salt: str = "pretrain"):
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        is_heldout("", val_fraction, salt)  # validates the fraction here, not inside a worker
        self.split, self.val_fraction, self.salt = split, val_fraction, salt

    def filter(self, doc: Document) -> bool:
        return is_heldout(doc.metadata[SPLIT_KEY], self.val_fraction, self.salt) == (self.split == "val")


def _strict_adapter(self: Any, data: dict, path: str, id_in_file: int | str) -> dict:
    """JsonlReader adapter: datatrove's default skips a record without text with one warning; a corpus
    for pretraining must not lose documents silently, so this raises, naming the file and line."""
    text = data.get(self.text_key)
    if not isinstance(text, str) or not text:
        where = self.data_folder.resolve_paths(path)
        line = id_in_file + 1 if isinstance(id_in_file, int) else id_in_file
        ident = data.get(self.id_key, "<no id>")
        problem = (
            "no" if self.text_key not in data else "empty" if text == "" else f"non-string ({text!r:.40})"
        )
        raise ValueError(
            f"{where}, line {line}: record {ident!r} has {problem} text in field {self.text_key!r} "
            f"(keys: {sorted(data)}); drop or fix it before tokenizing"
        )
    has_id = self.id_key in data
    return {
        "text": text,
        "id": str(data[self.id_key]) if has_id else f"{path}/{id_in_file}",
        "metadata": {SPLIT_KEY: str(data[self.id_key]) if has_id else text},
    }


# --------------------------------------------------------------------------- writing


def _input_files(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """JSONL files in order: a list as given, or a folder's `*.jsonl[.gz|.zst]` files in sorted order."""
    if isinstance(inputs, (str, os.PathLike)):
        root = Path(inputs)
        if root.is_dir():
            files = sorted(
                p for p in root.rglob("*") if p.is_file() and re.search(r"\.jsonl(\.gz|\.zst)?$", p.name)
            )
            if not files:
                raise FileNotFoundError(f"no .jsonl files in {root}")
            return [p.resolve() for p in files]
        inputs = [root]
    files = [Path(p) for p in inputs]
    if not files:
        raise ValueError("no input files")
    for p in files:
        if not p.is_file():
            raise FileNotFoundError(f"input file {p} does not exist")
    return [p.resolve() for p in files]


def _contiguous_order(n_files: int, world_size: int) -> list[int]:
    """A permutation P of the files such that P[r::world_size] (datatrove's share of task r) is a
    contiguous run of the inputs, runs in rank order: concatenating task outputs keeps input order."""
    order = [0] * n_files
    start = 0
    for rank in range(world_size):
        positions = range(rank, n_files, world_size)
        for k, pos in enumerate(positions):
            order[pos] = start + k
        start += len(positions)
    return order


def _tokenizer_file(tokenizer_dir: str | os.PathLike) -> Path:
    path = Path(tokenizer_dir)
    path = path / "tokenizer.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer.json at {tokenizer_dir} (save it with save_pretrained)")
    return path


def tokenizer_fingerprint(tokenizer_dir: str | os.PathLike) -> str:
    """SHA-256 of the saved `tokenizer.json`: the token ids depend on nothing else (with BOS/EOS ids)."""
    return hashlib.sha256(_tokenizer_file(tokenizer_dir).read_bytes()).hexdigest()


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _token_files(folder: Path) -> list[Path]:
    """A folder's `.ds` files in name order, numbers compared as numbers (`1000_x` after `999_x`)."""
    return sorted(folder.glob("*.ds"), key=lambda p: _natural_key(p.name))


def _datatrove_token_size(folder: Path) -> int | None:
    """The token size datatrove recorded in its `<file>.ds.metadata` files (`name|size`), if any."""
    sizes = set()
    for meta in folder.glob("*.ds.metadata"):
        first = meta.read_text(encoding="utf-8").splitlines()[0]
        if "|" in first:
            sizes.add(int(first.rsplit("|", 1)[1]))
    if len(sizes) > 1:
        raise ValueError(f"{folder}: shards written with different token sizes {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _default_executor(tasks: int, workers: int) -> Callable[[list, str], Any]:
    def make(pipeline: list, logging_dir: str) -> Any:
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, skip_completed=False
        )

    return make


def _check_completed(executor: Any, logging_dir: Path, what: str) -> None:
    """Every task marked its completion (datatrove writes `completions/<rank>`): an executor that does
    not raise on a failed task (a cluster job) must not leave a silently partial split behind."""
    world = getattr(executor, "world_size", None)
    if world is None:
        return
    missing = [r for r in range(world) if not (logging_dir / "completions" / f"{r:05d}").is_file()]
    if missing:
        raise RuntimeError(
            f"{what}: tasks {missing} of {world} did not complete; see the logs in {logging_dir}"
        )


def write_token_shards(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    tokenizer_dir: str | os.PathLike,
    *,
    val_fraction: float = 0.05,
    salt: str = "pretrain",
    key: str = "id",
    text_field: str = "text",
    shuffle: bool = False,
    seed: int | None = None,
    max_tokens_per_file: int | None = None,
    tasks: int = 1,
    workers: int = 1,
    batch_size: int = 100,
    executor_factory: Callable[[list, str], Any] | None = None,
    run_executor: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Tokenize JSONL documents (`inputs`: files, or a folder of `*.jsonl`) into `output_dir/{train,val}/`
    token shards with datatrove, `<s> text </s>` per document, split as `pack_corpus` splits; returns the
    metadata written to `output_dir/shards.json` (see the module docstring).

    run_executor(executor) runs it to completion (default `executor.run()`; a Slurm executor only submits,
    so `filtering.executors.run_stages` waits for it).
    executor_factory(pipeline, logging_dir) -> an executor with `.run()` (Local/Slurm/Ray); by default
    `LocalPipelineExecutor(tasks=min(tasks, files), workers=workers)`. Tasks read whole files, so more
    tasks than input files only leaves tasks idle. Earlier shards in `output_dir` are removed first.
    `batch_size` documents go to the Rust tokenizer at a time: its encodings of a batch, freed between
    its cache's lasting entries, leave glibc's heap fragmented in proportion to the batch (1000: +0.19 KB
    per document between 10x and 30x the toy world, live after `malloc_trim`; 100: +0.02, as fast).
    With `workers > 1` the tasks run in datatrove's "forkserver" processes, which import the caller's
    `__main__`: a script needs the usual `if __name__ == "__main__":` guard (as `filtering.executors`).
    """
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.tokens import DocumentTokenizer, DocumentTokenizerMerger
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    files = _input_files(inputs)
    tok_file = _tokenizer_file(tokenizer_dir)
    hf_tok = AutoTokenizer.from_pretrained(str(tok_file.parent))
    bos, eos = hf_tok.bos_token_id, hf_tok.eos_token_id
    if bos is None or eos is None:
        raise ValueError("the tokenizer needs both a BOS and an EOS token to mark document boundaries")
    raw = json.loads(tok_file.read_text(encoding="utf-8"))
    if raw.get("truncation") or raw.get("padding"):
        raise ValueError(f"{tok_file} enables truncation or padding: documents must be tokenized whole")
    markers = TemplateProcessing(
        single=[hf_tok.bos_token, "$A", hf_tok.eos_token],  # a list: token strings are never re-parsed
        special_tokens=[(hf_tok.bos_token, bos), (hf_tok.eos_token, eos)],
    )
    out = Path(output_dir).resolve()
    for stale in (out / METADATA_FILE, *(out / s for s in SPLITS), out / "logs"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    (out / "logs").mkdir(parents=True)
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    if executor_factory is None:
        if tasks > len(files):
            logger.info("%d tasks for %d input files: using %d tasks", tasks, len(files), len(files))
        executor_factory = _default_executor(min(tasks, len(files)), workers)
    merge = shuffle or max_tokens_per_file is not None
    for split in SPLITS:
        target = out / split
        written = out / f"{split}_tokenized" if merge else target
        paths_file = out / "logs" / f"{split}_inputs.txt"
        step = DocumentTokenizer(
            output_folder=str(written),
            tokenizer_name_or_path=str(tok_file),
            save_filename=split,
            shuffle_documents=shuffle,
            seed=seed,
            batch_size=batch_size,
        )
        step.post_processor = markers  # the supported hook: replaces the eos_token-only template
        pipeline = [
            JsonlReader(
                str(root),
                paths_file=str(paths_file),
                compression="infer",
                adapter=_strict_adapter,
                text_key=text_field,
                id_key=key,
                add_file_path=False,
            ),
            HashSplitFilter(split, val_fraction, salt),
            step,
        ]
        logging_dir = out / "logs" / f"{split}-tokenize"
        executor = executor_factory(pipeline, str(logging_dir))
        world = int(getattr(executor, "world_size", tasks))
        order = _contiguous_order(len(files), world)
        ordered = [None] * len(files)
        for pos, index in enumerate(order):
            ordered[pos] = files[index].relative_to(root).as_posix()
        paths_file.write_text("".join(f"{p}\n" for p in ordered), encoding="utf-8")
        logger.info(
            "tokenizing the %s split of %d files with %d tasks into %s", split, len(files), world, written
        )
        (run_executor or (lambda ex: ex.run()))(executor)
        _check_completed(executor, logging_dir, f"tokenizing {split}")
        if merge:
            merge_dir = out / "logs" / f"{split}-merge"
            merger = DocumentTokenizerMerger(
                input_folder=str(written),
                output_folder=str(target),
                save_filename=split,
                max_tokens_per_file=max_tokens_per_file or int(100e9),
                shuffle=shuffle,
                seed=seed,
                progress=False,
            )
            LocalPipelineExecutor(
                [merger], tasks=1, workers=1, logging_dir=str(merge_dir), skip_completed=False
            ).run()
            shutil.rmtree(written)
        target.mkdir(parents=True, exist_ok=True)  # a split no task wrote to: caught below as empty
    token_size = _datatrove_token_size(out / "train") or _datatrove_token_size(out / "val")
    dtype = _DTYPES[token_size] if token_size else ("uint16" if len(hf_tok) <= 1 << 16 else "uint32")
    meta = write_shard_metadata(
        out,
        token_dtype=dtype,
        vocab_size=len(hf_tok),
        tokenizer={
            # relative when it travels with the shards (a folder renamed into place stays valid)
            "path": (
                tok_file.resolve().relative_to(out).as_posix()
                if tok_file.resolve().is_relative_to(out)
                else str(tok_file)
            ),
            "fingerprint": tokenizer_fingerprint(tok_file),
            "bos_token_id": bos,
            "eos_token_id": eos,
        },
        settings={
            "inputs": [str(p) for p in files],
            "val_fraction": val_fraction,
            "salt": salt,
            "key": key,
            "text_field": text_field,
            "shuffle": shuffle,
            "seed": seed,
            "max_tokens_per_file": max_tokens_per_file,
        },
    )
    if meta["splits"]["val"]["documents"] == 0:
        raise ValueError(f"no validation documents at val_fraction={val_fraction}: raise it or add data")
    return meta


def _scan(paths: Sequence[Path], dtype: np.dtype) -> tuple[int, str]:
    """(largest token id, BLAKE2b of the token bytes) in one sequential pass, a bounded chunk at a time."""
    digest = hashlib.blake2b(f"{dtype.name}:".encode(), digest_size=16)
    largest = -1
    step = _HASH_BYTES // dtype.itemsize
    for path in paths:
        if path.stat().st_size == 0:
            continue
        # Plain reads, not a map: a mapped file's pages count in this process's resident memory for as
        # long as the map lives, so one pass through a map would grow it with the corpus.
        with open(path, "rb") as fh:
            while (chunk := np.fromfile(fh, dtype=dtype, count=step)).size:
                digest.update(chunk.tobytes())
                largest = max(largest, int(chunk.max()))
    return largest, digest.hexdigest()


def write_shard_metadata(
    folder: str | os.PathLike,
    *,
    token_dtype: str,
    vocab_size: int,
    tokenizer: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Describe the `.ds` files of `folder/train` and `folder/val` (as datatrove's `DocumentTokenizer`
    writes them, also by a pipeline run elsewhere) in `folder/shards.json`; returns the metadata.

    Reads every token once (largest id, fingerprint) and each `.ds.index` (document counts, checked
    against the token counts)."""
    root = Path(folder).resolve()
    dtype = np.dtype(token_dtype)
    if dtype.name not in _DTYPES.values():
        raise ValueError(f"token_dtype must be one of {sorted(_DTYPES.values())}, got {token_dtype!r}")
    splits: dict[str, Any] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"no {split} shard folder {split_dir}")
        paths = _token_files(split_dir)
        entries = []
        for path in paths:
            size = path.stat().st_size
            if size % dtype.itemsize:
                raise ValueError(f"{path}: {size} bytes is not a whole number of {dtype.name} tokens")
            n_tokens, n_docs = size // dtype.itemsize, 0
            index = path.with_name(path.name + ".index")
            if index.is_file() and index.stat().st_size:
                ends = np.fromfile(index, dtype="<u8")
                n_docs = len(ends)
                if int(ends[-1]) != n_tokens:
                    raise ValueError(f"{index}: the last document ends at {int(ends[-1])}, not {n_tokens}")
            entries.append(
                {"path": path.relative_to(root).as_posix(), "tokens": n_tokens, "documents": n_docs}
            )
        largest, fingerprint = _scan(paths, dtype)
        if largest >= vocab_size:
            raise ValueError(f"{split}: token id {largest} is outside the vocabulary of {vocab_size}")
        splits[split] = {
            "files": entries,
            "tokens": sum(e["tokens"] for e in entries),
            "documents": sum(e["documents"] for e in entries),
            "max_token_id": largest,
            "fingerprint": fingerprint,
        }
    meta = {
        "format": FORMAT,
        "token_dtype": dtype.name,
        "vocab_size": int(vocab_size),
        "max_token_id": max(s["max_token_id"] for s in splits.values()),
        "tokenizer": dict(tokenizer or {}),
        "splits": splits,
        "settings": dict(settings or {}),
    }
    tmp = root / f".{METADATA_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, root / METADATA_FILE)  # present only once complete
    logger.info(
        "token shards in %s: train %d documents / %d tokens, val %d / %d (%s)",
        root,
        splits["train"]["documents"],
        splits["train"]["tokens"],
        splits["val"]["documents"],
        splits["val"]["tokens"],
        dtype.name,
    )
    return meta


def read_shard_metadata(folder: str | os.PathLike) -> dict[str, Any]:
    """The `shards.json` of `folder`, with clear errors for a missing folder or an unfinished write."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no token shard folder {root}")
    path = root / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: write the shards with write_token_shards (unfinished?)")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


# --------------------------------------------------------------------------- reading


class ShardBlocks:
    """One split of the shards as `[n_blocks, block_size]` int64 blocks, memory-mapped.

    Block i is tokens [i*block_size, (i+1)*block_size) of the split's stream (its files concatenated in
    order, across file boundaries); the tail after the last full block is dropped. Indexing with an int,
    a slice, or a 1-D tensor/array/list of block indices reads only those blocks and returns an int64
    tensor (`[block_size]` for an int, else `[b, block_size]`), like indexing the packed tensor.
    """

    ndim = 2
    dtype = torch.int64
    device = torch.device("cpu")  # where index tensors go (`loop.evaluate` moves them to `.device`)

    def __init__(self, folder: str | os.PathLike, split: str, block_size: int):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if block_size < 2:
            raise ValueError(f"block_size must be >= 2 (one input, one target), got {block_size}")
        self.folder = Path(folder).resolve()
        self.split, self.block_size = split, int(block_size)
        self.metadata = read_shard_metadata(self.folder)
        info = self.metadata["splits"][split]
        self.token_dtype = np.dtype(self.metadata["token_dtype"])
        self.vocab_size = int(self.metadata["vocab_size"])
        self.max_token_id = int(info["max_token_id"])
        self.fingerprint = str(info["fingerprint"])
        self.documents = int(info["documents"])
        self._paths, sizes = [], []
        for entry in info["files"]:
            path = self.folder / entry["path"]
            if not path.is_file():
                raise FileNotFoundError(f"{path} (listed in {self.folder / METADATA_FILE}) is missing")
            expected = entry["tokens"] * self.token_dtype.itemsize
            if path.stat().st_size != expected:
                raise ValueError(
                    f"{path}: {path.stat().st_size} bytes, but {METADATA_FILE} says {expected}: "
                    "the shards changed after they were described; write them again"
                )
            if entry["tokens"]:
                self._paths.append(path)
                sizes.append(entry["tokens"])
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).tolist()  # [files + 1]
        self.total_tokens = int(self._starts[-1])
        self.n_blocks = self.total_tokens // self.block_size
        self.dropped_tokens = self.total_tokens - self.n_blocks * self.block_size
        if self.n_blocks == 0:
            raise ValueError(
                f"{self.folder / split}: {self.documents} documents give {self.total_tokens} tokens, fewer "
                f"than one block of {self.block_size}: use more documents or a smaller block_size"
            )

    # -- what the loop and the checkpoints read
    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.n_blocks, self.block_size))

    def __len__(self) -> int:
        return self.n_blocks

    def numel(self) -> int:
        return self.n_blocks * self.block_size

    def size(self, dim: int | None = None) -> torch.Size | int:
        return self.shape if dim is None else self.shape[dim]

    def spec(self) -> dict[str, Any]:
        """JSON description another process opens with `from_spec` (`pretraining.distributed`)."""
        return {"folder": str(self.folder), "split": self.split, "block_size": self.block_size}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ShardBlocks:
        return cls(spec["folder"], spec["split"], int(spec["block_size"]))

    def __repr__(self) -> str:
        return (
            f"ShardBlocks({str(self.folder)!r}, {self.split!r}, block_size={self.block_size}: "
            f"{self.n_blocks} blocks over {len(self._paths)} files)"
        )

    # -- reading
    def _read(self, start: int, stop: int, out: np.ndarray, maps: dict[int, np.memmap] | None = None) -> None:
        """Tokens [start, stop) of the stream into `out` (1-D, any integer dtype), file by file.

        `maps` ({file index: memmap}) lives for one call of `__getitem__`/`read_blocks` (per-batch maps:
        see the module docstring); None: plain file reads (whole passes)."""
        f = bisect.bisect_right(self._starts, start) - 1
        pos = 0
        while start < stop:
            take = min(stop, self._starts[f + 1]) - start
            local = start - self._starts[f]
            if maps is not None:
                if f not in maps:
                    maps[f] = np.memmap(self._paths[f], dtype=self.token_dtype, mode="r")
                out[pos : pos + take] = maps[f][local : local + take]
            else:
                with open(self._paths[f], "rb") as fh:
                    fh.seek(local * self.token_dtype.itemsize)
                    out[pos : pos + take] = np.fromfile(fh, dtype=self.token_dtype, count=take)
            pos, start, f = pos + take, start + take, f + 1

    def read_blocks(
        self, start: int, stop: int, dtype: np.dtype | None = None, mapped: bool = True
    ) -> np.ndarray:
        """Blocks [start, stop) as one array `[stop - start, block_size]` (the stored dtype by default)."""
        n = max(0, stop - start)
        out = np.empty((n, self.block_size), dtype=dtype or self.token_dtype)
        maps: dict[int, np.memmap] | None = {} if mapped else None
        self._read(start * self.block_size, (start + n) * self.block_size, out.reshape(-1), maps)
        return out

    def iter_chunks(self, blocks_per_chunk: int) -> Iterator[np.ndarray]:
        """Every block in order, `blocks_per_chunk` at a time (stored dtype): memory bounded by the chunk."""
        for start in range(0, self.n_blocks, blocks_per_chunk):  # a whole pass: plain reads, no map
            yield self.read_blocks(start, min(start + blocks_per_chunk, self.n_blocks), mapped=False)

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, tuple):  # blocks[rows, cols]: rows from disk, the rest on the result
            rows, *rest = index
            got = self[rows]
            return got[tuple(rest)] if got.ndim == 1 else got[(slice(None), *rest)]
        if isinstance(index, slice):
            start, stop, step = index.indices(self.n_blocks)
            if step == 1:
                return torch.from_numpy(self.read_blocks(start, stop, np.int64))
            index = np.arange(start, stop, step)
        if isinstance(index, torch.Tensor):
            index = index.detach().cpu().numpy()
        scalar = np.ndim(index) == 0
        idx = np.asarray(index)
        if idx.dtype == np.bool_ or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
            raise TypeError(f"index blocks with integers or a slice, got {idx.dtype} {type(index).__name__}")
        if idx.ndim > 1:
            raise IndexError(f"block indices must be 0- or 1-D, got shape {idx.shape}")
        idx = idx.astype(np.int64).reshape(-1)
        bad = (idx < -self.n_blocks) | (idx >= self.n_blocks)
        if bad.any():
            raise IndexError(f"block index {int(idx[bad][0])} is out of range for {self.n_blocks} blocks")
        idx = np.where(idx < 0, idx + self.n_blocks, idx)
        out = np.empty((len(idx), self.block_size), dtype=np.int64)
        maps: dict[int, np.memmap] = {}  # this batch's maps, unmapped when it returns
        for row, block in enumerate(idx.tolist()):
            self._read(block * self.block_size, (block + 1) * self.block_size, out[row], maps)
        result = torch.from_numpy(out)
        return result[0] if scalar else result


def open_shard_blocks(
    folder: str | os.PathLike, block_size: int, *, smoothing: float = 1.0
) -> dict[str, Any]:
    """`{"train", "val", "stats"}` as the pretraining node's blocks (`pack_corpus`), from shards on disk."""
    train = ShardBlocks(folder, "train", block_size)
    val = ShardBlocks(folder, "val", block_size)
    return {"train": train, "val": val, "stats": shard_stats(train, val, smoothing=smoothing)}


# --------------------------------------------------------------------------- the baseline, streamed


def _target_counts(blocks: ShardBlocks, vocab_size: int, chunk_tokens: int) -> np.ndarray:
    """Counts of each id among the targets `blocks[:, 1:]`, a bincount per chunk of blocks."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    per_chunk = max(1, chunk_tokens // blocks.block_size)
    for chunk in blocks.iter_chunks(per_chunk):  # [k, block_size]
        c = np.bincount(chunk[:, 1:].reshape(-1), minlength=vocab_size)
        if len(c) > vocab_size:
            where = blocks.folder / blocks.split
            raise ValueError(f"{where}: token id {len(c) - 1} is outside the vocabulary of {vocab_size}")
        counts += c
    return counts


def unigram_cross_entropy(
    train: ShardBlocks,
    val: ShardBlocks,
    vocab_size: int,
    alpha: float = 1.0,
    *,
    chunk_tokens: int = 1 << 20,
) -> float:
    """`packing.unigram_cross_entropy(train[:, 1:], val[:, 1:], vocab_size, alpha)`, streamed: counts per
    chunk of about `chunk_tokens` tokens, so memory is one chunk and a `[vocab_size]` count vector.

    H = -sum_v count_val(v) log p(v) / n_val, with p from the train counts (add-alpha smoothing): the same
    value as the in-memory mean over validation tokens, up to floating-point summation order."""
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    train_counts = _target_counts(train, vocab_size, chunk_tokens)
    val_counts = _target_counts(val, vocab_size, chunk_tokens)
    n_train, n_val = int(train_counts.sum()), int(val_counts.sum())
    if n_val == 0:
        raise ValueError("no validation tokens")
    with np.errstate(divide="ignore"):
        log_p = np.log(train_counts + alpha) - math.log(n_train + alpha * vocab_size)  # [vocab]
    seen = val_counts > 0
    ce = -float(np.dot(val_counts[seen], log_p[seen])) / n_val
    if not math.isfinite(ce):
        raise ValueError("a validation token never occurs in train: use alpha > 0")
    return ce


def shard_stats(
    train: ShardBlocks, val: ShardBlocks, vocab_size: int | None = None, *, smoothing: float = 1.0
) -> dict[str, float]:
    """The stats of `packing.pack_corpus` (same keys, same values) for shards; `vocab_size` defaults to
    the tokenizer's, recorded in `shards.json`."""
    vocab = int(train.vocab_size if vocab_size is None else vocab_size)
    stats = {
        "train_documents": train.documents,
        "val_documents": val.documents,
        "train_tokens": train.numel(),
        "val_tokens": val.numel(),
        "train_blocks": train.n_blocks,
        "val_blocks": val.n_blocks,
        "train_dropped_tokens": train.dropped_tokens,
        "val_dropped_tokens": val.dropped_tokens,
        "unigram_val_cross_entropy": unigram_cross_entropy(train, val, vocab, alpha=smoothing),
        "uniform_cross_entropy": math.log(vocab),
    }
    logger.info(
        "pretraining shards: %d/%d train/val documents -> %d/%d blocks of %d (dropped tails %d/%d tokens); "
        "unigram baseline %.3f nats/token, uniform %.3f",
        stats["train_documents"],
        stats["val_documents"],
        stats["train_blocks"],
        stats["val_blocks"],
        train.block_size,
        stats["train_dropped_tokens"],
        stats["val_dropped_tokens"],
        stats["unigram_val_cross_entropy"],
        stats["uniform_cross_entropy"],
    )
    return stats
