"""Scaling laws as functions of arrays: Kaplan's power laws, Chinchilla's L(N, D) and its compute optimum.

Design
------
Two papers, two kinds of fit. N is the number of NON-EMBEDDING parameters, D the number of training
tokens, C ≈ 6·N·D the training FLOPs (forward 2N, backward 4N per token; attention and the embedding
left out), L the loss in nats/token.

* Kaplan et al. 2020, "Scaling Laws for Neural Language Models": a model that is not limited by the
  other factor follows a power law, L(N) = (N_c / N)^α_N with α_N ≈ 0.076, N_c ≈ 8.8e13, and
  L(D) = (D_c / D)^α_D with α_D ≈ 0.095, D_c ≈ 5.4e13 (GPT-2 BPE on WebText2). A power law is a straight
  line in log-log space, so `fit_power_law` is ordinary least squares of log y on log x
  (`scipy.stats.linregress`), and its R² is measured there too.
* Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (Chinchilla), approach 3: the
  parametric law L(N, D) = E + A/N^α + B/D^β (their fit: E ≈ 1.69, A ≈ 406.4, B ≈ 410.7, α ≈ 0.34,
  β ≈ 0.28). `fit_chinchilla_law` fits it their way: with A = exp(a), B = exp(b), E = exp(e), the
  predicted log-loss is LSE(a − α·log N, b − β·log D, e) (LSE = log-sum-exp, which keeps every term
  positive and works in log space, where losses of very different runs weigh alike), and L-BFGS-B
  minimises the sum of Huber losses (δ = 1e-3) between predicted and observed log L. Huber with so small
  a δ is nearly an absolute-value loss: one bad run moves the fit little. L-BFGS-B finds a local minimum
  only, so it is started from a grid of initialisations and the lowest minimum is kept.

  Hoffmann et al. start from every point of α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1},
  a, b ∈ {0, 5, …, 25}: 4,500 L-BFGS-B runs, 20–90 s per fit on the 2-core machine this project is
  developed on (measured, depending on its load), as long as the sweep itself or longer, and the tests
  fit several laws. We keep their grid as the candidate set but start L-BFGS-B from 25 of its points:
  for each (α, β) pair, the (a, b, e) with the lowest objective among its 180, found by evaluating the
  objective at all 4,500 points in one vectorised pass (milliseconds). The reasoning: α and β set the
  shapes of the two curves, a, b and e only their scales, so every shape on the grid keeps a start, with
  the scales that fit it best. Measured: on synthetic laws (two truths, 3 × 3 and 6 × 6 grids of N and D,
  0.2 % and 1 % noise) the 25 starts reached the same minimum as the 4,500, in ~0.1–0.5 s.

  Two choices change nothing about the minimum, only how fast and how exactly L-BFGS-B reaches it:
  log N and log D are centred on their means inside the optimiser (a − α·log N with log N ≈ 11 ± 1
  makes a and α nearly collinear; a_c = a − α·mean(log N) removes that), and the objective is divided by
  δ (L-BFGS-B's stopping tests compare changes with max(|f|, 1), and Σ Huber_δ ≈ δ·Σ|r| is 1e-4 or less).

  Substituting D = C / (6N) and setting dL/dN = 0 gives the compute-optimal allocation in closed form:
  N_opt(C) = G·(C/6)^(β/(α+β)), G = (αA / (βB))^(1/(α+β)), D_opt = C / (6·N_opt). Chinchilla's
  approaches 1 and 2 find N_opt ∝ C^0.5, i.e. D ≈ 20 tokens per parameter; Kaplan's allocation grows the
  model faster, N_opt ∝ C^0.73. Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt")
  found approach 3's printed values inconsistent with the paper's own ~20 tokens/parameter, so callers
  compare an optimum with the rule, not with approach 3's numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber
from scipy.stats import linregress

# Published values the fits are compared with.
KAPLAN_ALPHA_N = 0.076  # L(N) = (N_c / N)^α_N, N non-embedding parameters
KAPLAN_N_C = 8.8e13
KAPLAN_ALPHA_D = 0.095  # L(D) = (D_c / D)^α_D
KAPLAN_D_C = 5.4e13
KAPLAN_N_OPT_EXPONENT = 0.73  # N_opt ∝ C^0.73
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # D_opt ≈ 20 N_opt
CHINCHILLA_N_OPT_EXPONENT = 0.5  # N_opt ∝ C^0.5 (approaches 1 and 2: 0.50, 0.49)
CHINCHILLA_APPROACH3 = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}
FLOPS_PER_PARAM_TOKEN = 6.0  # C ≈ 6·N·D

# Hoffmann et al.'s fit of L(N, D): Huber's δ and the grid of initial (α, β, a, b, e).
HUBER_DELTA = 1e-3
INIT_ALPHA = INIT_BETA = (0.0, 0.5, 1.0, 1.5, 2.0)
INIT_A = INIT_B = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
INIT_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
MIN_POINTS_PARAMETRIC = 6  # 5 parameters: fewer points would make the fit an interpolation or worse
# Tighter than scipy's defaults (ftol 2.2e-9, gtol 1e-5): on noise-free losses from the sweep's 3 × 3 grid
# the defaults stop with E 3e-5 off in relative terms (E + B/D^β is nearly flat along a valley when D spans
# only 4x); these reach 1e-8 for ~25 % more iterations.
_LBFGSB_OPTIONS = {"ftol": 1e-12, "gtol": 1e-8, "maxiter": 2000}


# --------------------------------------------------------------------------- power laws


@dataclass(frozen=True)
class PowerLawFit:
    """y = coefficient · x^exponent, fitted by least squares in log-log space (R² there too)."""

    coefficient: float
    exponent: float
    r2: float
    n_points: int

    def predict(self, x: Any) -> np.ndarray:
        return self.coefficient * np.asarray(x, dtype=float) ** self.exponent

    @property
    def alpha(self) -> float:
        """−exponent: Kaplan's α for a loss that falls as the scale grows."""
        return -self.exponent

    @property
    def critical_scale(self) -> float:
        """X_c of Kaplan's form y = (X_c / x)^α, i.e. coefficient^(1/α); NaN unless α > 0, inf on overflow."""
        if not self.alpha > 0:
            return float("nan")
        log_xc = math.log(self.coefficient) / self.alpha
        return math.exp(log_xc) if log_xc < 700 else float("inf")


