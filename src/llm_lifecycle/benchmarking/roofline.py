"""Roofline analysis of a decode step: arithmetic intensity, ridge point, predicted time, regime, efficiency.

Model (Williams et al. 2009, "Roofline"; applied to LLM decoding as in gpt-fast and nanochat):

- One decode step at batch B with a context of T tokens does `FLOPs = 2·N_mm·B + 4·L·d_attn·T·B`:
  2 FLOPs per weight per sequence for every matmul weight (`N_mm`: all linear layers and the LM head; the
  embedding lookup does no arithmetic), plus attention's QKᵀ and A·V over the cached T positions.
- It moves `bytes = weight bytes + B·T·kv_bytes_per_token`: every weight is read once per step
  whatever B is, and each sequence reads its own KV cache. Weights dominate at small B, so the
  intensity `FLOPs / bytes ≈ 2B / bytes_per_weight` grows with batch (B/2 FLOP/byte in fp32).
- With peak FLOP/s P and bandwidth W measured in the same run, `t_compute = FLOPs / P`,
  `t_memory = bytes / W`, predicted `t = max(t_compute, t_memory)`; the ridge point is `P / W` FLOP/byte.

Two separate answers, so that noise in the measured time cannot flip the first:

- **Regime**, from the roofline alone: intensity below the ridge is **memory-bandwidth-bound**, at or
  above it **compute-bound** (`t_compute / t_memory = intensity / ridge`, so this is also the larger
  term). It depends on the model's shape and the same-run ceilings, never on the measured step time;
  `intensity_over_ridge` says how far from the ridge it is (near 1, a differently measured ceiling could
  move it). `fits_in_cache`: the step's weights and KV cache fit in the last-level cache, so DRAM
  bandwidth need not be the limit (the step may beat the DRAM roofline).
- **Efficiency**, from the measured time `t_meas`: the utilisation of the limiting ceiling
  `t_pred / t_meas` (MBU when memory-bandwidth-bound, MFU when compute-bound) and the overhead share
  `max(0, 1 − t_pred / t_meas)`: the part of the step that neither ceiling explains (Python and
  framework work, kernel launches, skinny-GEMM inefficiency). `summary` says both in words.
- MBU = achieved bytes/s ÷ W and MFU = achieved FLOP/s ÷ P, per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from llm_lifecycle.modeling.calculator import dtype_bytes, forward_flops, kv_cache_bytes, parameter_counts
from llm_lifecycle.modeling.config import ModelSettings

Regime = Literal["memory-bandwidth-bound", "compute-bound"]


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
    regime: Regime
    intensity_over_ridge: float  # < 1: memory-bandwidth-bound; >= 1: compute-bound
    fits_in_cache: bool  # weights + KV cache of the step <= the last-level cache
    limiting_ceiling_utilisation: float  # t_predicted / t_measured: MBU or MFU, whichever ceiling limits
    overhead_share: float  # max(0, 1 - t_predicted / t_measured): the step time neither ceiling explains
    summary: str

    def as_dict(self) -> dict:
        return asdict(self)


def decode_shape_of(cfg: ModelSettings, dtype: str) -> DecodeShape:
    """What a decode step of `cfg` touches with weights and KV cache in `dtype`: matmul
    weights (LM head included, the embedding lookup not), weight bytes read per step (the embedding table
    is not read whole, a lookup touches B rows, unless it is also the LM head), KV bytes per token."""
    counts = parameter_counts(cfg)
    read = counts.total - (0 if cfg.tie_word_embeddings else counts.embedding)
    return DecodeShape(
        n_matmul_params=counts.matmul,
        weight_bytes=int(read * dtype_bytes(dtype)),
        kv_bytes_per_token=int(kv_cache_bytes(cfg, 1, 1, dtype)),
        n_layers=cfg.n_layers,
        attn_dim=cfg.n_heads * cfg.resolved_head_dim,
    )


def decode_flops(shape: DecodeShape, batch_size: int, context: int) -> float:
    """`batch_size` sequences' forward pass of one token each (`modeling.calculator.forward_flops`)."""
    return float(batch_size * forward_flops(shape.n_matmul_params, shape.n_layers, shape.attn_dim, context))


