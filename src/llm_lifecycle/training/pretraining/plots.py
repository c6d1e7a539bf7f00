"""The pretraining figure, from the per-step log table (`pretraining_log`); the report card reuses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def loss_plot(pretraining_log: pd.DataFrame) -> Any:
    """Train/validation loss per step against the unigram baseline; tokens/s and MFU underneath."""
    import matplotlib.pyplot as plt

    unigram = (
        float(pretraining_log["unigram_val_loss"].iloc[0]) if "unigram_val_loss" in pretraining_log else None
    )
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True, height_ratios=[3, 1])
    log = pretraining_log
    ax.plot(log["step"], log["train_loss"], lw=1, alpha=0.7, label="train loss")
    if "val_loss" in log:
        val = log.dropna(subset=["val_loss"])
        ax.plot(val["step"], val["val_loss"], "o-", label="validation loss")
    if unigram is not None:
        ax.axhline(unigram, ls="--", color="grey", label=f"unigram baseline ({unigram:.2f})")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title("Pretraining")
    ax.legend()
    ax.grid(alpha=0.3)
    if "tokens_per_s" in log:
        tps = log.dropna(subset=["tokens_per_s"])
        ax2.plot(tps["step"], tps["tokens_per_s"] / 1e3, color="tab:green")
        ax2.set_ylabel("k tokens/s")
    if "mfu" in log:
        mfu = log.dropna(subset=["mfu"])
        ax3 = ax2.twinx()
        ax3.plot(mfu["step"], mfu["mfu"], color="tab:purple", ls=":")
        ax3.set_ylabel("MFU")
    ax2.set_xlabel("optimizer step")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
