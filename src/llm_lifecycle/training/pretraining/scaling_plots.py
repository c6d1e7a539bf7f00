"""The scaling-law figure: L(N), L(D) and L(C) on log-log axes, with the fitted laws.

Design
------
Three panels, one per question: does the loss fall as a power of N (Kaplan's L(N); every run, coloured by
D, with the fit through the largest-D run of each size), as a power of D (L(D); every size, with the fit
through the largest model), and how does the best loss fall with compute C = 6·N·D (every run, with the
compute-optimal frontier of the fitted L(N, D) and, for comparison, the same law at Chinchilla's D = 20N)?
The figure is drawn from the runs and fits tables only, as they are saved to CSV, so it can be redrawn
without refitting.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from llm_lifecycle.training.pretraining.scaling_analysis import fit_value, law_from_fits
from llm_lifecycle.training.pretraining.scaling_fits import (
    CHINCHILLA_TOKENS_PER_PARAM,
    FLOPS_PER_PARAM_TOKEN,
    KAPLAN_ALPHA_D,
    KAPLAN_ALPHA_N,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def scaling_plot(runs: pd.DataFrame, fits: pd.DataFrame) -> Figure:
    """Three log-log panels: L(N) with its fit, L(D) with its fit, and L(C) with the L(N, D) frontier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    runs = runs.dropna(subset=["val_loss"])
    fig, (ax_n, ax_d, ax_c) = plt.subplots(1, 3, figsize=(15, 4.6))
    budgets = sorted(runs["tokens"].unique())
    sizes = runs.groupby("name")["n_params"].first().sort_values()
    cmap = plt.get_cmap("viridis")

    def colour(i: int, n: int) -> Any:
        return cmap(0.15 + 0.7 * i / max(1, n - 1))

    for i, d in enumerate(budgets):
        sub = runs.loc[runs["tokens"] == d].sort_values("n_params")
        ax_n.plot(sub["n_params"], sub["val_loss"], "o-", color=colour(i, len(budgets)), label=f"D={d:,}")
    _power_law_line(ax_n, fits, "L(N)", runs["n_params"], f"α_N={{alpha:.3f}} (Kaplan {KAPLAN_ALPHA_N})")
    ax_n.set(xscale="log", yscale="log", xlabel="N (non-embedding parameters)", ylabel="validation loss")
    ax_n.set_title("L(N)")

    for i, (name, n) in enumerate(sizes.items()):
        sub = runs.loc[runs["name"] == name].sort_values("tokens")
        label = f"{name} (N={n:,})"
        ax_d.plot(sub["tokens"], sub["val_loss"], "s-", color=colour(i, len(sizes)), label=label)
    _power_law_line(ax_d, fits, "L(D)", runs["tokens"], f"α_D={{alpha:.3f}} (Kaplan {KAPLAN_ALPHA_D})")
    ax_d.set(xscale="log", yscale="log", xlabel="D (training tokens)", ylabel="validation loss")
    ax_d.set_title("L(D)")

    if "flops" in runs:
        for i, (name, _) in enumerate(sizes.items()):
            sub = runs.loc[runs["name"] == name].sort_values("flops")
            ax_c.plot(sub["flops"], sub["val_loss"], "s-", color=colour(i, len(sizes)), label=name)
        law = law_from_fits(fits)
        if law is not None and not law.degenerate:
            c_line = np.geomspace(runs["flops"].min() / 2, runs["flops"].max() * 4, 60)
            frontier = [float(law.predict(*law.compute_optimal(c))) for c in c_line]
            label = f"L(N,D) optimum: N ∝ C^{law.n_opt_exponent:.2f}"
            ax_c.plot(c_line, frontier, "k--", lw=1, label=label)
            n_chin = np.sqrt(c_line / (FLOPS_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))
            chin = law.predict(n_chin, CHINCHILLA_TOKENS_PER_PARAM * n_chin)
            ax_c.plot(c_line, chin, ":", color="tab:red", lw=1, label="L(N,D) at D = 20N (Chinchilla)")
        ax_c.set(xscale="log", yscale="log", xlabel="C = 6·N·D (FLOPs)", ylabel="validation loss")
        ax_c.set_title("L(C) and the compute-optimal frontier")
    else:
        ax_c.set_axis_off()

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax in (ax_n, ax_d, ax_c):
        ax.xaxis.set_minor_formatter(NullFormatter())  # log x: label decades only
        ax.yaxis.set_major_formatter(plain)  # losses span < 1 decade: label 2, 3, 4 ... plainly
        ax.yaxis.set_minor_formatter(plain)
        if "unigram_val_loss" in runs and ax.axison:
            ax.axhline(float(runs["unigram_val_loss"].iloc[0]), ls=":", color="grey", lw=1, label="unigram")
        ax.grid(alpha=0.3, which="both")
        if ax.axison:
            ax.legend(fontsize=7)
    fig.suptitle("Scaling laws of the tiny CPU models (Kaplan et al. 2020; Hoffmann et al. 2022)")
    fig.tight_layout()
    return fig


def _power_law_line(ax: Axes, fits: pd.DataFrame, fit: str, x: pd.Series, label: str) -> None:
    """The fitted power law `fit` over x's range (widened 1.5x each way), labelled with its α."""
    exponent, coefficient = fit_value(fits, fit, "exponent"), fit_value(fits, fit, "coefficient")
    if not math.isfinite(exponent):
        return
    line = np.geomspace(x.min() / 1.5, x.max() * 1.5, 50)
    ax.plot(line, coefficient * line**exponent, "k--", lw=1, label="fit: " + label.format(alpha=-exponent))