def decode_bytes(shape: DecodeShape, batch_size: int, context: int) -> float:
    return float(shape.weight_bytes + batch_size * context * shape.kv_bytes_per_token)


def efficiency_summary(
    regime: Regime,
    intensity_over_ridge: float,
    utilisation: float,
    overhead_share: float,
    *,
    fits_in_cache: bool = False,
) -> str:
    """The regime (with its distance from the ridge) and the efficiency in words, e.g.
    "memory-bandwidth-bound (0.19x the ridge); 64% of the measured bandwidth; 36% of the step is overhead"."""
    ceiling = "bandwidth" if regime == "memory-bandwidth-bound" else "peak FLOP/s"
    head = f"{regime} ({intensity_over_ridge:.2g}x the ridge)" + (", fits in cache" if fits_in_cache else "")
    if utilisation > 1:  # faster than the roofline: served from cache, or a ceiling measured low
        why = "served from the last-level cache" if fits_in_cache else "the ceiling was measured low"
        return f"{head}; {utilisation:.2f}x the measured {ceiling} ({why}); no overhead left"
    used, overhead = _percent(utilisation), _percent(overhead_share)
    return f"{head}; {used} of the measured {ceiling}; {overhead} of the step is overhead"


def _percent(x: float) -> str:
    """Whole percent, with a decimal near 0% and 100% (0.4%, 99.6%) so that neither end reads as exact."""
    return f"{x:.0%}" if 0.01 <= x <= 0.99 or x in {0.0, 1.0} else f"{x:.1%}"


def analyse_decode_step(  # noqa: PLR0917
    shape: DecodeShape,
    batch_size: int,
    context: int,
    t_measured_s: float,
    peak_flops: float,
    bandwidth: float,
    *,
    llc_bytes: int | None = None,
) -> RooflinePoint:
    """The roofline numbers, regime and efficiency of one measured decode step (see the module docstring)."""
    flops = decode_flops(shape, batch_size, context)
    moved = decode_bytes(shape, batch_size, context)
    t_compute, t_memory = flops / peak_flops, moved / bandwidth
    t_pred = max(t_compute, t_memory)
    intensity, ridge = flops / moved, peak_flops / bandwidth
    regime: Regime = "compute-bound" if intensity >= ridge else "memory-bandwidth-bound"
    fits = llc_bytes is not None and moved <= llc_bytes
    utilisation = t_pred / t_measured_s
    overhead = max(0.0, 1.0 - utilisation)
    return RooflinePoint(
        batch_size=batch_size,
        context=context,
        flops=flops,
        bytes=moved,
        intensity=intensity,
        ridge=ridge,
        t_compute_s=t_compute,
        t_memory_s=t_memory,
        t_predicted_s=t_pred,
        t_measured_s=t_measured_s,
        measured_over_predicted=t_measured_s / t_pred,
        achieved_flops=flops / t_measured_s,
        achieved_bandwidth=moved / t_measured_s,
        mfu=flops / t_measured_s / peak_flops,
        mbu=moved / t_measured_s / bandwidth,
        regime=regime,
        intensity_over_ridge=intensity / ridge,
        fits_in_cache=fits,
        limiting_ceiling_utilisation=utilisation,
        overhead_share=overhead,
        summary=efficiency_summary(regime, intensity / ridge, utilisation, overhead, fits_in_cache=fits),
    )


def analyse_latency_rows(
    rows: Sequence[Mapping[str, Any]], ceilings: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """A roofline point per measured row (`latency.benchmark_models`: a model at one batch size, with its
    `DecodeShape` fields) against the same-run `ceilings`, and the metrics
    (`latency/<model>/bs<B>/tokens_per_s`, `.../mbu`, `.../intensity_over_ridge`, `.../overhead_share`,
    ..., `ceiling.gflops`, `ceiling.bandwidth_gbs`).

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
            f"{key}/intensity_over_ridge": p.intensity_over_ridge,
            f"{key}/limiting_ceiling_utilisation": p.limiting_ceiling_utilisation,
            f"{key}/overhead_share": p.overhead_share,
        }
        peak_memory = row.get("peak_memory_bytes")
        if peak_memory is not None and math.isfinite(peak_memory):
            metrics[f"{key}/peak_memory_mb"] = peak_memory / 2**20
    return points, metrics
