"""Token shards on disk (datatrove) give exactly `pack_corpus`'s blocks and stats, memory-mapped."""

from __future__ import annotations

import hashlib
import json
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_lifecycle.splits import split_records
from llm_lifecycle.training.pretraining import shards as S
from llm_lifecycle.training.pretraining.packing import pack_corpus, unigram_cross_entropy

BLOCK = 16
VAL = 0.2


def _write_jsonl(folder, docs, n_files: int) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(docs) // n_files)
    paths = []
    for k in range(n_files):
        path = folder / f"part-{k:02d}.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for doc in docs[k * size : (k + 1) * size]:
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def tokenizer_dir(tiny_tokenizer, tmp_path_factory):
    path = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def reference(tiny_tokenizer, bilingual_docs):
    return pack_corpus(tiny_tokenizer, bilingual_docs, BLOCK, val_fraction=VAL)


@pytest.fixture(scope="module")
def shard_dir(bilingual_docs, tokenizer_dir, tmp_path_factory):
    """4 input files, 3 tasks: several shard files per split, in input order."""
    root = tmp_path_factory.mktemp("shards")
    _write_jsonl(root / "input", bilingual_docs, n_files=4)
    S.write_token_shards(root / "input", root / "out", tokenizer_dir, val_fraction=VAL, tasks=3)
    return root / "out"


def test_shards_equal_pack_corpus(shard_dir, reference, tiny_tokenizer):
    blocks = S.open_shard_blocks(shard_dir, BLOCK)
    train, val = blocks["train"], blocks["val"]
    assert torch.equal(train[:], reference.train_blocks)
    assert torch.equal(val[:], reference.val_blocks)
    stats, ref = blocks["stats"], reference.stats
    assert stats.keys() == ref.keys()
    for k, v in ref.items():
        assert stats[k] == pytest.approx(v, rel=1e-12, abs=0), k
    assert train.max_token_id == int(reference.train_blocks.max()) < len(tiny_tokenizer)
    # <s> text </s>: every block stream starts with <s>, and every </s> is followed by <s>.
    flat = train[:].flatten()
    assert flat[0].item() == tiny_tokenizer.bos_token_id
    after_eos = flat[1:][flat[:-1] == tiny_tokenizer.eos_token_id]
    assert (after_eos == tiny_tokenizer.bos_token_id).all()


