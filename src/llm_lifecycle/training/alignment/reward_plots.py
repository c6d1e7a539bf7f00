"""The reward model's figure: the distribution of r(x, y_w) − r(x, y_l) on held-out and training pairs, and
on held-out answers set against another held-out prompt's answer (`val_off_topic`)."""

from __future__ import annotations

from typing import Any


def margin_histogram(table: Any) -> Any:
    """Histogram of margins per split (a DataFrame with `split`, `margin`); accuracy = share right of 0."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for split, color in (("train", "tab:gray"), ("val", "tab:blue"), ("val_off_topic", "tab:orange")):
        margins = table.loc[table["split"] == split, "margin"]
        if margins.empty:
            continue
        accuracy = float((margins > 0).mean())
        ax.hist(
            margins, bins=30, alpha=0.55, color=color, label=f"{split}: n={len(margins)}, acc {accuracy:.2f}"
        )
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("reward margin r(x, chosen) − r(x, rejected)")
    ax.set_ylabel("pairs")
    ax.set_title("Bradley-Terry reward model")
    ax.legend()
    fig.tight_layout()
    return fig
