"""Small helpers that shape metrics for kedro-mlflow's metric datasets."""

from __future__ import annotations

import math
from collections.abc import Mapping

MetricsDict = dict[str, dict[str, float | int]]


def as_mlflow_metrics(values: Mapping[str, float], step: int = 0) -> MetricsDict:
    """`{"precision": 0.97}` -> `{"precision": {"value": 0.97, "step": 0}}` (MlflowMetricsHistoryDataset).

    Non-finite values are refused here, with the metric's name, rather than deep inside MLflow.
    """
    out: MetricsDict = {}
    for name, value in values.items():
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"metric {name!r} is not finite: {value!r}")
        out[name] = {"value": v, "step": step}
    return out


def training_metrics(history: Mapping[str, list], summary: Mapping[str, object]) -> dict:
    """A trainer's per-step history (`{name: [{"step", "value"}]}`) plus the summary's numbers (booleans as
    0/1, strings and None left out), in the format of `MlflowMetricsHistoryDataset`."""
    numbers = {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    return dict(history) | as_mlflow_metrics(numbers)
