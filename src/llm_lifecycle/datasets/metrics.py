"""A stage's metrics as a versioned JSON file that is also logged to the active MLflow run.

kedro-mlflow's `MlflowMetricsHistoryDataset` keeps metrics only inside one MLflow run. Once that run is
over they "do not exist" for Kedro: `kedro run --only-missing-outputs` retrains every stage whose metrics
output is such a dataset, and a pipeline that reads them (the report card) fails outside the run that
wrote them. `MetricsDataset` keeps the file as the record and MLflow as the view:

- **save** writes `{"metrics": {mlflow_key: {"value", "step"} | [...]}, "mlflow_run_id", "prefix"}`
  atomically to a new version (`versioned: true`), then logs every point to the active MLflow run
  exactly as kedro-mlflow would (key `prefix.name`, same value and step), in batches;
- **load** returns the metrics with their MLflow keys (kedro-mlflow's load format). When the file was
  written by another MLflow run than the active one (a stage skipped by `--only-missing-outputs`, or
  `kedro run --pipelines report` alone), its metrics are logged into the active run too, once, and the
  run is tagged `metrics_from.<name>` = the run that produced them, so every run shows every stage.

Catalog example::

    sft_metrics:
      type: llm_lifecycle.datasets.MetricsDataset
      filepath: ${globals:data_dir}/09_tracking/sft_metrics.json
      prefix: sft
      versioned: true
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractDataset, AbstractVersionedDataset, DatasetError, Version

from llm_lifecycle.datasets.versions import newest_version_path

MetricPoint = dict[str, float]
Metrics = dict[str, MetricPoint | list[MetricPoint]]
_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_logged: set[tuple[str, str]] = set()  # (MLflow run id, file) already logged on load in this process


def metric_points(metrics: Mapping[str, Any], source: str) -> Iterator[tuple[str, float, int]]:
    """(key, value, step) of every point; a malformed entry names the key and `source`."""
    for key, entry in metrics.items():
        points = entry if isinstance(entry, list) else [entry]
        for point in points:
            if not isinstance(point, Mapping) or "value" not in point:
                raise DatasetError(f"{source}: metric {key!r} must be {{value, step}} or a list of them")
            value = float(point["value"])
            if not math.isfinite(value):
                raise DatasetError(f"{source}: metric {key!r} is not finite: {point['value']!r}")
            yield key, value, int(point.get("step", 0))


def log_metrics_to_mlflow(metrics: Mapping[str, Any], source: str) -> str | None:
    """Log every point to the active MLflow run; its id, or None (and nothing logged) without one."""
    import mlflow
    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        return None
    client = mlflow.MlflowClient()
    stamp = int(1000 * time.time())
    points = [Metric(k, v, stamp, s) for k, v, s in metric_points(metrics, source)]
    for i in range(0, len(points), _BATCH):
        client.log_batch(run.info.run_id, metrics=points[i : i + _BATCH])
    return run.info.run_id


class MetricsDataset(AbstractVersionedDataset[Mapping[str, Any], Metrics]):
    """Versioned JSON record of a stage's metrics, logged to MLflow on save (see the module docstring)."""

    def __init__(
        self,
        filepath: str,
        prefix: str | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self._prefix = prefix or ""
        self.metadata = metadata

    def _key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def save(self, data: Mapping[str, Any]) -> None:
        path = Path(str(self._get_save_path()))
        metrics = {self._key(k): v for k, v in data.items()}
        list(metric_points(metrics, str(path)))  # refuse a malformed or non-finite metric before writing
        run_id = log_metrics_to_mlflow(metrics, str(path))
        record = {"prefix": self._prefix, "mlflow_run_id": run_id, "metrics": metrics}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self) -> Metrics:
        import mlflow

        path = Path(str(self._get_load_path()))
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            metrics = record["metrics"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: not a metrics record ({exc})") from exc
        run = mlflow.active_run()
        if run is not None and record.get("mlflow_run_id") != run.info.run_id:
            if (run.info.run_id, str(path)) not in _logged:
                log_metrics_to_mlflow(metrics, str(path))
                name = self._prefix or path.stem
                mlflow.set_tag(f"metrics_from.{name}", record.get("mlflow_run_id") or "none")
                _logged.add((run.info.run_id, str(path)))
        return metrics

    def _exists(self) -> bool:
        path = newest_version_path(self)
        return path is not None and path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "prefix": self._prefix, "version": self._version}


class NodeTimesDataset(AbstractDataset[None, dict[str, float]]):
    """Load-only: `{node name: seconds}` of the nodes that ran in the active MLflow run (`time/<node>`,
    logged by `llm_lifecycle.hooks.NodeTimingHooks`); empty without an active run. Always "exists": a run
    in which no node has finished yet simply has no times."""

    def __init__(self, metadata: dict[str, Any] | None = None):
        self.metadata = metadata

    def load(self) -> dict[str, float]:
        import mlflow

        run = mlflow.active_run()
        if run is None:
            return {}
        metrics = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
        return {k.removeprefix("time/"): v for k, v in metrics.items() if k.startswith("time/")}

    def save(self, data: None) -> None:
        raise DatasetError("NodeTimesDataset is read-only: NodeTimingHooks logs the times")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"source": "active MLflow run, metrics time/<node>"}


class LastRunMetricsDataset(AbstractDataset[None, dict[str, float]]):
    """Load-only: the last value of every metric in the newest version of each stage's metrics record
    (`<folder>/<name>.json/<version>/<name>.json`, as `MetricsDataset` writes them), keys as in MLflow;
    `{}` before any run. Always "exists": a plan may be made before anything was measured. Read without
    logging: these are what an earlier run measured, not this run's results."""

    def __init__(self, folder: str, exclude: list[str] | None = None, metadata: dict[str, Any] | None = None):
        self._folder = Path(folder)
        self._exclude = set(exclude or [])
        self.metadata = metadata

    def load(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for record_dir in sorted(self._folder.glob("*.json")):
            if record_dir.name in self._exclude or not record_dir.is_dir():
                continue
            versions = sorted(p for p in record_dir.iterdir() if (p / record_dir.name).is_file())
            if not versions:
                continue
            path = versions[-1] / record_dir.name
            try:
                metrics = json.loads(path.read_text(encoding="utf-8"))["metrics"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}: not a metrics record ({exc})") from exc
            for key, value, _ in metric_points(metrics, str(path)):
                values[key] = value  # points are in step order: the last one wins
        return values

    def save(self, data: None) -> None:
        raise DatasetError(
            "LastRunMetricsDataset is read-only: each stage's MetricsDataset writes its record"
        )

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"folder": str(self._folder)}
