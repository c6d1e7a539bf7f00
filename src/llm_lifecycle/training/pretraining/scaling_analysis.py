"""The laws of `scaling_fits` fitted to a sweep's runs, as a long table and flat metrics.

Design
------
Which runs each law sees follows the papers' definitions:

* L(N) through the largest-D run of each size: Kaplan's L(N) is the loss of a model trained on "enough"
  data, and the largest budget is the closest the sweep has.
* L(D) through the runs of the largest model: Kaplan's L(D) is the loss at "enough" size.
* L(N, D) through all runs (Hoffmann et al. 2022, approach 3), then the compute-optimal (N, D) of each
  requested budget C, next to Chinchilla's rule D = 20N and the loss the fit predicts there. An isoFLOP
  analysis (Chinchilla's approach 2) needs several sizes per FLOP level; a 3 × 3 grid is too small for it.

Every number goes into the table next to the published value it compares with (`reference`, NaN where
none), with a note saying what it is; the metrics are the finite numbers under stable names for MLflow.
The table is what the plot reads back (`fit_value`), so it must survive a CSV round trip.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from llm_lifecycle.training.pretraining.scaling_fits import (
    CHINCHILLA_APPROACH3,
    CHINCHILLA_N_OPT_EXPONENT,
    CHINCHILLA_TOKENS_PER_PARAM,
    FLOPS_PER_PARAM_TOKEN,
    KAPLAN_ALPHA_D,
    KAPLAN_ALPHA_N,
    KAPLAN_D_C,
    KAPLAN_N_C,
    KAPLAN_N_OPT_EXPONENT,
    ChinchillaFit,
    PowerLawFit,
    fit_chinchilla_law,
    fit_power_law,
)

logger = logging.getLogger(__name__)

FITS_COLUMNS = ["fit", "quantity", "value", "reference", "note"]
LAW_PARAMETERS = ("E", "A", "alpha", "B", "beta")
# Kaplan's α and critical scale of L(N) and L(D), and what the variable is.
_KAPLAN = {
    "N": (KAPLAN_ALPHA_N, KAPLAN_N_C, "N (non-embedding)"),
    "D": (KAPLAN_ALPHA_D, KAPLAN_D_C, "D (training tokens)"),
}


def budget_label(flops: float) -> str:
    """A compute budget as a metric-name-safe label: 1e11 -> "1e11", 3.2e10 -> "3.2e10"."""
    return f"{flops:.3g}".replace("+", "")


def fit_value(fits: pd.DataFrame, fit: str, quantity: str) -> float:
    """The value of (fit, quantity) in a fits table; NaN when absent."""
    hit = fits.loc[(fits["fit"] == fit) & (fits["quantity"] == quantity), "value"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def law_from_fits(fits: pd.DataFrame) -> ChinchillaFit | None:
    """The L(N, D) law recorded in a fits table, or None when it was not fitted."""
    law = {q: fit_value(fits, "L(N,D)", q) for q in LAW_PARAMETERS}
    if not all(math.isfinite(v) for v in law.values()):
        return None
    return ChinchillaFit(**law, rmse=fit_value(fits, "L(N,D)", "rmse"), n_points=0)


@dataclass
class _Table:
    """Rows of the fits table and the metrics, collected as the fits are made."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def add(self, fit: str, quantity: str, value: float, reference: float = math.nan, note: str = "") -> None:
        self.rows.append(dict(zip(FITS_COLUMNS, (fit, quantity, value, reference, note), strict=True)))


