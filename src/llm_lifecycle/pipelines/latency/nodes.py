"""Latency nodes: thin wrappers over `llm_lifecycle.benchmarking` (ceilings, latency harness, roofline)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.benchmarking.latency import LatencyHarnessSettings
from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics
from llm_lifecycle.modeling.config import ModelSettings


class LatencySettings(BaseModel):
    """`conf/base/parameters_latency.yml` (key `latency`)."""

    model_config = ConfigDict(extra="forbid")

    models: list[Literal["dpo", "large"]] = Field(default_factory=lambda: ["dpo", "large"])
    harness: LatencyHarnessSettings = LatencyHarnessSettings()
    # A randomly initialised model of the same architecture, big enough to exceed the last-level cache
    large_model: ModelSettings = ModelSettings()
    ceiling_repeats: int = Field(20, ge=1)


def measure_ceilings(params: dict[str, Any]) -> dict[str, Any]:
    """Peak FLOP/s and bandwidth of this machine, measured now (nominal bf16 peaks on a known GPU)."""
    from llm_lifecycle.benchmarking.ceilings import measured_ceilings

    cfg = LatencySettings.model_validate(params)
    return measured_ceilings(cfg.ceiling_repeats)


def benchmark_latency(
    dpo_model: tuple[Any, Any], hardware_ceilings: dict[str, Any], params: dict[str, Any], seed: int
) -> tuple[Any, Any]:
    """Latency rows per model × batch size, and the KV-cache check (measured tensors vs formula)."""
    import pandas as pd

    from llm_lifecycle.benchmarking.latency import benchmark_models
    from llm_lifecycle.modeling import build_timing_model

    cfg = LatencySettings.model_validate(params)
    settings = cfg.harness.model_copy(update={"seed": seed})
    models = {
        "dpo": lambda: dpo_model[0],
        "large": lambda: build_timing_model(cfg.large_model, seed),
    }
    rows, kv = benchmark_models({name: models[name] for name in cfg.models}, settings, hardware_ceilings)
    return pd.DataFrame(rows), pd.DataFrame(kv)


def analyse_roofline(
    latency_results: Any, hardware_ceilings: dict[str, Any]
) -> tuple[Any, Any, Any, MetricsDict]:
    """Per model × batch: intensity vs ridge (the regime), predicted vs measured TPOT, MFU, MBU, the
    limiting ceiling's utilisation and the overhead share (the efficiency); plots; metrics."""
    import pandas as pd

    from llm_lifecycle.benchmarking.roofline import analyse_latency_rows
    from llm_lifecycle.benchmarking.roofline_plots import latency_plot, roofline_plot

    rows = latency_results.to_dict("records")
    points, metrics = analyse_latency_rows(rows, hardware_ceilings)
    return (
        pd.DataFrame(points),
        roofline_plot(points, hardware_ceilings["flops"], hardware_ceilings["bandwidth"]),
        latency_plot(rows),
        as_mlflow_metrics(metrics),
    )
