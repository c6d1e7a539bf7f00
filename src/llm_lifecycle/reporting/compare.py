"""Side-by-side comparison of MLflow runs: `kedro compare-runs` (see `llm_lifecycle.cli`).

Pulls runs with `mlflow.search_runs` (filtered with MLflow's search syntax, e.g.
`tags.scale = 'toy' and params.dpo.train.beta = '0.1'`), keeps the chosen metrics and parameters, and
returns one row per run plus a figure with one panel per metric. The MLflow UI does the same
interactively (select runs -> Compare); this gives a file that can go into a report or a PR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_METRICS = (
    "pretraining.val_loss_final",
    "sft.eval_loss_final",
    "dpo.eval/rewards/accuracies_last",
    "reward_model.val/accuracy",
    "mt_bench/sft/score",
    "mt_bench/dpo/score",
    "mt_bench/rlhf/score",
    "winrate/dpo_vs_sft/adjusted_win_rate",
)
DEFAULT_PARAMS = ("dpo.train.beta", "dpo.train.lora.r", "sft.train.lora.r", "rlhf.policy.train.beta")
TAGS = ("pipeline", "env", "scale", "git_commit")


def runs_table(  # noqa: PLR0917
    tracking_uri: str,
    experiment: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    params: Sequence[str] = DEFAULT_PARAMS,
    filter_string: str = "",
    max_runs: int = 10,
) -> Any:
    """One row per run (newest first): run id, name, start time, tags, the chosen params and metrics.

    Runs that logged none of the metrics are left out (e.g. a `--pipelines tokenizer` run when comparing
    MT-Bench scores). Raises ValueError naming the experiment when it does not exist."""
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        raise ValueError(f"no MLflow experiment {experiment!r} at {tracking_uri}: run `kedro run` first")
    runs = mlflow.search_runs(
        experiment_names=[experiment],
        filter_string=filter_string,
        order_by=["attributes.start_time DESC"],
        max_results=max(max_runs * 5, 50),
    )
    if runs.empty:
        return pd.DataFrame()
    columns = {
        "run_id": "run_id",
        "tags.mlflow.runName": "run_name",
        "start_time": "start_time",
        **{f"tags.{t}": t for t in TAGS},
        **{f"params.{p}": p for p in params},
        **{f"metrics.{m}": m for m in metrics},
    }
    table = runs.reindex(columns=list(columns)).rename(columns=columns)
    table = table.dropna(subset=[m for m in metrics], how="all").head(max_runs)
    table["run_id"] = table["run_id"].str[:8]
    table["git_commit"] = table["git_commit"].astype("string").str[:8]
    return table.reset_index(drop=True)


def comparison_plot(table: Any, metrics: Sequence[str]) -> Any:
    """One bar panel per metric, one bar per run (labelled by run id and the params that differ)."""
    import math

    import matplotlib.pyplot as plt

    shown = [m for m in metrics if m in table and table[m].notna().any()]
    cols = min(len(shown), 3) or 1
    rows = math.ceil(len(shown) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    varying = [
        c
        for c in table.columns
        if c not in {"run_id", "start_time", *shown} and table[c].nunique(dropna=False) > 1
    ]
    labels = [
        "\n".join([str(r["run_id"])] + [f"{c}={r[c]}" for c in varying if c not in ("run_name",)][:2])
        for _, r in table.iterrows()
    ]
    for ax, metric in zip(axes.flat, shown, strict=False):
        bars = ax.bar(range(len(table)), table[metric].astype(float), color="tab:blue", alpha=0.7)
        ax.bar_label(bars, fmt="%.4g", fontsize=7)
        ax.set_xticks(range(len(table)), labels, fontsize=6)
        ax.set_title(metric, fontsize=8)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