def fit_scaling_laws(
    runs: pd.DataFrame, compute_budgets: Sequence[float]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """L(N), L(D), L(N, D) and the compute-optimal N of each budget, as a long table and flat metrics.

    `runs` needs columns name, n_params, tokens, val_loss (as `scaling.run_sweep` writes them; flops and
    wall_s are used when present). The table has columns fit, quantity, value, reference, note.
    """
    missing = {"name", "n_params", "tokens", "val_loss"} - set(runs.columns)
    if missing:
        raise ValueError(f"runs table lacks columns {sorted(missing)}")
    runs = runs.dropna(subset=["val_loss"])
    table = _Table()

    at_max_d = runs.loc[runs.groupby("name")["tokens"].idxmax()].sort_values("n_params")
    fit_n = fit_power_law(at_max_d["n_params"], at_max_d["val_loss"])
    largest = runs.loc[runs["n_params"] == runs["n_params"].max()].sort_values("tokens")
    fit_d = fit_power_law(largest["tokens"], largest["val_loss"])
    sizes = ", ".join(f"{r.name} (D={int(r.tokens):,})" for r in at_max_d.itertuples())
    _add_power_law(table, "N", fit_n, f"largest-D run of each size: {sizes}")
    largest_name, largest_n = largest["name"].iloc[0], int(largest["n_params"].iloc[0])
    _add_power_law(table, "D", fit_d, f"runs of the largest model {largest_name} (N={largest_n:,})")
    table.metrics |= {
        "chinchilla_tokens_per_param": CHINCHILLA_TOKENS_PER_PARAM,
        "chinchilla_n_opt_exponent": CHINCHILLA_N_OPT_EXPONENT,
        "kaplan_n_opt_exponent": KAPLAN_N_OPT_EXPONENT,
        "runs": float(len(runs)),
    }
    if "wall_s" in runs:
        table.metrics["sweep_wall_s"] = float(runs["wall_s"].sum())

    try:
        law = fit_chinchilla_law(runs["n_params"], runs["tokens"], runs["val_loss"])
    except ValueError as err:
        table.add("L(N,D)", "skipped", math.nan, note=str(err))
        logger.warning("no L(N, D) fit: %s", err)
    else:
        _add_law(table, law)
        for c in compute_budgets:
            _add_optimum(table, law, c, runs)

    logger.info(
        "scaling fits: alpha_N=%.3f (Kaplan %.3f), alpha_D=%.3f (Kaplan %.3f)",
        fit_n.alpha,
        KAPLAN_ALPHA_N,
        fit_d.alpha,
        KAPLAN_ALPHA_D,
    )
    metrics = {k: float(v) for k, v in table.metrics.items() if math.isfinite(float(v))}
    return pd.DataFrame(table.rows, columns=FITS_COLUMNS), metrics


def _add_power_law(table: _Table, x: str, law: PowerLawFit, points: str) -> None:
    """Rows and metrics of L(N) (x = "N") or L(D) (x = "D"), next to Kaplan's values."""
    alpha_ref, scale_ref, x_name = _KAPLAN[x]
    fit = f"L({x})"
    table.add(fit, "exponent", law.exponent, -alpha_ref, f"slope of log L vs log {x_name}")
    table.add(fit, "coefficient", law.coefficient, note=f"L = coefficient · {x}^exponent")
    table.add(fit, f"{x}_c", law.critical_scale, scale_ref, f"L = ({x}_c / {x})^alpha_{x}")
    table.add(fit, "r2", law.r2, note="in log-log space")
    table.add(fit, "points", law.n_points, note=points)
    table.metrics |= {
        f"alpha_{x}": law.alpha,
        f"alpha_{x}_r2": law.r2,
        f"{x}_c": law.critical_scale,
        f"kaplan_alpha_{x}": alpha_ref,
    }


def _add_law(table: _Table, law: ChinchillaFit) -> None:
    """Rows and metrics of the fitted L(N, D), next to Chinchilla's approach-3 values."""
    note = "L = E + A/N^alpha + B/D^beta, Huber loss on log L; reference: Hoffmann et al. approach 3"
    for quantity in LAW_PARAMETERS:
        table.add("L(N,D)", quantity, getattr(law, quantity), CHINCHILLA_APPROACH3[quantity], note)
        table.metrics[f"fit_{quantity}"] = getattr(law, quantity)
    table.add("L(N,D)", "rmse", law.rmse, note=f"of L over {law.n_points} runs (nats/token)")
    table.add("L(N,D)", "huber_loss", law.huber_loss, note="the minimised sum of Huber losses (delta 1e-3)")
    if not law.converged:
        table.add("L(N,D)", "not_converged", 1.0, note="L-BFGS-B did not report convergence: unreliable")
        logger.warning("L(N, D) fit: L-BFGS-B did not converge from the best start")
    note = "N_opt ∝ C^(beta/(alpha+beta)); Kaplan 2020: 0.73"
    table.add("L(N,D)", "n_opt_exponent", law.n_opt_exponent, CHINCHILLA_N_OPT_EXPONENT, note)
    table.metrics |= {"fit_rmse": law.rmse, "n_opt_exponent": law.n_opt_exponent}


def _add_optimum(table: _Table, law: ChinchillaFit, c: float, runs: pd.DataFrame) -> None:
    """Rows and metrics of the compute-optimal (N, D) at budget `c`, next to Chinchilla's D = 20N."""
    fit, key = f"optimal@C={budget_label(c)}", f"optimal.C{budget_label(c)}"
    if law.degenerate:
        table.add(fit, "n_params", math.nan, note="degenerate fit (an exponent is <= 0): no optimum")
        return
    inside = "flops" in runs and float(runs["flops"].min()) <= c <= float(runs["flops"].max())
    where = "inside" if inside else "OUTSIDE (extrapolated)"
    n_opt, d_opt = law.compute_optimal(c)
    n_chin = math.sqrt(c / (FLOPS_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))
    d_chin = CHINCHILLA_TOKENS_PER_PARAM * n_chin
    loss_opt, loss_chin = float(law.predict(n_opt, d_opt)), float(law.predict(n_chin, d_chin))
    table.add(fit, "n_params", n_opt, n_chin, f"N_opt of the fit; reference: D = 20N; C {where} runs")
    table.add(fit, "tokens", d_opt, d_chin, "D_opt = C / (6 N_opt)")
    table.add(fit, "tokens_per_param", d_opt / n_opt, CHINCHILLA_TOKENS_PER_PARAM, "D_opt / N_opt")
    table.add(fit, "loss", loss_opt, loss_chin, "fitted loss at the optimum; reference: at D = 20N")
    table.metrics |= {
        f"{key}.n_params": n_opt,
        f"{key}.tokens": d_opt,
        f"{key}.tokens_per_param": d_opt / n_opt,
        f"{key}.loss": loss_opt,
        f"{key}.loss_at_20_tokens_per_param": loss_chin,
    }
    if "flops" in runs and (runs["flops"] <= c).any():
        within = runs.loc[runs["flops"] <= c]
        best = within.loc[within["val_loss"].idxmin()]
        note = f"lowest measured loss with 6ND <= C: {best['name']}, D={int(best['tokens']):,}"
        table.add(fit, "best_run_loss", float(best["val_loss"]), note=note)