def test_blocks_cross_file_boundaries(shard_dir):
    meta = S.read_shard_metadata(shard_dir)
    files = meta["splits"]["train"]["files"]
    assert len(files) == 3  # one per task
    stream = np.concatenate([np.fromfile(shard_dir / f["path"], dtype=meta["token_dtype"]) for f in files])
    ends = np.cumsum([f["tokens"] for f in files])[:-1]
    crossing = [int(e) // BLOCK for e in ends if e % BLOCK]
    assert crossing, "the test needs a file boundary inside a block"
    train = S.ShardBlocks(shard_dir, "train", BLOCK)
    for b in crossing:
        expected = torch.from_numpy(stream[b * BLOCK : (b + 1) * BLOCK].astype(np.int64))
        assert torch.equal(train[b], expected)
        assert torch.equal(train[torch.tensor([b, 0, b])][0], expected)


def test_max_tokens_per_file_keeps_order(bilingual_docs, tokenizer_dir, reference, tmp_path):
    _write_jsonl(tmp_path / "input", bilingual_docs, n_files=1)
    meta = S.write_token_shards(
        tmp_path / "input" / "part-00.jsonl",
        tmp_path / "out",
        tokenizer_dir,
        val_fraction=VAL,
        max_tokens_per_file=300,
    )
    assert len(meta["splits"]["train"]["files"]) > 3
    assert torch.equal(S.ShardBlocks(tmp_path / "out", "train", BLOCK)[:], reference.train_blocks)
    assert torch.equal(S.ShardBlocks(tmp_path / "out", "val", BLOCK)[:], reference.val_blocks)


def test_shuffle_permutes_documents(bilingual_docs, tokenizer_dir, shard_dir, tmp_path):
    _write_jsonl(tmp_path / "input", bilingual_docs, n_files=2)
    meta = S.write_token_shards(
        tmp_path / "input", tmp_path / "out", tokenizer_dir, val_fraction=VAL, tasks=2, shuffle=True, seed=0
    )

    def documents(folder, split):
        docs = []
        for f in S.read_shard_metadata(folder)["splits"][split]["files"]:
            tokens = np.fromfile(folder / f["path"], dtype=np.uint16)
            ends = np.fromfile(folder / (f["path"] + ".index"), dtype="<u8")
            docs += [tuple(d) for d in np.split(tokens, ends[:-1].astype(np.int64))]
        return docs

    ordered, shuffled = documents(shard_dir, "train"), documents(tmp_path / "out", "train")
    assert sorted(shuffled) == sorted(ordered) and shuffled != ordered
    assert meta["splits"]["train"]["tokens"] == S.read_shard_metadata(shard_dir)["splits"]["train"]["tokens"]


def test_is_validation_record_is_split_records_rule(bilingual_docs):
    records = [*bilingual_docs, {"text": "a record without an id"}, {"text": "another one, no id"}]
    _, val = split_records(records, VAL, salt="pretrain")
    assert [r for r in records if S.is_validation_record(r, VAL, salt="pretrain")] == val


def test_indexing_matches_the_tensor(shard_dir, reference):
    blocks, ref = S.ShardBlocks(shard_dir, "train", BLOCK), reference.train_blocks
    assert blocks.shape == ref.shape and blocks.ndim == 2 and len(blocks) == ref.shape[0]
    assert blocks.numel() == ref.numel() and blocks.device == torch.device("cpu")
    idx = torch.tensor([5, 0, len(ref) - 1, 5, -1])
    for index in (3, -2, slice(2, 9), slice(1, 20, 3), idx, [4, 1], np.array([7]), idx[:0]):
        got = blocks[index]
        assert got.dtype == torch.int64
        assert torch.equal(got, ref[index]), index
    assert torch.equal(blocks[:, 1:], ref[:, 1:]) and torch.equal(blocks[3, :4], ref[3, :4])
    with pytest.raises(IndexError, match="out of range"):
        blocks[torch.tensor([len(ref)])]
    with pytest.raises(TypeError):
        blocks[torch.tensor([0.5])]
    again = S.ShardBlocks.from_spec(json.loads(json.dumps(blocks.spec())))
    assert torch.equal(again[idx], ref[idx]) and again.fingerprint == blocks.fingerprint
    assert torch.equal(pickle.loads(pickle.dumps(blocks))[idx], ref[idx])


def test_metadata_round_trips(shard_dir, tokenizer_dir, bilingual_docs, reference):
    meta = S.read_shard_metadata(shard_dir)
    assert meta["format"] == S.FORMAT and meta["token_dtype"] == "uint16"
    assert meta["vocab_size"] == 512
    assert (
        meta["tokenizer"]["fingerprint"]
        == hashlib.sha256((tokenizer_dir / "tokenizer.json").read_bytes()).hexdigest()
    )
    assert (meta["tokenizer"]["bos_token_id"], meta["tokenizer"]["eos_token_id"]) == (1, 2)
    train, val = meta["splits"]["train"], meta["splits"]["val"]
    assert train["documents"] + val["documents"] == len(bilingual_docs)
    assert val["documents"] == reference.stats["val_documents"]
    assert train["tokens"] == sum(f["tokens"] for f in train["files"])
    assert train["fingerprint"] != val["fingerprint"]
    blocks = S.ShardBlocks(shard_dir, "val", BLOCK)
    assert (blocks.fingerprint, blocks.max_token_id, blocks.documents) == (
        val["fingerprint"],
        val["max_token_id"],
        val["documents"],
    )
    # Described again from the files: the same numbers.
    again = S.write_shard_metadata(
        shard_dir,
        token_dtype="uint16",
        vocab_size=512,
        tokenizer=meta["tokenizer"],
        settings=meta["settings"],
    )
    assert again == meta


def test_streaming_unigram_matches_packing(shard_dir, reference):
    train, val = S.ShardBlocks(shard_dir, "train", BLOCK), S.ShardBlocks(shard_dir, "val", BLOCK)
    expected = unigram_cross_entropy(
        reference.train_blocks[:, 1:], reference.val_blocks[:, 1:], 512, alpha=0.5
    )
    # chunks of 3 blocks: many bincounts, a short last chunk
    assert S.unigram_cross_entropy(train, val, 512, alpha=0.5, chunk_tokens=3 * BLOCK) == pytest.approx(
        expected, rel=1e-12
    )
    with pytest.raises(ValueError, match="outside the vocabulary"):
        S.unigram_cross_entropy(train, val, 100)


def test_memory_maps_and_reads_only_the_requested_blocks(tmp_path, monkeypatch):
    n_tokens, block = 32 * 2**20, 256  # 64 MiB of uint16, sparse on disk
    for split in S.SPLITS:
        (tmp_path / split).mkdir()
        tokens = np.memmap(
            tmp_path / split / "x_00000_unshuffled.ds", dtype=np.uint16, mode="w+", shape=(n_tokens,)
        )
        tokens[-block:] = np.arange(block)  # the last block: 0..255
        tokens[block * 1000 : block * 1001] = 7
        tokens.flush()
        del tokens
    S.write_shard_metadata(tmp_path, token_dtype="uint16", vocab_size=300)
    blocks = S.ShardBlocks(tmp_path, "train", block)
    assert blocks.shape == (n_tokens // block, block) and blocks.max_token_id == 255
    tracemalloc.start()
    try:
        got = blocks[torch.tensor([len(blocks) - 1, 1000, 3])]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # three blocks read, not 64 MiB
    # read through a map that lives as long as the batch (nanoGPT's per-batch memmap): once it returns
    # nothing of the file stays mapped, so the pages read do not pile up in the resident set
    mapped = Path("/proc/self/maps").read_text(encoding="utf-8")
    assert "x_00000_unshuffled.ds" not in mapped
    calls = []
    real = np.memmap

    def counting_memmap(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(S.np, "memmap", counting_memmap)
    assert torch.equal(blocks[torch.tensor([3, 1000])], got[[2, 1]]) and len(calls) == 1  # one map a batch
    assert got[0].tolist() == list(range(block)) and (got[1] == 7).all() and (got[2] == 0).all()


def test_bad_inputs_name_the_culprit(bilingual_docs, tokenizer_dir, shard_dir, tmp_path):
    docs = [dict(d) for d in bilingual_docs[:10]]
    del docs[3]["text"]
    (path,) = _write_jsonl(tmp_path / "input", docs, n_files=1)
    with pytest.raises(ValueError, match=rf"{path.name}, line 4: record '{docs[3]['id']}' has no text"):
        S.write_token_shards(path, tmp_path / "out", tokenizer_dir, val_fraction=VAL)
    assert not (tmp_path / "out" / S.METADATA_FILE).exists()
    with pytest.raises(FileNotFoundError, match="no token shard folder .*missing"):
        S.ShardBlocks(tmp_path / "missing", "train", BLOCK)
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        S.write_token_shards(path, tmp_path / "out", tmp_path, val_fraction=VAL)
    total = S.read_shard_metadata(shard_dir)["splits"]["val"]["tokens"]
    with pytest.raises(ValueError, match=rf"val: .* {total} tokens, fewer than one block of {total + 1}"):
        S.ShardBlocks(shard_dir, "val", total + 1)


def test_changed_shard_file_is_refused(bilingual_docs, tokenizer_dir, tmp_path):
    (path,) = _write_jsonl(tmp_path / "input", bilingual_docs[:40], n_files=1)
    meta = S.write_token_shards(path, tmp_path / "out", tokenizer_dir, val_fraction=0.3)
    shard = tmp_path / "out" / meta["splits"]["train"]["files"][0]["path"]
    with open(shard, "ab") as fh:
        fh.write(b"\0\0")
    with pytest.raises(ValueError, match=rf"{shard.name}: .* bytes, but shards.json says"):
        S.ShardBlocks(tmp_path / "out", "train", 4)


def test_datatrove_folder_dataset_windows_stop_at_each_file(shard_dir):
    """Why ShardBlocks is not DatatroveFolderDataset: its windows of seq_len+1 tokens never cross a file,
    so with several files it drops a tail per file and yields other blocks than `pack_corpus`."""
    from datatrove.utils.dataset import DatatroveFolderDataset

    ours = S.ShardBlocks(shard_dir, "train", BLOCK)
    theirs = DatatroveFolderDataset(str(shard_dir / "train"), seq_len=BLOCK - 1, token_size=2)
    assert torch.equal(theirs[0]["input_ids"], ours[0])  # non-overlapping windows of BLOCK tokens
    per_file = sum(f["tokens"] // BLOCK for f in S.read_shard_metadata(shard_dir)["splits"]["train"]["files"])
    assert len(theirs) == per_file < len(ours)


def test_executor_factory_runs_the_pipeline_and_is_checked(
    bilingual_docs, tokenizer_dir, reference, tmp_path
):
    from datatrove.executor import LocalPipelineExecutor

    (path,) = _write_jsonl(tmp_path / "input", bilingual_docs, n_files=1)
    calls = []

    def factory(pipeline, logging_dir):
        calls.append(([type(step).__name__ for step in pipeline], logging_dir))
        return LocalPipelineExecutor(pipeline, tasks=1, logging_dir=logging_dir, skip_completed=False)

    S.write_token_shards(path, tmp_path / "out", tokenizer_dir, val_fraction=VAL, executor_factory=factory)
    assert [c[0] for c in calls] == [["JsonlReader", "HashSplitFilter", "DocumentTokenizer"]] * 2
    assert torch.equal(S.ShardBlocks(tmp_path / "out", "val", BLOCK)[:], reference.val_blocks)

    class Lost:  # a cluster job that never ran: no completion marks, no shards
        world_size = 1

        def run(self):
            pass

    with pytest.raises(RuntimeError, match=r"tokenizing train: tasks \[0\] of 1 did not complete"):
        S.write_token_shards(path, tmp_path / "out2", tokenizer_dir, executor_factory=lambda p, d: Lost())


def test_pretrain_loop_takes_shards_in_place_of_the_tensor(shard_dir, reference, tiny_tokenizer):
    from llm_lifecycle.training.pretraining.loop import pretrain
    from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings
    from tests.conftest import make_tiny_llama

    cfg = PretrainLoopSettings(
        block_size=BLOCK, batch_size=4, max_steps=2, warmup_steps=1, eval_every=1, eval_batches=2, log_every=1
    )
    shards = S.open_shard_blocks(shard_dir, BLOCK)
    runs = [
        pretrain(make_tiny_llama(tiny_tokenizer), train, val, cfg, None, progress=False).history
        for name, train, val in (
            ("tensor", reference.train_blocks, reference.val_blocks),
            ("shards", shards["train"], shards["val"]),
        )
    ]
    for name in ("train_loss", "val_loss"):
        assert [p["value"] for p in runs[0][name]] == [p["value"] for p in runs[1][name]], name
