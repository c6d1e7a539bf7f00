"""DocumentShardsDataset: lazy loading, the same bytes as JSONLinesDataset, staged folders moved into a
version, nothing overwritten, bad lines named by file and line; HubDataset's lazy handle."""

from __future__ import annotations

import json

import pytest
from kedro.io.core import DatasetError, Version

from llm_lifecycle.datasets import (
    DocumentShards,
    DocumentShardsDataset,
    HubDataset,
    JSONLinesDataset,
    ShardFolder,
)
from llm_lifecycle.datasets.jsonl import BadRecordError

RECORDS = [{"id": "a", "text": "Москва — столица", "lang": "ru"}, {"id": "b", "text": "Moscow", "x": [1]}]
V1, V2 = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


def _shards(folder, *files: tuple[str, list[dict]]) -> None:
    for name, rows in files:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_records_round_trip_with_the_bytes_of_the_jsonl_dataset(tmp_path):
    shards = DocumentShardsDataset(str(tmp_path / "a" / "docs.jsonl"))
    shards.save(RECORDS)
    JSONLinesDataset(str(tmp_path / "b" / "docs.jsonl")).save(RECORDS)
    assert (tmp_path / "a/docs.jsonl").read_bytes() == (tmp_path / "b/docs.jsonl").read_bytes()
    docs = shards.load()
    assert isinstance(docs, DocumentShards) and docs.paths == [tmp_path / "a/docs.jsonl"]
    with pytest.raises(TypeError, match="known after one full pass"):
        len(docs)  # not counted yet (and so `list(docs)` below reads the file once, not twice)
    assert docs and docs.count() == 2
    assert list(docs) == RECORDS and list(docs) == RECORDS  # re-iterable: each pass reads the file again
    assert len(docs) == 2


def test_load_reads_nothing_until_iterated(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "first"}\nnot json at all\n', encoding="utf-8")
    docs = DocumentShardsDataset(str(path), load_args={"required_fields": {"text": "str"}}).load()
    assert next(iter(docs)) == {"text": "first"}  # the bad second line is not read yet
    with pytest.raises(BadRecordError, match=rf"{path}:2: malformed JSON .*on_bad_record: skip"):
        list(docs)


def test_skip_mode_fills_skipped_while_iterating(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'{"text": "a"}\n{"text": 1}\n\n{"id": "x"}\n{"text": "b"}\n')
    docs = DocumentShards(path, required_fields={"text": "str"}, on_bad_record="skip")
    assert docs.skipped == []
    assert [d["text"] for d in docs] == ["a", "b"]
    assert docs.skipped == [
        f"{path}:2: field 'text' must be str, got int",
        f"{path}:4: missing required field 'text'",
    ]


def test_versions_and_staged_folders_are_moved_not_copied(tmp_path):
    path = str(tmp_path / "kept.jsonl")
    DocumentShardsDataset(path, version=Version(None, V1)).save(RECORDS[:1])
    staged = tmp_path / "staging" / "kept"
    _shards(staged, ("00001_0000-00000.jsonl", RECORDS[1:]), ("00000_0000-00001.jsonl", RECORDS[:1]))
    _shards(staged, ("sub/00002.jsonl", [{"text": "third"}]))
    DocumentShardsDataset(path, version=Version(None, V2)).save(ShardFolder(staged))
    assert not staged.exists()  # moved into the version
    latest = DocumentShardsDataset(path, version=Version(None, None)).load()
    assert [p.name for p in latest.paths] == [
        "00000_0000-00001.jsonl",
        "00001_0000-00000.jsonl",
        "00002.jsonl",
    ]
    assert [d["text"] for d in latest] == [RECORDS[0]["text"], RECORDS[1]["text"], "third"]
    first = DocumentShardsDataset(path, version=Version(V1, None)).load()
    assert list(first) == RECORDS[:1]  # the earlier version is untouched
    with pytest.raises(DatasetError, match="must not exist"):
        DocumentShardsDataset(path, version=Version(None, V1)).save(RECORDS)


def test_a_staged_folder_also_saves_into_a_plain_jsonl_dataset(tmp_path):
    staged = tmp_path / "kept"
    _shards(staged, ("00000.jsonl", RECORDS[:1]), ("00001.jsonl", RECORDS[1:]))
    JSONLinesDataset(str(tmp_path / "one.jsonl")).save(ShardFolder(staged))  # iterated, streamed
    assert JSONLinesDataset(str(tmp_path / "one.jsonl")).load() == RECORDS


def test_parquet_shards_are_read_row_by_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": "1", "text": "one"}]), folder / "a.parquet")
    pq.write_table(pa.Table.from_pylist([{"id": "2", "text": None}]), folder / "b.parquet")
    docs = DocumentShards(folder, required_fields={"text": "str"}, on_bad_record="skip")
    assert docs.format == "parquet" and list(docs) == [{"id": "1", "text": "one"}]
    assert docs.skipped == [f"{folder / 'b.parquet'}:row 0: field 'text' must be str, got NoneType"]
    _shards(folder, ("c.jsonl", RECORDS))
    with pytest.raises(DatasetError, match="mixes JSONL and Parquet"):
        list(DocumentShards(folder))


def test_bad_arguments_and_missing_data_are_named(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown load_args \['on_bad_line'\]"):
        DocumentShardsDataset(str(tmp_path / "x.jsonl"), load_args={"on_bad_line": "skip"})
    with pytest.raises(DatasetError, match="on_bad_record must be 'raise' or 'skip'"):
        DocumentShardsDataset(str(tmp_path / "x.jsonl"), load_args={"on_bad_record": "ignore"})
    with pytest.raises(DatasetError, match="unknown type 'string'"):
        DocumentShardsDataset(str(tmp_path / "x.jsonl"), load_args={"required_fields": {"text": "string"}})
    ds = DocumentShardsDataset(str(tmp_path / "nothing.jsonl"))
    assert not ds.exists()
    with pytest.raises(DatasetError, match="no such file or folder"):
        ds.load()
    with pytest.raises(DatasetError, match="staged shard folder does not exist"):
        ds.save(ShardFolder(tmp_path / "gone"))


def test_hub_dataset_lazy_handle_reads_the_same_rows(tmp_path):
    folder = tmp_path / "hub_copy"
    _shards(folder, ("train.jsonl", [{"id": str(i), "text": f"row {i}", "extra": i} for i in range(5)]))
    eager = HubDataset(str(folder), columns=["id", "text"], take=3)
    lazy = HubDataset(str(folder), columns=["id", "text"], take=3, lazy=True)
    docs = lazy.load()
    assert list(docs) == list(eager.load()) == [{"id": str(i), "text": f"row {i}"} for i in range(3)]
    assert docs.skipped == []
    assert docs.hub_options() | {"dataset_name": "x"} == {
        "dataset_name": "x",
        "config_name": None,
        "split": "train",
        "revision": None,
        "streaming": False,
        "columns": ["id", "text"],
        "take": 3,
        "load_args": {},
    }
    with pytest.raises(DatasetError, match="no column"):
        list(HubDataset(str(folder), columns=["body"], lazy=True).load())
