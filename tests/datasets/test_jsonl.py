"""JSONLinesDataset: round-trip, versioning, and bad input named by file and line."""

import json

import pytest
from kedro.io.core import DatasetError, Version

from llm_lifecycle.datasets import JSONLinesDataset
from llm_lifecycle.datasets.jsonl import BadRecordError, read_jsonl, where

TEXT = {"text": "str"}


def _write(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_round_trip_keeps_unicode_and_order(tmp_path):
    records = [{"id": "a", "text": "Москва — столица"}, {"id": "b", "text": "Moscow", "extra": [1, 2]}]
    ds = JSONLinesDataset(str(tmp_path / "docs.jsonl"))
    ds.save(records)
    assert ds.load() == records
    assert "Москва" in (tmp_path / "docs.jsonl").read_text(encoding="utf-8")  # not \u-escaped


def test_versioned_saves_never_overwrite(tmp_path):
    path = str(tmp_path / "docs.jsonl")
    JSONLinesDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save([{"text": "one"}])
    JSONLinesDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z")).save([{"text": "two"}])
    assert JSONLinesDataset(path, version=Version(None, None)).load() == [{"text": "two"}]
    assert JSONLinesDataset(path, version=Version("2026-01-01T00.00.00.000Z", None)).load() == [
        {"text": "one"}
    ]
    with pytest.raises(DatasetError, match="must not exist"):
        JSONLinesDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save([{"text": "x"}])


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"text": "unterminated', "malformed JSON"),
        (b'["a", "list"]', "expected a JSON object, got list"),
        (b'{"id": "x"}', "missing required field 'text'"),
        (b'{"text": 42}', "field 'text' must be str, got int"),
        (b'{"text": null}', "field 'text' must be str, got NoneType"),
        (b'{"text": "caf\xe9"}', "invalid UTF-8 at byte"),
    ],
)
def test_bad_line_error_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "docs.jsonl"
    _write(path, [b'{"text": "fine"}', b'{"text": "fine too"}', bad_line, b'{"text": "after"}'])
    with pytest.raises(BadRecordError) as info:
        read_jsonl(path, TEXT)
    assert f"{path}:3: {message}" in str(info.value)
    assert "on_bad_record: skip" in str(info.value)  # tells the user the way out


def test_skip_mode_counts_and_keeps_good_lines(tmp_path, caplog):
    path = tmp_path / "docs.jsonl"
    _write(path, [b'{"text": "a"}', b"not json", b"", b'{"text": 1}', b'{"text": "b"}'])
    records = read_jsonl(path, TEXT, on_bad_record="skip")
    assert [r["text"] for r in records] == ["a", "b"]
    assert len(records.skipped) == 2
    assert records.skipped[0].startswith(f"{path}:2: malformed JSON")
    assert records.skipped[1].startswith(f"{path}:4: field 'text' must be str")
    assert "skipped 2 bad line(s)" in caplog.text


def test_dataset_passes_load_args_and_rejects_unknown(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"text": 3}) + "\n")
    with pytest.raises(BadRecordError, match=r"docs.jsonl:1: field 'text' must be str"):
        JSONLinesDataset(str(path), load_args={"required_fields": TEXT}).load()
    with pytest.raises(DatasetError, match="unknown load_args"):
        JSONLinesDataset(str(path), load_args={"on_bad": "skip"})


def test_failed_save_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "docs.jsonl"
    ds = JSONLinesDataset(str(path))
    ds.save([{"text": "old"}])

    def records():
        yield {"text": "new"}
        raise RuntimeError("crash mid-write")

    with pytest.raises(DatasetError, match="crash mid-write"):
        ds.save(records())
    assert ds.load() == [{"text": "old"}]
    assert [p.name for p in tmp_path.iterdir()] == ["docs.jsonl"]  # no temp file left behind


def test_records_know_their_file_and_line(tmp_path):
    path = tmp_path / "conv.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    records = read_jsonl(path)
    assert records.where(1) == f"{path}:3"  # the blank line is not a record but still counts as a line
    assert where([{"a": 1}], 0) == "record 0"
