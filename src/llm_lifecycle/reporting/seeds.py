"""The multi-seed table: `kedro seeds` (see `llm_lifecycle.cli`) runs or collects one default run per seed.

A result on one seed may be luck: the toy world, the data order and every sample change with
`params:seed`. For each seed this module takes the newest finished MLflow run tagged with that seed
(and the Kedro env) that logged MT-Bench's numbers, and builds one table:

* per seed: each model's mean score and each pair's adjusted win rate with the run's own 95% interval,
  wins/losses/ties;
* pooled: the mean of the seeds' scores, and for each pair the adjusted win rate over all games of all
  seeds with a 95% percentile bootstrap interval that resamples games within each seed (stratified:
  every seed keeps its number of games). A game scores 1 (win), 0.5 (tie) or 0 (loss), so the counts a
  run logs (`winrate/<pair>/wins|losses|ties`) are all the bootstrap needs.

`split="validation"` reads the validation questions' numbers (`validation/...`) instead of the test's:
the table that settings are chosen on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MODELS = ("base", "sft", "dpo", "rlhf")
PAIRS = ("sft_vs_base", "dpo_vs_sft", "rlhf_vs_sft", "rlhf_vs_dpo")


def _prefix(split: str) -> str:
    if split not in ("test", "validation"):
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
    return "" if split == "test" else "validation/"


def find_seed_runs(
    tracking_uri: str, experiment: str, seeds: Sequence[int], env: str, split: str = "test"
) -> dict[int, Mapping[str, Any]]:
    """{seed: newest finished run (as `mlflow.search_runs` row) of `env` with MT-Bench win rates}."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        return {}
    prefix = _prefix(split)
    found: dict[int, Mapping[str, Any]] = {}
    for seed in seeds:
        runs = mlflow.search_runs(
            experiment_names=[experiment],
            filter_string=f"tags.seed = '{seed}' and tags.env = '{env}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
        )
        columns = [c for p in PAIRS if (c := f"metrics.{prefix}winrate/{p}/ties") in runs]
        if runs.empty or not columns:
            continue
        runs = runs[runs[columns].notna().any(axis=1)]
        if not runs.empty:
            found[seed] = runs.iloc[0].to_dict()
    return found


def _counts(run: Mapping[str, Any], prefix: str, pair: str) -> tuple[int, int, int] | None:
    values = [run.get(f"metrics.{prefix}winrate/{pair}/{k}") for k in ("wins", "losses", "ties")]
    if any(v is None or math.isnan(v) for v in values):
        return None
    wins, losses, ties = (int(v) for v in values)
    return wins, losses, ties


def pooled_interval(
    counts: Sequence[tuple[int, int, int]], n_boot: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(adjusted win rate, 95% low, high) over all games; the bootstrap resamples games within each seed."""
    groups = [np.array([1.0] * w + [0.0] * lo + [0.5] * t) for w, lo, t in counts if w + lo + t]
    if not groups:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    total = sum(len(g) for g in groups)
    sums = np.zeros(n_boot)
    for g in groups:
        sums += g[rng.integers(0, len(g), size=(n_boot, len(g)))].sum(axis=1)
    rate = sum(g.sum() for g in groups) / total
    low, high = np.quantile(sums / total, [0.025, 0.975])
    return float(rate), float(low), float(high)


def seeds_table(runs: Mapping[int, Mapping[str, Any]], split: str = "test", n_boot: int = 2000) -> Any:
    """One row per seed and a last `pooled` row: scores, adjusted win rates, intervals, W/L/T, run id."""
    import pandas as pd

    prefix = _prefix(split)
    rows = []
    for seed, run in runs.items():
        row: dict[str, Any] = {"seed": str(seed), "run_id": str(run.get("run_id", ""))[:8]}
        for m in MODELS:
            row[f"{m}_score"] = run.get(f"metrics.{prefix}mt_bench/{m}/score")
        for pair in PAIRS:
            counts = _counts(run, prefix, pair)
            if counts is None:
                continue
            w, lo, t = counts
            row[f"{pair}"] = run.get(f"metrics.{prefix}winrate/{pair}/adjusted_win_rate")
            row[f"{pair}_low"] = run.get(f"metrics.{prefix}winrate/{pair}/ci_low")
            row[f"{pair}_high"] = run.get(f"metrics.{prefix}winrate/{pair}/ci_high")
            row[f"{pair}_wlt"] = f"{w}/{lo}/{t}"
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    pooled: dict[str, Any] = {"seed": "pooled", "run_id": ""}
    for m in MODELS:
        scores = [r[f"{m}_score"] for r in rows if r.get(f"{m}_score") is not None]
        pooled[f"{m}_score"] = float(np.mean(scores)) if scores else None
    for pair in PAIRS:
        counts = [c for run in runs.values() if (c := _counts(run, prefix, pair)) is not None]
        if not counts:
            continue
        rate, low, high = pooled_interval(counts, n_boot=n_boot)
        w, lo, t = (sum(c[i] for c in counts) for i in range(3))
        pooled |= {pair: rate, f"{pair}_low": low, f"{pair}_high": high, f"{pair}_wlt": f"{w}/{lo}/{t}"}
    return pd.DataFrame([*rows, pooled])


def markdown(table: Any) -> str:
    """The table as the README shows it: scores, then each pair as `rate [low, high]`."""
    import pandas as pd

    pairs = [p for p in PAIRS if p in table]
    head = ["seed", *(f"{m}" for m in MODELS if f"{m}_score" in table), *(p.replace("_", " ") for p in pairs)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [f"**{r['seed']}**" if r["seed"] == "pooled" else str(r["seed"])]
        cells += [f"{r[f'{m}_score']:.2f}" for m in MODELS if f"{m}_score" in table]
        for p in pairs:
            cells.append(
                f"{r[p]:.3f} [{r[f'{p}_low']:.3f}, {r[f'{p}_high']:.3f}] ({r[f'{p}_wlt']})"
                if not pd.isna(r[p])
                else "–"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_plot(table: Any) -> Any:
    """One panel per pair: each seed's adjusted win rate with its interval, and the pooled one."""
    import matplotlib.pyplot as plt

    pairs = [p for p in PAIRS if p in table]
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.2), squeeze=False, sharey=True)
    for ax, pair in zip(axes[0], pairs, strict=True):
        sub = table[table[pair].notna()]
        xs = range(len(sub))
        for x, (_, r) in zip(xs, sub.iterrows(), strict=True):
            pooled = r["seed"] == "pooled"
            ax.errorbar(
                x,
                r[pair],
                yerr=[[r[pair] - r[f"{pair}_low"]], [r[f"{pair}_high"] - r[pair]]],
                fmt="s" if pooled else "o",
                color="tab:red" if pooled else "tab:blue",
                capsize=4,
            )
        ax.axhline(0.5, color="gray", linestyle="--")
        ax.set_xticks(list(xs), list(sub["seed"]), rotation=30)
        ax.set_title(pair.replace("_", " "))
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("adjusted win rate, 95% CI")
    fig.tight_layout()
    return fig
