"""The two MT-Bench figures: mean score per category (one bar per model) and win rates with their 95% CI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def category_plot(table: Sequence[Mapping[str, Any]]) -> Any:
    """Grouped bars: categories on x, mean score (both turns) per model; the overall mean in the legend."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in table))
    categories = list(dict.fromkeys(r["category"] for r in table))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        means = []
        for c in categories:
            rows = [
                r for r in table if r["model"] == model and r["category"] == c and r["mean_score"] is not None
            ]
            n = sum(r["n"] for r in rows)
            means.append(sum(r["mean_score"] * r["n"] for r in rows) / n if n else 0.0)
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(categories))]
        ax.bar(xs, means, width=width, label=model)
    ax.set_xticks(range(len(categories)), categories, rotation=20)
    ax.set_ylim(0, 10.5)
    ax.set_ylabel("mean judge score (1–10)")
    ax.set_title("MT-Bench score by category")
    ax.legend()
    fig.tight_layout()
    return fig


def winrate_plot(summaries: Mapping[str, Mapping[str, float]]) -> Any:
    """One horizontal bar per pair: adjusted win rate with its bootstrap 95% CI; 0.5 = no difference."""
    import matplotlib.pyplot as plt

    names = list(summaries)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.6 * len(names)))
    for i, name in enumerate(names):
        s = summaries[name]
        rate, low, high = s["adjusted_win_rate"], s["ci_low"], s["ci_high"]
        ax.barh(i, rate, color="tab:blue", alpha=0.6)
        ax.errorbar(rate, i, xerr=[[rate - low], [high - rate]], fmt="o", color="black", capsize=4)
        ax.text(
            min(high + 0.02, 0.9),
            i,
            f"{rate:.2f} [{low:.2f}, {high:.2f}]  W{s['wins']:.0f}/L{s['losses']:.0f}/T{s['ties']:.0f}",
            va="center",
            fontsize=8,
        )
    ax.axvline(0.5, color="gray", linestyle="--")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 1)
    ax.set_xlabel("adjusted win rate (win + 0.5·tie) / total, 95% bootstrap CI")
    fig.tight_layout()
    return fig
