"""Roofline analysis of a decode step: arithmetic intensity, ridge point, predicted time and a verdict.

Model (Williams et al. 2009, "Roofline"; applied to LLM decoding as in gpt-fast and nanochat):

- One decode step at batch B with a context of T tokens does `FLOPs = 2·N_mm·B + 4·L·d_attn·T·B`:
  2 FLOPs per weight per sequence for every matmul weight (`N_mm`: all linear layers and the LM head; the
  embedding lookup does no arithmetic), plus attention's QKᵀ and A·V over the cached T positions.
- It moves `bytes = weight bytes + B·T·kv_bytes_per_token`: every weight is read once per step
  whatever B is, and each sequence reads its own KV cache. Weights dominate at small B, so the
  intensity `FLOPs / bytes ≈ 2B / bytes_per_weight` grows with batch (B/2 FLOP/byte in fp32).
- With peak FLOP/s P and bandwidth W measured in the same run, `t_compute = FLOPs / P`,
  `t_memory = bytes / W`, predicted `t = max(t_compute, t_memory)`; the ridge point is `P / W` FLOP/byte:
  below it a step is memory-bound, above it compute-bound.
- Verdict, from the measured time `t_meas`: if the weights fit in the last-level cache, DRAM bandwidth
  is not the limit and the step is **overhead/cache-bound** (unless its FLOPs alone explain the time);
  otherwise if `t_meas ≤ tolerance · t_pred` the step is **memory-bound** or **compute-bound** (the
  larger term); if neither ceiling comes close to the measured time, it is **overhead-bound** (Python,
  kernel launches, small-matrix inefficiency), and the ratio says by how much.
- MBU = achieved bytes/s ÷ W and MFU = achieved FLOP/s ÷ P, per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from llm_lifecycle.modeling.calculator import forward_flops

Verdict = Literal["compute-bound", "memory-bound", "overhead/cache-bound", "overhead-bound"]


@dataclass(frozen=True)
class DecodeShape:
    """What a decode step touches: matmul weights, their bytes, and KV bytes per cached token."""

    n_matmul_params: int
    weight_bytes: int
    kv_bytes_per_token: int  # all layers, K and V, one sequence
    n_layers: int
    attn_dim: int  # n_heads · head_dim (the width of Q·Kᵀ and A·V)


@dataclass(frozen=True)
class RooflinePoint:
    batch_size: int
    context: int
    flops: float
    bytes: float
    intensity: float
    ridge: float
    t_compute_s: float
    t_memory_s: float
    t_predicted_s: float
    t_measured_s: float
    measured_over_predicted: float
    achieved_flops: float
    achieved_bandwidth: float
    mfu: float
    mbu: float
    verdict: Verdict
    why: str

    def as_dict(self) -> dict:
        return asdict(self)


def decode_flops(shape: DecodeShape, batch_size: int, context: int) -> float:
    """`batch_size` sequences' forward pass of one token each (`modeling.calculator.forward_flops`)."""
    return float(batch_size * forward_flops(shape.n_matmul_params, shape.n_layers, shape.attn_dim, context))


def decode_bytes(shape: DecodeShape, batch_size: int, context: int) -> float:
    return float(shape.weight_bytes + batch_size * context * shape.kv_bytes_per_token)


def analyse_decode_step(  # noqa: PLR0917
    shape: DecodeShape,
    batch_size: int,
    context: int,
    t_measured_s: float,
    peak_flops: float,
    bandwidth: float,
    *,
    llc_bytes: int | None = None,
    tolerance: float = 1.5,
) -> RooflinePoint:
    """The roofline numbers and verdict of one measured decode step (see the module docstring)."""
    flops = decode_flops(shape, batch_size, context)
    moved = decode_bytes(shape, batch_size, context)
    t_compute, t_memory = flops / peak_flops, moved / bandwidth
    t_pred = max(t_compute, t_memory)
    ratio = t_measured_s / t_pred
    bound = "compute-bound" if t_compute >= t_memory else "memory-bound"
    fits = llc_bytes is not None and shape.weight_bytes <= llc_bytes
    if fits and not (bound == "compute-bound" and ratio <= tolerance):
        verdict: Verdict = "overhead/cache-bound"
        why = (
            f"weights {shape.weight_bytes / 2**20:.1f} MiB fit in the {llc_bytes / 2**20:.0f} MiB last-level "
            f"cache, so DRAM bandwidth is not the limit; measured {ratio:.2f}x the DRAM roofline"
        )
    elif ratio <= tolerance:
        verdict = bound  # type: ignore[assignment]
        term = "FLOPs / peak FLOP/s" if bound == "compute-bound" else "bytes / bandwidth"
        why = f"measured time is {ratio:.2f}x the roofline's {term} ({t_pred * 1e3:.2f} ms)"
    else:
        verdict = "overhead-bound"
        why = (
            f"measured {t_measured_s * 1e3:.2f} ms is {ratio:.1f}x the roofline ({t_pred * 1e3:.2f} ms, "
            f"{bound.split('-', maxsplit=1)[0]} term): neither ceiling explains the time"
        )
    return RooflinePoint(
        batch_size=batch_size,
        context=context,
        flops=flops,
        bytes=moved,
        intensity=flops / moved,
        ridge=peak_flops / bandwidth,
        t_compute_s=t_compute,
        t_memory_s=t_memory,
        t_predicted_s=t_pred,
        t_measured_s=t_measured_s,
        measured_over_predicted=ratio,
        achieved_flops=flops / t_measured_s,
        achieved_bandwidth=moved / t_measured_s,
        mfu=flops / t_measured_s / peak_flops,
        mbu=moved / t_measured_s / bandwidth,
        verdict=verdict,
        why=why,
    )


def analyse_latency_rows(
    rows: Sequence[Mapping[str, Any]], ceilings: Mapping[str, Any], tolerance: float
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """A roofline point per measured row (`latency.benchmark_models`: a model at one batch size, with its
    `DecodeShape` fields) against the same-run `ceilings`, and the metrics
    (`latency/<model>/bs<B>/tokens_per_s`, `.../mbu`, ..., `ceiling.gflops`, `ceiling.bandwidth_gbs`).

    The context of a decode step is the mean cached length while decoding: prompt + new_tokens // 2."""
    peak, bandwidth = ceilings["flops"], ceilings["bandwidth"]
    points, metrics = [], {"ceiling.gflops": peak / 1e9, "ceiling.bandwidth_gbs": bandwidth / 1e9}
    for row in rows:
        shape = DecodeShape(*(int(row[f.name]) for f in fields(DecodeShape)))
        context = int(row["prompt_tokens"] + row["new_tokens"] // 2)
        p = analyse_decode_step(
            shape,
            int(row["batch_size"]),
            context,
            float(row["tpot_s"]),
            peak,
            bandwidth,
            llc_bytes=ceilings.get("llc_bytes"),
            tolerance=tolerance,
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
    return points, metrics
