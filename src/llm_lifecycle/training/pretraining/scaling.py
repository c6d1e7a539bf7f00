"""Scaling laws on a CPU: a model-size × token-budget sweep, power-law fits and the compute-optimal size.

Design
------
The two papers this module follows:

* Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (OpenAI). With N the number of
  NON-EMBEDDING parameters and D the number of training tokens, the loss of a model that is not limited
  by the other factor follows a power law: L(N) = (N_c / N)^α_N with α_N ≈ 0.076, N_c ≈ 8.8e13, and
  L(D) = (D_c / D)^α_D with α_D ≈ 0.095, D_c ≈ 5.4e13 (nats/token, GPT-2 BPE on WebText2). Training
  compute is C ≈ 6·N·D FLOPs (forward 2N, backward 4N per token; attention and the embedding left out).
  Kaplan's compute-optimal allocation grows the model fast: N_opt ∝ C^0.73.
* Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (Chinchilla). With the learning
  rate schedule matched to each run's length, model size and data should grow about equally with compute
  (N_opt ∝ C^0.5, D_opt ∝ C^0.5), which works out at D ≈ 20·N tokens per parameter. Their "approach 3"
  fits a parametric loss L(N, D) = E + A / N^α + B / D^β (E ≈ 1.69, A ≈ 406.4, B ≈ 410.7, α ≈ 0.34,
  β ≈ 0.28; Besiroglu et al. 2024 found those printed values inconsistent with the paper's own ~20
  tokens/parameter, so we compare with the rule, not with approach 3's numbers).

What the sweep does (`run_sweep`): for every model size in `ScalingConfig.sizes` and every token budget
D in `ScalingConfig.token_budgets`, a fresh LLaMA-style model (`modeling.build_model`, seeded: all runs of a
size start from the same weights) is trained with the project's own loop
(`training.pretraining.loop.pretrain`) for max_steps = D / tokens_per_step, with a cosine schedule over
exactly that horizon (Chinchilla's point: a schedule longer than the run would make short runs look worse
than they are). No checkpoints. Every run
sees the same data order (same seed), so the runs differ only in size and length. One row per run: the
non-embedding N, total parameters, D, C = 6·N·D, the final validation loss on held-out documents, wall time.

What the fits do (`fit_scaling_laws`):

* L(N): a power law through the largest-D run of each size (Kaplan's L(N) is the loss at "enough" data).
* L(D): a power law through the runs of the largest model (Kaplan's L(D) is the loss at "enough" size).
  Both are least squares on log L = log a + b·log x (`fit_power_law`), so exponent b = −α; R² in log space.
* Compute-optimal N: the parametric Chinchilla law L(N, D) = E + A·N^−α + B·D^−β is fitted to all runs by
  least squares on L: for every (α, β) on a grid (0.02 steps, then 0.001 steps around the best), the loss
  is linear in (E, A, B), so non-negative least squares gives them exactly (every subset of the three
  columns is solved and the best non-negative solution kept). Substituting D = C / (6N) and setting
  dL/dN = 0 gives the closed form N_opt(C) = G·(C/6)^(β/(α+β)), G = (αA / (βB))^(1/(α+β)), and
  D_opt = C / (6·N_opt). For each compute budget we report N_opt, D_opt, D_opt/N_opt next to Chinchilla's
  20, and the loss our fit predicts at the Chinchilla allocation N = sqrt(C / 120) (D = 20N). An isoFLOP
  analysis (Chinchilla's approach 2) needs several sizes per FLOP level; a 3 × 3 grid is too small for it.

Honest expectations: these are models of 10^4–10^6 parameters trained on 10^5 tokens of a synthetic
corpus, far from the regime where the papers measured. The input embedding and LM head dominate both
the parameter count and the FLOPs of such small models (the `flops_calc` column counts them), and the
losses are still falling quickly, so the exponents will not equal Kaplan's and the fitted L(N, D) is
only a summary of this grid. The fits table and the metrics put our numbers next to the papers' values;
they do not pretend to reproduce them.

torch and transformers are imported inside `run_sweep` only: pipeline definitions import this module.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llm_lifecycle.modeling.calculator import parameter_counts, training_flops_per_token
from llm_lifecycle.modeling.config import ModelConfig

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

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

# Grid for the exponents of the parametric fit: coarse over the plausible range, then fine around the best.
_COARSE_STEP, _COARSE_MAX = 0.02, 2.0
_FINE_STEP, _FINE_HALF_WIDTH = 0.001, 0.02
MIN_POINTS_PARAMETRIC = 6  # 5 parameters: fewer points would make the fit an interpolation or worse


# --------------------------------------------------------------------------- configuration


class ScalingConfig(BaseModel):
    """`conf/base/parameters_scaling_laws.yml` (key `scaling_laws`).

    `sizes`: ModelConfig overrides per model size, on top of `base_model` (a size may carry a `name`;
    otherwise it is named `h<hidden>_l<layers>`). `vocab_size` and the special token ids come from the
    tokenizer. Training fields mean what they mean in `training.pretraining.loop.PretrainConfig`;
    `max_steps` of each run is its token budget divided by tokens per step, and `warmup_fraction` of those
    steps warm up.
    """

    model_config = ConfigDict(extra="forbid")

    sizes: list[dict[str, Any]] = Field(..., min_length=2, description="ModelConfig overrides, per size")
    token_budgets: list[int] = Field(..., min_length=2, description="training tokens D of each run")
    compute_budgets: list[float] = Field(
        default_factory=lambda: [1e10, 1e11, 1e12], description="FLOPs C for the compute-optimal question"
    )
    base_model: dict[str, Any] = Field(default_factory=dict, description="ModelConfig overrides, all sizes")

    block_size: int = Field(128, ge=2)
    batch_size: int = Field(8, ge=1)
    grad_accum_steps: int = Field(1, ge=1)
    lr: float = Field(3e-3, gt=0)
    min_lr: float = Field(3e-4, ge=0)
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="share of each run's steps")
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = Field(1.0, gt=0)
    eval_batches: int | None = Field(None, ge=1, description="None: the whole validation set")
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "auto"
    num_threads: int | None = Field(None, ge=1)
    progress: bool = True

    val_fraction: float = Field(0.05, gt=0, lt=1, description="held-out documents (hash of id)")
    split_salt: str = "pretrain"

    @field_validator("token_budgets")
    @classmethod
    def _positive_budgets(cls, value: list[int]) -> list[int]:
        if any(d < 1 for d in value) or len(set(value)) != len(value):
            raise ValueError(f"token_budgets must be distinct positive integers, got {value}")
        return sorted(value)

    @field_validator("compute_budgets")
    @classmethod
    def _positive_compute(cls, value: list[float]) -> list[float]:
        if any(not (c > 0 and math.isfinite(c)) for c in value):
            raise ValueError(f"compute_budgets must be positive FLOP counts, got {value}")
        return sorted(value)

    @model_validator(mode="after")
    def _check(self) -> ScalingConfig:
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        too_small = [d for d in self.token_budgets if d < self.tokens_per_step]
        if too_small:
            raise ValueError(
                f"token budgets {too_small} are below one optimizer step ({self.tokens_per_step} tokens)"
            )
        names = [name for name, _ in self.named_sizes()]
        if len(set(names)) != len(names):
            raise ValueError(f"model sizes need distinct names, got {names}")
        for name, _ in self.named_sizes():  # a misspelt field fails here, naming the size
            try:
                self.model_config_for(name)
            except ValueError as err:
                raise ValueError(f"size {name!r}: {err}") from err
        return self

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum_steps * self.block_size

    def named_sizes(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, ModelConfig overrides) per size, in the configured order."""
        out = []
        for size in self.sizes:
            fields = {**self.base_model, **{k: v for k, v in size.items() if k != "name"}}
            name = size.get("name") or f"h{fields.get('hidden_size', 128)}_l{fields.get('n_layers', 4)}"
            out.append((str(name), fields))
        return out

    def model_config_for(
        self, name: str, vocab_size: int | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ModelConfig:
        """The ModelConfig of size `name`; `max_position_embeddings` defaults to `block_size`."""
        fields = dict(overrides or {})
        fields.update(dict(self.named_sizes())[name])
        fields.setdefault("max_position_embeddings", self.block_size)
        if vocab_size is not None:
            fields["vocab_size"] = vocab_size
        return ModelConfig(**fields)

    def steps_for(self, token_budget: int) -> int:
        """Optimizer steps of a run with `token_budget` tokens (rounded to whole steps)."""
        return max(1, round(token_budget / self.tokens_per_step))


# --------------------------------------------------------------------------- the sweep


def run_sweep(
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor,
    vocab_size: int,
    cfg: ScalingConfig,
    seed: int,
    *,
    model_overrides: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """Train every (size, token budget) pair from scratch; one row per run (see the module docstring).

    `model_overrides` go under the sizes (e.g. the tokenizer's special token ids); `device` defaults to
    CUDA when present. Columns: name, hidden_size, n_layers, n_params (non-embedding N), params_total,
    flops_params, token_budget, tokens (D actually trained: whole steps), steps, epochs, flops (6·N·D),
    flops_calc (calculator: matmul parameters incl. LM head, and attention), val_loss, val_loss_init,
    train_loss_final, tokens_per_s, wall_s.
    """
    import torch

    from llm_lifecycle.modeling.build import build_model
    from llm_lifecycle.training.pretraining.loop import PretrainConfig, pretrain

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    grid = [(name, d) for name, _ in cfg.named_sizes() for d in cfg.token_budgets]
    for i, (name, budget) in enumerate(grid, start=1):
        model_cfg = cfg.model_config_for(name, vocab_size, model_overrides)
        counts = parameter_counts(model_cfg)
        steps = cfg.steps_for(budget)
        train_cfg = PretrainConfig(
            block_size=cfg.block_size,
            batch_size=cfg.batch_size,
            grad_accum_steps=cfg.grad_accum_steps,
            max_steps=steps,
            lr=cfg.lr,
            min_lr=cfg.min_lr,
            warmup_steps=round(cfg.warmup_fraction * steps),
            weight_decay=cfg.weight_decay,
            betas=cfg.betas,
            grad_clip=cfg.grad_clip,
            eval_every=steps,  # evaluate at initialisation and at the end only
            eval_batches=cfg.eval_batches,
            checkpoint_every=steps,
            seed=seed,
            precision=cfg.precision,
            num_threads=cfg.num_threads,
            log_every=min(10, steps),
        )
        start = time.perf_counter()
        model = build_model(model_cfg, seed=seed).to(device)
        result = pretrain(model, train_blocks, val_blocks, train_cfg, progress=cfg.progress)
        wall = time.perf_counter() - start
        tokens = steps * train_cfg.tokens_per_step
        val = result.history.get("val_loss", [])
        row = {
            "name": name,
            "hidden_size": model_cfg.hidden_size,
            "n_layers": model_cfg.n_layers,
            "n_params": counts.non_embedding,
            "params_total": counts.total,
            "flops_params": counts.flops_params,
            "token_budget": budget,
            "tokens": tokens,
            "steps": steps,
            "epochs": result.summary["epochs"],
            "flops": FLOPS_PER_PARAM_TOKEN * counts.non_embedding * tokens,
            "flops_calc": float(training_flops_per_token(model_cfg, cfg.block_size)) * tokens,
            "val_loss": float(val[-1]["value"]) if val else float("nan"),
            "val_loss_init": float(val[0]["value"]) if val else float("nan"),
            "train_loss_final": result.summary.get("train_loss_final", float("nan")),
            "tokens_per_s": tokens / max(result.summary["train_time_s"], 1e-9),
            "wall_s": wall,
        }
        rows.append(row)
        logger.info(
            "scaling run %d/%d %s: N=%s D=%s -> val loss %.4f (%.1f s)",
            i,
            len(grid),
            name,
            f"{counts.non_embedding:,}",
            f"{tokens:,}",
            row["val_loss"],
            wall,
        )
        del model
    return pd.DataFrame(rows)


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
    """Least squares on log y = log a + b·log x (pure numpy). Needs ≥ 2 points with distinct positive x."""
    x_arr, y_arr = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y differ in length: {x_arr.size} vs {y_arr.size}")
    if not (np.all(np.isfinite(x_arr)) and np.all(np.isfinite(y_arr))):
        raise ValueError("x and y must be finite")
    if np.any(x_arr <= 0) or np.any(y_arr <= 0):
        raise ValueError("a power law is fitted in log space: x and y must be positive")
    if np.unique(x_arr).size < 2:
        raise ValueError(f"need at least two distinct x values, got {np.unique(x_arr).tolist()}")
    lx, ly = np.log(x_arr), np.log(y_arr)
    design = np.stack([np.ones_like(lx), lx], axis=1)  # [n, 2]
    (log_a, b), *_ = np.linalg.lstsq(design, ly, rcond=None)
    residual = ly - design @ np.array([log_a, b])
    ss_res, ss_tot = float(residual @ residual), float(((ly - ly.mean()) ** 2).sum())
    if ss_tot > 0:
        r2 = 1.0 - ss_res / ss_tot
    else:
        r2 = 1.0 if ss_res <= 1e-24 else float("nan")
    return PowerLawFit(coefficient=float(math.exp(log_a)), exponent=float(b), r2=r2, n_points=int(x_arr.size))


# --------------------------------------------------------------------------- the Chinchilla law


@dataclass(frozen=True)
class ChinchillaFit:
    """L(N, D) = E + A·N^−α + B·D^−β, fitted by least squares on L (see the module docstring)."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    rmse: float
    n_points: int

    def predict(self, n: Any, d: Any) -> np.ndarray:
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.E + self.A * n**-self.alpha + self.B * d**-self.beta

    @property
    def degenerate(self) -> bool:
        """A or B is 0 (or an exponent is 0): the loss does not trade N against D, no optimum exists."""
        return not (self.A > 0 and self.B > 0 and self.alpha > 0 and self.beta > 0)

    @property
    def on_grid_edge(self) -> bool:
        """An exponent sits on the edge of the fitting grid: the data ask for a value outside it."""
        return not (_FINE_STEP < self.alpha < _COARSE_MAX and _FINE_STEP < self.beta < _COARSE_MAX)

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


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    n = int(round((hi - lo) / step))
    return np.round(lo + step * np.arange(n + 1), 6)


def _nnls_over_grid(
    xn: np.ndarray, xd: np.ndarray, y: np.ndarray, alphas: np.ndarray, betas: np.ndarray
) -> tuple[float, float, np.ndarray, float]:
    """Best (α, β, [E, A', B'], sse) over the grid; (E, A', B') ≥ 0 by enumerating column subsets.

    xn, xd are N and D divided by their geometric means (well-conditioned columns); A' and B' refer to them.
    """
    a_grid, b_grid = np.meshgrid(alphas, betas, indexing="ij")
    a_flat, b_flat = a_grid.ravel(), b_grid.ravel()  # [G]
    cols = np.stack(
        [
            np.ones((a_flat.size, y.size)),
            xn[None, :] ** -a_flat[:, None],
            xd[None, :] ** -b_flat[:, None],
        ],
        axis=2,
    )  # [G, n, 3]
    best_sse = np.full(a_flat.size, np.inf)
    best_coef = np.zeros((a_flat.size, 3))
    for k in (1, 2, 3):
        for subset in itertools.combinations(range(3), k):
            x = cols[:, :, subset]  # [G, n, k]
            coef = np.linalg.pinv(x) @ y  # [G, k]
            resid = y[None, :] - np.einsum("gnk,gk->gn", x, coef)
            sse = (resid**2).sum(axis=1)
            ok = np.all(coef >= 0, axis=1) & (sse < best_sse)
            full = np.zeros((a_flat.size, 3))
            full[:, subset] = coef
            best_sse = np.where(ok, sse, best_sse)
            best_coef = np.where(ok[:, None], full, best_coef)
    i = int(np.argmin(best_sse))
    return float(a_flat[i]), float(b_flat[i]), best_coef[i], float(best_sse[i])


def fit_chinchilla_law(
    n: Sequence[float] | np.ndarray, d: Sequence[float] | np.ndarray, loss: Sequence[float] | np.ndarray
) -> ChinchillaFit:
    """Fit L(N, D) = E + A·N^−α + B·D^−β (E, A, B ≥ 0; α, β on a 0.02 then 0.001 grid in (0, 2])."""
    n_arr, d_arr, y = (np.asarray(v, dtype=float).ravel() for v in (n, d, loss))
    if not (n_arr.size == d_arr.size == y.size):
        raise ValueError("n, d and loss must have the same length")
    if n_arr.size < MIN_POINTS_PARAMETRIC:
        raise ValueError(f"need at least {MIN_POINTS_PARAMETRIC} runs for 5 parameters, got {n_arr.size}")
    if np.unique(n_arr).size < 2 or np.unique(d_arr).size < 2:
        raise ValueError("need at least two distinct model sizes and two distinct token counts")
    if np.any(n_arr <= 0) or np.any(d_arr <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("N and D must be positive and the losses finite")
    n_ref, d_ref = float(np.exp(np.log(n_arr).mean())), float(np.exp(np.log(d_arr).mean()))
    xn, xd = n_arr / n_ref, d_arr / d_ref
    coarse = _grid(_COARSE_STEP, _COARSE_MAX, _COARSE_STEP)
    alpha, beta, _, _ = _nnls_over_grid(xn, xd, y, coarse, coarse)
    fine_a = _grid(
        max(_FINE_STEP, alpha - _FINE_HALF_WIDTH), min(_COARSE_MAX, alpha + _FINE_HALF_WIDTH), _FINE_STEP
    )
    fine_b = _grid(
        max(_FINE_STEP, beta - _FINE_HALF_WIDTH), min(_COARSE_MAX, beta + _FINE_HALF_WIDTH), _FINE_STEP
    )
    alpha, beta, (e, a_scaled, b_scaled), sse = _nnls_over_grid(xn, xd, y, fine_a, fine_b)
    # A'·(N/N_ref)^−α = A'·N_ref^α · N^−α
    fit = ChinchillaFit(
        E=float(e),
        A=float(a_scaled * n_ref**alpha),
        alpha=alpha,
        B=float(b_scaled * d_ref**beta),
        beta=beta,
        rmse=math.sqrt(sse / y.size),
        n_points=int(y.size),
    )
    if fit.on_grid_edge:
        logger.warning("L(N, D) fit: an exponent sits on the edge of the grid (α=%.3f, β=%.3f)", alpha, beta)
    return fit


# --------------------------------------------------------------------------- fits of a sweep

FITS_COLUMNS = ["fit", "quantity", "value", "reference", "note"]


def budget_label(flops: float) -> str:
    """A compute budget as a metric-name-safe label: 1e11 -> "1e11", 3.2e10 -> "3.2e10"."""
    return f"{flops:.3g}".replace("+", "")


def fit_scaling_laws(
    runs: pd.DataFrame, compute_budgets: Sequence[float]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """L(N), L(D), L(N, D) and the compute-optimal N of each budget, as a long table and flat metrics.

    `runs` needs columns name, n_params, tokens, flops, val_loss (as `run_sweep` writes them). The table
    has columns fit, quantity, value, reference (the published value, NaN where none), note; metrics are
    the finite numbers among them under stable names (alpha_N, alpha_D, kaplan_alpha_N, ...).
    """
    missing = {"name", "n_params", "tokens", "val_loss"} - set(runs.columns)
    if missing:
        raise ValueError(f"runs table lacks columns {sorted(missing)}")
    runs = runs.dropna(subset=["val_loss"])
    rows: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}

    def add(fit: str, quantity: str, value: float, reference: float = float("nan"), note: str = "") -> None:
        rows.append({"fit": fit, "quantity": quantity, "value": value, "reference": reference, "note": note})

    # L(N): the largest-D run of each size
    at_max_d = runs.loc[runs.groupby("name")["tokens"].idxmax()].sort_values("n_params")
    fit_n = fit_power_law(at_max_d["n_params"], at_max_d["val_loss"])
    note_n = "largest-D run of each size: " + ", ".join(
        f"{r.name} (D={int(r.tokens):,})" for r in at_max_d.itertuples()
    )
    add("L(N)", "exponent", fit_n.exponent, -KAPLAN_ALPHA_N, "slope of log L vs log N (N non-embedding)")
    add("L(N)", "coefficient", fit_n.coefficient, note="L = coefficient · N^exponent")
    add("L(N)", "N_c", fit_n.critical_scale, KAPLAN_N_C, "L = (N_c / N)^alpha_N")
    add("L(N)", "r2", fit_n.r2, note="in log-log space")
    add("L(N)", "points", fit_n.n_points, note=note_n)

    # L(D): the runs of the largest model
    largest = runs.loc[runs["n_params"] == runs["n_params"].max()].sort_values("tokens")
    fit_d = fit_power_law(largest["tokens"], largest["val_loss"])
    note_d = f"runs of the largest model {largest['name'].iloc[0]} (N={int(largest['n_params'].iloc[0]):,})"
    add("L(D)", "exponent", fit_d.exponent, -KAPLAN_ALPHA_D, "slope of log L vs log D (training tokens)")
    add("L(D)", "coefficient", fit_d.coefficient, note="L = coefficient · D^exponent")
    add("L(D)", "D_c", fit_d.critical_scale, KAPLAN_D_C, "L = (D_c / D)^alpha_D")
    add("L(D)", "r2", fit_d.r2, note="in log-log space")
    add("L(D)", "points", fit_d.n_points, note=note_d)

    metrics |= {
        "alpha_N": fit_n.alpha,
        "alpha_N_r2": fit_n.r2,
        "N_c": fit_n.critical_scale,
        "kaplan_alpha_N": KAPLAN_ALPHA_N,
        "alpha_D": fit_d.alpha,
        "alpha_D_r2": fit_d.r2,
        "D_c": fit_d.critical_scale,
        "kaplan_alpha_D": KAPLAN_ALPHA_D,
        "chinchilla_tokens_per_param": CHINCHILLA_TOKENS_PER_PARAM,
        "chinchilla_n_opt_exponent": CHINCHILLA_N_OPT_EXPONENT,
        "kaplan_n_opt_exponent": KAPLAN_N_OPT_EXPONENT,
        "runs": float(len(runs)),
    }
    if "wall_s" in runs:
        metrics["sweep_wall_s"] = float(runs["wall_s"].sum())

    # L(N, D) and the compute-optimal allocation
    law: ChinchillaFit | None = None
    try:
        law = fit_chinchilla_law(runs["n_params"], runs["tokens"], runs["val_loss"])
    except ValueError as err:
        add("L(N,D)", "skipped", float("nan"), note=str(err))
        logger.warning("no L(N, D) fit: %s", err)
    if law is not None:
        note = "L = E + A/N^alpha + B/D^beta, least squares on L; reference: Chinchilla approach 3"
        for quantity in ("E", "A", "alpha", "B", "beta"):
            add("L(N,D)", quantity, getattr(law, quantity), CHINCHILLA_APPROACH3[quantity], note)
            metrics[f"fit_{quantity}"] = getattr(law, quantity)
        add("L(N,D)", "rmse", law.rmse, note=f"over {law.n_points} runs (nats/token)")
        if law.on_grid_edge:
            edge = f"(0, {_COARSE_MAX}]"
            add(
                "L(N,D)", "on_grid_edge", 1.0, note=f"an exponent hit the edge of the grid {edge}: unreliable"
            )
        a_note = "N_opt ∝ C^(beta/(alpha+beta)); Kaplan 2020: 0.73"
        add("L(N,D)", "n_opt_exponent", law.n_opt_exponent, CHINCHILLA_N_OPT_EXPONENT, a_note)
        metrics["fit_rmse"] = law.rmse
        metrics["n_opt_exponent"] = law.n_opt_exponent
        c_lo, c_hi = (float(runs["flops"].min()), float(runs["flops"].max())) if "flops" in runs else (0, 0)
        for c in compute_budgets:
            fit_name, key = f"optimal@C={budget_label(c)}", f"optimal.C{budget_label(c)}"
            where = "inside" if c_lo <= c <= c_hi else "OUTSIDE (extrapolated)"
            n_opt, d_opt = law.compute_optimal(c)
            if law.degenerate:
                add(fit_name, "n_params", float("nan"), note="degenerate fit (A, B or an exponent is 0)")
                continue
            n_chin = math.sqrt(c / (FLOPS_PER_PARAM_TOKEN * CHINCHILLA_TOKENS_PER_PARAM))
            d_chin = CHINCHILLA_TOKENS_PER_PARAM * n_chin
            add(fit_name, "n_params", n_opt, n_chin, f"N_opt of the fit; reference: D = 20N; C {where} runs")
            add(fit_name, "tokens", d_opt, d_chin, "D_opt = C / (6 N_opt)")
            add(fit_name, "tokens_per_param", d_opt / n_opt, CHINCHILLA_TOKENS_PER_PARAM, "D_opt / N_opt")
            loss_opt, loss_chin = float(law.predict(n_opt, d_opt)), float(law.predict(n_chin, d_chin))
            add(fit_name, "loss", loss_opt, loss_chin, "fitted loss at the optimum; reference: at D = 20N")
            metrics |= {
                f"{key}.n_params": n_opt,
                f"{key}.tokens": d_opt,
                f"{key}.tokens_per_param": d_opt / n_opt,
                f"{key}.loss": loss_opt,
                f"{key}.loss_at_20_tokens_per_param": loss_chin,
            }
            if "flops" in runs:
                within = runs.loc[runs["flops"] <= c]
                if len(within):
                    best = within.loc[within["val_loss"].idxmin()]
                    add(
                        fit_name,
                        "best_run_loss",
                        float(best["val_loss"]),
                        note=f"lowest measured loss with 6ND <= C: {best['name']}, D={int(best['tokens']):,}",
                    )
    table = pd.DataFrame(rows, columns=FITS_COLUMNS)
    metrics = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
    logger.info(
        "scaling fits: alpha_N=%.3f (Kaplan %.3f), alpha_D=%.3f (Kaplan %.3f)",
        fit_n.alpha,
        KAPLAN_ALPHA_N,
        fit_d.alpha,
        KAPLAN_ALPHA_D,
    )
    return table, metrics


def _fit_value(fits: pd.DataFrame, fit: str, quantity: str) -> float:
    hit = fits.loc[(fits["fit"] == fit) & (fits["quantity"] == quantity), "value"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


# --------------------------------------------------------------------------- the plot


def scaling_plot(runs: pd.DataFrame, fits: pd.DataFrame) -> Figure:
    """Three log-log panels: L(N) with its fit, L(D) with its fit, and L(C) with the L(N, D) frontier.

    Works on the tables as saved to CSV (the fits table is read by fit and quantity names).
    """
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

    # L(N): every run, coloured by D; the fit through the largest-D run of each size
    for i, d in enumerate(budgets):
        sub = runs.loc[runs["tokens"] == d].sort_values("n_params")
        ax_n.plot(sub["n_params"], sub["val_loss"], "o-", color=colour(i, len(budgets)), label=f"D={d:,}")
    exp_n, coef_n = _fit_value(fits, "L(N)", "exponent"), _fit_value(fits, "L(N)", "coefficient")
    n_line = np.geomspace(runs["n_params"].min() / 1.5, runs["n_params"].max() * 1.5, 50)
    if math.isfinite(exp_n):
        ax_n.plot(
            n_line,
            coef_n * n_line**exp_n,
            "k--",
            lw=1,
            label=f"fit: α_N={-exp_n:.3f} (Kaplan {KAPLAN_ALPHA_N})",
        )
    ax_n.set(xscale="log", yscale="log", xlabel="N (non-embedding parameters)", ylabel="validation loss")
    ax_n.set_title("L(N)")

    # L(D): every size, coloured by N; the fit through the largest model
    for i, (name, n) in enumerate(sizes.items()):
        sub = runs.loc[runs["name"] == name].sort_values("tokens")
        ax_d.plot(
            sub["tokens"], sub["val_loss"], "s-", color=colour(i, len(sizes)), label=f"{name} (N={n:,})"
        )
    exp_d, coef_d = _fit_value(fits, "L(D)", "exponent"), _fit_value(fits, "L(D)", "coefficient")
    d_line = np.geomspace(runs["tokens"].min() / 1.5, runs["tokens"].max() * 1.5, 50)
    if math.isfinite(exp_d):
        ax_d.plot(
            d_line,
            coef_d * d_line**exp_d,
            "k--",
            lw=1,
            label=f"fit: α_D={-exp_d:.3f} (Kaplan {KAPLAN_ALPHA_D})",
        )
    ax_d.set(xscale="log", yscale="log", xlabel="D (training tokens)", ylabel="validation loss")
    ax_d.set_title("L(D)")

    # L(C): every run against C = 6ND, the compute-optimal frontier of the parametric fit
    if "flops" in runs:
        for i, (name, _) in enumerate(sizes.items()):
            sub = runs.loc[runs["name"] == name].sort_values("flops")
            ax_c.plot(sub["flops"], sub["val_loss"], "s-", color=colour(i, len(sizes)), label=name)
        law = {q: _fit_value(fits, "L(N,D)", q) for q in ("E", "A", "alpha", "B", "beta")}
        if all(math.isfinite(v) for v in law.values()):
            fit = ChinchillaFit(**law, rmse=float("nan"), n_points=0)
            if not fit.degenerate:
                c_line = np.geomspace(runs["flops"].min() / 2, runs["flops"].max() * 4, 60)
                frontier = [float(fit.predict(*fit.compute_optimal(c))) for c in c_line]
                ax_c.plot(
                    c_line, frontier, "k--", lw=1, label=f"L(N,D) optimum: N ∝ C^{fit.n_opt_exponent:.2f}"
                )
                chin = [float(fit.predict(math.sqrt(c / 120.0), 20.0 * math.sqrt(c / 120.0))) for c in c_line]
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
