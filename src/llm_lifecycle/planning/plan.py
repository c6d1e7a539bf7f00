"""The plan: every stage on every named device setup, as one table (memory, fits, hours, calls, cost).

Design
------
One row per (stage, device setup): memory per device by part and in all, whether it fits in the device's
memory less a headroom, the first setting that would make it fit when it does not, training and
generation hours, GPU-hours and their cost at the price set in parameters, and the stage's API calls
(teacher, judge) with their tokens, their cost and how many of them the response cache may already
answer. Nothing here knows a price or a device peak: they arrive as arguments (parameters and
`planning.devices`).

Efficiency: datasheet devices run at a stated MFU (training, prefill) and MBU (decode), parameters.
`this_machine` runs at what the last run measured: pretraining's achieved FLOP/s over this machine's
ceiling (MFU) and the latency stage's share of the roofline reached at each batch size (decode).

API calls (MT-Bench, Zheng et al. 2023): single-answer grading asks the judge once per model × question
× turn × judge run; pairwise comparison once per pair × question × turn × 2 (both answer orders) × judge
run; the teacher once per preference prompt. Tokens per call are the plan's estimates or, once a real
run has filled the cache, the mean `usage` of the cached replies of that model.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from llm_lifecycle.planning.devices import Device
from llm_lifecycle.planning.memory import fits
from llm_lifecycle.planning.stages import Stage

logger = logging.getLogger(__name__)
HOUR = 3600.0


@dataclass(frozen=True)
class Efficiency:
    """Share of the peak a device reaches: `mfu` for training and prefill, `mbu` by batch size for decode
    (the nearest measured batch size is used); `trl_mfu`, when measured, for the stages TRL trains."""

    mfu: float
    mbu: Mapping[int, float]
    source: str
    trl_mfu: float | None = None

    def mfu_for(self, stage: Stage) -> float:
        return self.trl_mfu if stage.loop == "trl" and self.trl_mfu is not None else self.mfu

    def mbu_at(self, batch: int) -> float:
        nearest = min(self.mbu, key=lambda b: abs(math.log(b) - math.log(max(batch, 1))))
        return self.mbu[nearest]


@dataclass(frozen=True)
class Setup:
    """`count` devices of one kind, and how efficiently they run."""

    device: Device
    count: int
    efficiency: Efficiency
    gpu_hour_price: float | None  # None: not priced (this machine)

    @property
    def label(self) -> str:
        return f"{self.count} x {self.device.name}"


@dataclass(frozen=True)
class ApiCalls:
    """Calls one stage makes to one hosted model, and tokens per call."""

    stage: str
    model: str
    calls: int
    input_tokens: float
    output_tokens: float


@dataclass(frozen=True)
class ApiPrice:
    input_per_mtok: float
    output_per_mtok: float


@dataclass
class CacheCensus:
    """Replies in a response cache, per model, with their mean tokens (`usage`) where recorded."""

    replies: dict[str, int] = field(default_factory=dict)
    input_tokens: dict[str, float] = field(default_factory=dict)
    output_tokens: dict[str, float] = field(default_factory=dict)


def cache_census(cache_dir: str | Path | None) -> CacheCensus:
    """Count the cached replies of each model under `cache_dir` (`llm_clients.response_cache` layout)."""
    census = CacheCensus()
    if cache_dir is None or not Path(cache_dir).is_dir():
        return census
    sums: dict[str, list[float]] = {}
    for path in Path(cache_dir).glob("*/*.json"):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        model = str(entry.get("request", {}).get("model", "?"))
        census.replies[model] = census.replies.get(model, 0) + 1
        usage = entry.get("usage") or {}
        if "prompt_tokens" in usage and "completion_tokens" in usage:
            s = sums.setdefault(model, [0.0, 0.0, 0.0])
            s[0] += usage["prompt_tokens"]
            s[1] += usage["completion_tokens"]
            s[2] += 1
    for model, (tin, tout, n) in sums.items():
        census.input_tokens[model], census.output_tokens[model] = tin / n, tout / n
    return census


def api_rows(
    calls: Sequence[ApiCalls], prices: Mapping[str, ApiPrice], census: CacheCensus
) -> dict[str, dict[str, float]]:
    """Per stage: calls, cached calls (at most the cache's replies of that model, shared in stage order),
    input and output tokens, and cost in USD of the calls the cache does not answer."""
    left = dict(census.replies)
    out: dict[str, dict[str, float]] = {}
    for c in calls:
        if c.model not in prices:
            raise ValueError(
                f"plan: no price for model {c.model!r} (stage {c.stage}): add plan.prices.api.{c.model}"
            )
        price = prices[c.model]
        tin = census.input_tokens.get(c.model, c.input_tokens)
        tout = census.output_tokens.get(c.model, c.output_tokens)
        cached = min(c.calls, left.get(c.model, 0))
        left[c.model] = left.get(c.model, 0) - cached
        cost = (c.calls - cached) * (tin * price.input_per_mtok + tout * price.output_per_mtok) / 1e6
        row = out.setdefault(
            c.stage,
            {
                "api_calls": 0,
                "api_cached": 0,
                "api_input_tokens": 0.0,
                "api_output_tokens": 0.0,
                "api_usd": 0.0,
            },
        )
        row["api_calls"] += c.calls
        row["api_cached"] += cached
        row["api_input_tokens"] += c.calls * tin
        row["api_output_tokens"] += c.calls * tout
        row["api_usd"] += cost
    return out


def plan_table(
    stages: Sequence[Stage],
    setups: Sequence[Setup],
    api: Mapping[str, Mapping[str, float]],
    headroom: float,
) -> pd.DataFrame:
    """One row per stage × setup (columns: see the module docstring; bytes in GB, time in hours)."""
    rows = []
    for setup in setups:
        device, n, eff = setup.device, setup.count, setup.efficiency
        for stage in stages:
            mem = stage.memory(device, n)
            # activations with and without gradient checkpointing, whichever the stage is set to
            ckpt = {flag: math.nan for flag in (True, False)}
            if stage.training is not None:
                ckpt = {flag: stage.memory(device, n, checkpointing=flag).activations / 1e9 for flag in ckpt}
            batch = max((j.batch for j in stage.generation), default=1)
            train_s, gen_s = stage.seconds(device, n, mfu=eff.mfu_for(stage), mbu=eff.mbu_at(batch))
            hours = (train_s + gen_s) / HOUR
            calls = api.get(stage.name, {})
            rows.append(
                {
                    "stage": stage.name,
                    "setup": setup.label,
                    "device": device.name,
                    "devices": n,
                    "devices_used": stage.devices_used(n),
                    "weights_gb": mem.weights / 1e9,
                    "trainable_state_gb": mem.trainable_state / 1e9,
                    "activations_gb": mem.activations / 1e9,
                    "activations_checkpointing_gb": ckpt[True],
                    "activations_no_checkpointing_gb": ckpt[False],
                    "kv_cache_gb": mem.kv_cache / 1e9,
                    "memory_gb": mem.total / 1e9,
                    "device_memory_gb": device.memory_bytes / 1e9,
                    "fits": fits(mem, device.memory_bytes, headroom),
                    "to_fit": stage.fix(device, n, headroom),
                    "train_flops": stage.train_flops(),
                    "train_hours": train_s / HOUR,
                    "generation_hours": gen_s / HOUR,
                    "hours": hours,
                    # the whole setup is rented while the stage runs, its idle devices too
                    "gpu_hours": hours * n,
                    "gpu_usd": hours * n * setup.gpu_hour_price
                    if setup.gpu_hour_price is not None
                    else math.nan,
                    "api_calls": calls.get("api_calls", 0),
                    "api_cached": calls.get("api_cached", 0),
                    "api_input_tokens": calls.get("api_input_tokens", 0.0),
                    "api_output_tokens": calls.get("api_output_tokens", 0.0),
                    "api_usd": calls.get("api_usd", 0.0),
                    "mfu": eff.mfu_for(stage),
                    "mbu": eff.mbu_at(batch),
                    "efficiency_source": eff.source,
                    "assumes": stage.note,
                }
            )
    table = pd.DataFrame(rows)
    for _, row in table[~table["fits"]].iterrows():
        logger.warning(
            "plan: %s does not fit on %s (%.1f GB per device of %.0f GB); would fit with: %s",
            row["stage"],
            row["setup"],
            row["memory_gb"],
            row["device_memory_gb"],
            row["to_fit"],
        )
    return table


def plan_metrics(table: pd.DataFrame) -> dict[str, float]:
    """`<setup>/<stage>/{memory_gb, fits, hours, gpu_usd, api_calls, api_usd}` and totals per setup."""
    metrics: dict[str, float] = {}
    for _, row in table.iterrows():
        key = f"{row['devices']}x{row['device']}/{row['stage']}"
        for col in ("memory_gb", "hours", "api_calls", "api_usd"):
            metrics[f"{key}/{col}"] = float(row[col])
        metrics[f"{key}/fits"] = float(bool(row["fits"]))
        if "predicted_over_measured" in row and not math.isnan(row["predicted_over_measured"]):
            metrics[f"predicted_over_measured/{row['stage']}"] = float(row["predicted_over_measured"])
        if not math.isnan(row["gpu_usd"]):
            metrics[f"{key}/gpu_usd"] = float(row["gpu_usd"])
    for (device, n), group in table.groupby(["device", "devices"]):
        metrics[f"{n}x{device}/total_hours"] = float(group["hours"].sum())
        metrics[f"{n}x{device}/total_api_usd"] = float(group["api_usd"].sum())
    return metrics


def measured_efficiency(
    measured: Mapping[str, float], device: Device, stages: Sequence[Stage]
) -> Efficiency | None:
    """This machine's efficiency from the last run, one number per training loop: the pretraining loop's
    achieved FLOP/s (tokens/s × FLOPs per token) over the device's peak; TRL's pooled over the TRL stages
    that only train (SFT, DPO, the reward model: the plan's FLOPs of each over its measured wall time, all
    three together, so no one stage's loss head sets it; RLOO, which also generates, is then a
    prediction); and the latency stage's share of the roofline per batch size (1 − overhead share of
    `latency/dpo/bs<B>`). None when the run did not measure them."""
    if "pretraining.tokens_per_s" not in measured or "pretraining.flops_per_token" not in measured:
        return None
    achieved = measured["pretraining.tokens_per_s"] * measured["pretraining.flops_per_token"]
    trained = [
        s
        for s in stages
        if s.loop == "trl"
        and s.training is not None
        and not s.generation
        and MEASURED_SECONDS.get(s.name) in measured
    ]
    trl_mfu = None
    if trained:
        seconds = sum(measured[MEASURED_SECONDS[s.name]] for s in trained)
        trl_mfu = sum(s.train_flops() for s in trained) / seconds / device.flops
    mbu = {}
    for key, value in measured.items():
        if key.startswith("latency/dpo/bs") and key.endswith("/overhead_share"):
            mbu[int(key.split("/")[2].removeprefix("bs"))] = max(1.0 - value, 1e-3)
    if not mbu:
        return None
    return Efficiency(
        achieved / device.flops,
        mbu,
        "measured by the last run (pretraining and TRL MFU, latency roofline)",
        trl_mfu,
    )


# The training stages' measured wall time in a run's metrics (seconds).
MEASURED_SECONDS = {
    "pretraining": "pretraining.train_time_s",
    "sft": "sft.wall_s",
    "dpo": "dpo.wall_s",
    "reward_model": "reward_model.wall_s",
    "rlhf": "rlhf.wall_s",
}


def versus_measured(table: pd.DataFrame, measured: Mapping[str, float], device: str) -> pd.DataFrame:
    """`table` with `measured_hours` and `predicted_over_measured` for the training stages on `device`
    that the last run timed (NaN elsewhere)."""
    table = table.copy()
    table["measured_hours"] = math.nan
    for stage, key in MEASURED_SECONDS.items():
        if key in measured:
            rows = (table["stage"] == stage) & (table["device"] == device) & (table["devices"] == 1)
            table.loc[rows, "measured_hours"] = measured[key] / HOUR
    table["predicted_over_measured"] = table["hours"] / table["measured_hours"]
    return table
