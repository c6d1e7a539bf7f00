"""MetricsDataset: a versioned file that is also what MLflow gets, and that a later run can show again."""

from __future__ import annotations

import json

import mlflow
import pytest
from kedro.io.core import DatasetError, Version
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

from llm_lifecycle.datasets import MetricsDataset

METRICS = {
    "loss": [{"value": 2.5, "step": 0}, {"value": 1.25, "step": 10}],
    "accuracy": {"value": 0.75, "step": 0},
}


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """One sqlite store for the module (creating one costs seconds of migrations)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("test")
    yield mlflow.MlflowClient(uri)
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def _history(client, run_id):
    run = client.get_run(run_id)
    return {
        key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)] for key in run.data.metrics
    }


def test_logs_what_kedro_mlflow_logs_and_keeps_the_file(tracking, tmp_path):
    dataset = MetricsDataset(str(tmp_path / "m.json"), prefix="sft", version=Version(None, None))
    with mlflow.start_run() as ours:
        dataset.save(METRICS)
    with mlflow.start_run() as theirs:
        MlflowMetricsHistoryDataset(prefix="sft").save(METRICS)
    assert _history(tracking, ours.info.run_id) == _history(tracking, theirs.info.run_id)
    assert _history(tracking, ours.info.run_id)["sft.loss"] == [(0, 2.5), (10, 1.25)]

    (saved,) = (tmp_path / "m.json").glob("*/m.json")  # one version folder
    record = json.loads(saved.read_text())
    assert record["mlflow_run_id"] == ours.info.run_id
    assert set(record["metrics"]) == {"sft.loss", "sft.accuracy"}
    assert MetricsDataset(str(tmp_path / "m.json"), prefix="sft", version=Version(None, None)).load() == {
        "sft.loss": METRICS["loss"],
        "sft.accuracy": METRICS["accuracy"],
    }


def test_a_later_run_that_loads_them_shows_them_and_names_the_run_that_made_them(tracking, tmp_path):
    with mlflow.start_run() as first:
        MetricsDataset(str(tmp_path / "m.json"), prefix="dpo", version=Version(None, None)).save(METRICS)
    with mlflow.start_run() as later:
        dataset = MetricsDataset(str(tmp_path / "m.json"), prefix="dpo", version=Version(None, None))
        dataset.load()
        dataset.load()  # logged once per run, however often it is read
    assert _history(tracking, later.info.run_id) == _history(tracking, first.info.run_id)
    assert tracking.get_run(later.info.run_id).data.tags["metrics_from.dpo"] == first.info.run_id
    # the run that wrote them gets no copy of its own metrics
    with mlflow.start_run(run_id=first.info.run_id):
        dataset.load()
    assert len(tracking.get_metric_history(first.info.run_id, "dpo.loss")) == 2


def test_versions_accumulate_and_bad_metrics_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "m.json"
    MetricsDataset(str(path), version=Version(None, "2026-01-01T00.00.00.000Z")).save({"a": {"value": 1}})
    MetricsDataset(str(path), version=Version(None, "2026-01-02T00.00.00.000Z")).save({"a": {"value": 2}})
    assert MetricsDataset(str(path), version=Version(None, None)).load() == {"a": {"value": 2}}
    assert len(list(path.iterdir())) == 2
    bad = MetricsDataset(str(path), version=Version(None, "2026-01-03T00.00.00.000Z"))
    with pytest.raises(DatasetError, match=r"m\.json: metric 'a' is not finite: nan"):
        bad.save({"a": {"value": float("nan"), "step": 0}})
    with pytest.raises(DatasetError, match=r"metric 'b' must be \{value, step\}"):
        bad.save({"b": 3.0})
    assert len(list(path.iterdir())) == 2  # nothing written for the refused saves
