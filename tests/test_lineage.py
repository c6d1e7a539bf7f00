"""The lineage log: who made each version, and the check that stops a run reading another seed's data."""

from __future__ import annotations

import pytest

from llm_lifecycle.lineage import LineageLog, LineageMismatchError, Provenance, check


def test_record_find_and_latest_survive_a_torn_line(tmp_path):
    log = LineageLog(tmp_path)
    log.record(Provenance("answers", "2026-01-01T00.00.00.000Z", 42, "local", "run-a", "__default__"))
    log.record(Provenance("answers", "2026-01-02T00.00.00.000Z", 5, "local", "run-b", "mt_bench"))
    with log.path.open("a") as fh:
        fh.write('{"dataset": "answers", "vers')  # a run killed mid-write
    fresh = LineageLog(tmp_path)
    assert fresh.find("answers", "2026-01-01T00.00.00.000Z").mlflow_run_id == "run-a"
    assert fresh.find("answers", "2026-01-03T00.00.00.000Z") is None
    assert fresh.latest()["answers"].seed == 5


def test_check_names_the_input_its_version_and_each_mismatch():
    made = Provenance("mt_bench_answers", "2026-01-02T00.00.00.000Z", 5, "llama3_8b", "run-b", "mt_bench")
    check(made, 5, "llama3_8b")  # same seed and environment: fine
    check(None, 42, "local")  # no record: nothing to compare with
    with pytest.raises(LineageMismatchError) as info:
        check(made, 42, "local")
    message = str(info.value)
    assert "input 'mt_bench_answers' version 2026-01-02T00.00.00.000Z" in message
    assert "seed 5, this run has seed 42" in message
    assert "environment 'llama3_8b', this run is 'local'" in message
    assert "--load-versions mt_bench_answers:2026-01-02T00.00.00.000Z" in message
