"""Latency nodes: thin wrappers over `llm_lifecycle.benchmarking` (ceilings, latency harness, roofline)."""

from __future__ import annotations

import logging
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics

logger = logging.getLogger(__name__)


class LatencyParams(BaseModel):
    """`conf/base/parameters_latency.yml` (key `latency`)."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(default_factory=lambda: ["dpo", "large"])
    harness: dict[str, Any] = Field(default_factory=dict)  # benchmarking.latency.LatencySettings
    # A randomly initialised model of the same architecture, big enough to exceed the last-level cache
    large_model: dict[str, Any] = Field(default_factory=dict)  # modeling.ModelConfig fields
    ceiling_repeats: int = Field(20, ge=1)
    tolerance: float = Field(1.5, gt=1, description="measured/predicted up to this: bound by that ceiling")


def measure_ceilings(params: dict[str, Any]) -> dict[str, Any]:
    """Peak FLOP/s and bandwidth of this machine, measured now (nominal bf16 peaks on a known GPU)."""
    import torch

    from llm_lifecycle.benchmarking.ceilings import device_ceiling
    from llm_lifecycle.benchmarking.latency import llc_bytes

    cfg = LatencyParams.model_validate(params)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # Fastest of the repeats: a roof is what the machine can reach; a median drifts down with neighbours
    # (one run measured 18.4 GB/s while decoding itself streamed 23 GB/s, an MBU of 1.25).
    ceiling = device_ceiling(device, repeats=cfg.ceiling_repeats, best=True)
    return {
        "flops": ceiling.flops,
        "bandwidth": ceiling.bandwidth,
        "source": ceiling.source,
        "device": ceiling.device,
        "dtype": ceiling.dtype,
        "llc_bytes": llc_bytes() if device == "cpu" else None,
        "threads": torch.get_num_threads(),
    }


def _large_model(spec: dict[str, Any], seed: int) -> Any:
    from llm_lifecycle.devices import place_for_inference
    from llm_lifecycle.modeling import ModelConfig, build_model

    return place_for_inference(build_model(ModelConfig.model_validate(spec), seed))


def benchmark_latency(
    dpo_model: tuple[Any, Any], hardware_ceilings: dict[str, Any], params: dict[str, Any], seed: int
) -> tuple[Any, Any]:
    """Latency rows per model × batch size, and the KV-cache check (measured tensors vs formula)."""
    import pandas as pd

    from llm_lifecycle.benchmarking.latency import (
        LatencySettings,
        decode_shape,
        measure_kv_cache,
        measure_latency,
    )
    from llm_lifecycle.devices import place_for_inference

    cfg = LatencyParams.model_validate(params)
    settings = LatencySettings.model_validate({"seed": seed, **cfg.harness})
    rows, kv = [], []
    for name in cfg.models:
        if name == "dpo":
            model = place_for_inference(dpo_model[0])
        elif name == "large":
            model = _large_model(cfg.large_model, seed)
        else:
            raise ValueError(f"latency.models: unknown {name!r} (use 'dpo' and/or 'large')")
        shape = decode_shape(model)
        llc = hardware_ceilings.get("llc_bytes")
        if name == "large" and llc and shape.weight_bytes <= llc:
            logger.warning(
                "latency.large_model: %d MB of weights fit in the %d MB LLC: no DRAM-bound regime",
                shape.weight_bytes >> 20,
                llc >> 20,
            )
        check = measure_kv_cache(model, batch_size=2, tokens=settings.prompt_tokens)
        kv.append(
            {
                "model": name,
                "batch_size": 2,
                "tokens": settings.prompt_tokens,
                **check,
                "matches": check["measured_bytes"] == check["formula_bytes"],
            }
        )
        for row in measure_latency(model, settings, name=name):
            rows.append(
                {
                    **row,
                    "n_matmul_params": shape.n_matmul_params,
                    "weight_bytes": shape.weight_bytes,
                    "kv_bytes_per_token": shape.kv_bytes_per_token,
                    "n_layers": shape.n_layers,
                    "attn_dim": shape.attn_dim,
                    "dtype": str(next(model.parameters()).dtype),
                }
            )
        del model
    return pd.DataFrame(rows), pd.DataFrame(kv)


def analyse_roofline(
    latency_results: Any, hardware_ceilings: dict[str, Any], params: dict[str, Any]
) -> tuple[Any, Any, Any, MetricsDict]:
    """Per model × batch: intensity, ridge, predicted vs measured TPOT, MFU, MBU, verdict; plots; metrics."""
    import pandas as pd

    from llm_lifecycle.benchmarking.roofline import DecodeShape, analyse_decode_step
    from llm_lifecycle.benchmarking.roofline_plots import latency_plot, roofline_plot

    cfg = LatencyParams.model_validate(params)
    peak, bandwidth = hardware_ceilings["flops"], hardware_ceilings["bandwidth"]
    points, metrics = [], {"ceiling.gflops": peak / 1e9, "ceiling.bandwidth_gbs": bandwidth / 1e9}
    for row in latency_results.to_dict("records"):
        shape = DecodeShape(
            int(row["n_matmul_params"]),
            int(row["weight_bytes"]),
            int(row["kv_bytes_per_token"]),
            int(row["n_layers"]),
            int(row["attn_dim"]),
        )
        context = int(row["prompt_tokens"] + row["new_tokens"] // 2)  # mean cached length while decoding
        p = analyse_decode_step(
            shape,
            int(row["batch_size"]),
            context,
            float(row["tpot_s"]),
            peak,
            bandwidth,
            llc_bytes=hardware_ceilings.get("llc_bytes"),
            tolerance=cfg.tolerance,
        )
        points.append({"model": row["model"], **p.as_dict(), "weight_bytes": shape.weight_bytes})
        key = f"latency/{row['model']}/bs{row['batch_size']}"
        metrics |= {
            f"{key}/tokens_per_s": row["tokens_per_s"],
            f"{key}/ttft_ms": row["ttft_s"] * 1e3,
            f"{key}/tpot_ms": row["tpot_s"] * 1e3,
            f"{key}/e2e_ms": row["e2e_s"] * 1e3,
            f"{key}/measured_over_predicted": p.measured_over_predicted,
            f"{key}/mbu": p.mbu,
            f"{key}/mfu": p.mfu,
            f"{key}/intensity": p.intensity,
        }
        peak_memory = row.get("peak_memory_bytes")
        if peak_memory is not None and math.isfinite(peak_memory):
            metrics[f"{key}/peak_memory_mb"] = peak_memory / 2**20
    table = pd.DataFrame(points)
    return (
        table,
        roofline_plot(points, peak, bandwidth),
        latency_plot(latency_results.to_dict("records")),
        as_mlflow_metrics(metrics),
    )