def fit_power_law(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> PowerLawFit:
    """log y = log a + b·log x by least squares. Needs ≥ 2 points with distinct positive x.

    R² is NaN when y does not vary (there is no variance to explain).
    """
    x_arr, y_arr = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y differ in length: {x_arr.size} vs {y_arr.size}")
    if not (np.all(np.isfinite(x_arr)) and np.all(np.isfinite(y_arr))):
        raise ValueError("x and y must be finite")
    if np.any(x_arr <= 0) or np.any(y_arr <= 0):
        raise ValueError("a power law is fitted in log space: x and y must be positive")
    if np.unique(x_arr).size < 2:
        raise ValueError(f"need at least two distinct x values, got {np.unique(x_arr).tolist()}")
    line = linregress(np.log(x_arr), np.log(y_arr))
    return PowerLawFit(
        coefficient=float(math.exp(line.intercept)),
        exponent=float(line.slope),
        r2=float(line.rvalue**2),
        n_points=int(x_arr.size),
    )


# --------------------------------------------------------------------------- the Chinchilla law


@dataclass(frozen=True)
class ChinchillaFit:
    """L(N, D) = E + A·N^−α + B·D^−β (see the module docstring for how it is fitted).

    rmse: of L itself (nats/token) over the fitted runs; huber_loss: the minimised Σ Huber_δ on log L;
    converged: L-BFGS-B reported convergence for the best start.
    """

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    rmse: float
    n_points: int
    huber_loss: float = float("nan")
    converged: bool = True

    def predict(self, n: Any, d: Any) -> np.ndarray:
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.E + self.A * n**-self.alpha + self.B * d**-self.beta

    @property
    def degenerate(self) -> bool:
        """A or B is 0 (or an exponent is ≤ 0): the loss does not trade N against D, no optimum exists."""
        return not (self.A > 0 and self.B > 0 and self.alpha > 0 and self.beta > 0)

    @property
    def n_opt_exponent(self) -> float:
        """a in N_opt ∝ C^a: β / (α + β) (Chinchilla ≈ 0.5, Kaplan ≈ 0.73)."""
        return self.beta / (self.alpha + self.beta)

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) minimising L(N, D) subject to 6·N·D = flops; NaNs when `degenerate`."""
        if self.degenerate:
            return float("nan"), float("nan")
        s = self.alpha + self.beta
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / s)
        n_opt = g * (flops / FLOPS_PER_PARAM_TOKEN) ** (self.beta / s)
        return float(n_opt), float(flops / (FLOPS_PER_PARAM_TOKEN * n_opt))


def fit_chinchilla_law(
    n: Sequence[float] | np.ndarray, d: Sequence[float] | np.ndarray, loss: Sequence[float] | np.ndarray
) -> ChinchillaFit:
    """Fit L(N, D) = E + A·N^−α + B·D^−β as Hoffmann et al. 2022 (approach 3) do; see the module docstring."""
    n_arr, d_arr, y = (np.asarray(v, dtype=float).ravel() for v in (n, d, loss))
    if not (n_arr.size == d_arr.size == y.size):
        raise ValueError("n, d and loss must have the same length")
    if n_arr.size < MIN_POINTS_PARAMETRIC:
        raise ValueError(f"need at least {MIN_POINTS_PARAMETRIC} runs for 5 parameters, got {n_arr.size}")
    if np.unique(n_arr).size < 2 or np.unique(d_arr).size < 2:
        raise ValueError("need at least two distinct model sizes and two distinct token counts")
    if np.any(n_arr <= 0) or np.any(d_arr <= 0) or np.any(y <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("N, D and the losses must be positive and finite")
    log_n, log_d, log_loss = np.log(n_arr), np.log(d_arr), np.log(y)
    mean_n, mean_d = float(log_n.mean()), float(log_d.mean())
    xn, xd = log_n - mean_n, log_d - mean_d

    best = None
    for a, b, e, alpha, beta in _initial_points(log_n, log_d, log_loss):
        start = np.array([a - alpha * mean_n, b - beta * mean_d, e, alpha, beta])  # centred coordinates
        result = minimize(
            _objective, start, args=(xn, xd, log_loss), jac=True, method="L-BFGS-B", options=_LBFGSB_OPTIONS
        )
        if best is None or result.fun < best.fun:
            best = result
    a_c, b_c, e, alpha, beta = (float(v) for v in best.x)
    fit = ChinchillaFit(
        E=math.exp(e),
        A=math.exp(a_c + alpha * mean_n),
        alpha=alpha,
        B=math.exp(b_c + beta * mean_d),
        beta=beta,
        rmse=float("nan"),  # filled in below, from the fitted law
        n_points=int(y.size),
        huber_loss=float(best.fun) * HUBER_DELTA,
        converged=bool(best.success),
    )
    return replace(fit, rmse=float(np.sqrt(np.mean((fit.predict(n_arr, d_arr) - y) ** 2))))


def _objective(
    theta: np.ndarray, xn: np.ndarray, xd: np.ndarray, log_loss: np.ndarray
) -> tuple[float, np.ndarray]:
    """Σ Huber_δ(LSE(a_c − α·xn, b_c − β·xd, e) − log L) / δ and its gradient in θ = (a_c, b_c, e, α, β).

    xn, xd: log N and log D minus their means. d LSE / d term is that term's softmax weight, and
    d Huber_δ(r) / dr = clip(r, −δ, δ). The log-sum-exp of three terms is written out (shifted by the
    largest term): `scipy.special.logsumexp` costs ~50 µs a call on nine points, several times all the rest.
    """
    a_c, b_c, e, alpha, beta = theta
    t_n, t_d = a_c - alpha * xn, b_c - beta * xd
    top = np.maximum(np.maximum(t_n, t_d), e)
    w_n, w_d, w_e = np.exp(t_n - top), np.exp(t_d - top), np.exp(e - top)
    total = w_n + w_d + w_e
    r = top + np.log(total) - log_loss
    slope = np.clip(r, -HUBER_DELTA, HUBER_DELTA) / (HUBER_DELTA * total)  # Huber'(r) / δ / Σ w
    g_n, g_d = slope * w_n, slope * w_d
    grad = np.array([g_n.sum(), g_d.sum(), (slope * w_e).sum(), -(g_n @ xn), -(g_d @ xd)])
    return float(huber(HUBER_DELTA, r).sum() / HUBER_DELTA), grad


def _initial_points(log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """[25, 5] starts (a, b, e, α, β): per (α, β) of the grid, its best (a, b, e) by the objective."""
    exponents = list(itertools.product(INIT_ALPHA, INIT_BETA))
    rest = list(itertools.product(INIT_A, INIT_B, INIT_E))
    grid = np.array([(*abe, *ab) for ab in exponents for abe in rest])  # [25 · 180, 5], exponent-major
    a, b, e, alpha, beta = (grid[:, [i]] for i in range(5))  # each [G, 1]
    log_pred = np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)  # [G, n]
    score = huber(HUBER_DELTA, log_pred - log_loss).sum(axis=1).reshape(len(exponents), len(rest))
    return grid.reshape(len(exponents), len(rest), 5)[np.arange(len(exponents)), score.argmin(axis=1)]
