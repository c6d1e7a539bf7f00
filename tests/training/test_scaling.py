"""Scaling laws: power-law and L(N, D) fits on synthetic data, the compute optimum, plot, micro sweep."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from llm_lifecycle.training.pretraining.scaling import ScalingLawsSettings
from llm_lifecycle.training.pretraining.scaling_analysis import budget_label, fit_scaling_laws
from llm_lifecycle.training.pretraining.scaling_fits import (
    CHINCHILLA_APPROACH3,
    KAPLAN_ALPHA_D,
    KAPLAN_ALPHA_N,
    ChinchillaFit,
    fit_chinchilla_law,
    fit_power_law,
)
from llm_lifecycle.training.pretraining.scaling_plots import scaling_plot

SIZES = [
    {"name": "a", "hidden_size": 16, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "intermediate_size": 32},
    {"name": "b", "hidden_size": 32, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "intermediate_size": 64},
]
TRAIN = {"block_size": 32, "batch_size": 4}  # 128 tokens per step


# --------------------------------------------------------------------------- power laws


def test_power_law_fit_recovers_a_known_exponent_exactly():
    n = np.geomspace(1e4, 1e7, 5)
    loss = (8.8e13 / n) ** KAPLAN_ALPHA_N  # Kaplan's L(N)
    fit = fit_power_law(n, loss)
    assert fit.exponent == pytest.approx(-KAPLAN_ALPHA_N, rel=1e-9)
    assert fit.alpha == pytest.approx(KAPLAN_ALPHA_N, rel=1e-9)
    assert fit.critical_scale == pytest.approx(8.8e13, rel=1e-6)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.n_points == 5
    np.testing.assert_allclose(fit.predict(n), loss, rtol=1e-9)


def test_power_law_fit_of_noisy_data_has_r2_below_one():
    d = np.geomspace(1e5, 1e8, 6)
    loss = 20.0 * d**-0.095 * np.array([1.02, 0.98, 1.01, 0.99, 1.03, 0.97])
    fit = fit_power_law(d, loss)
    assert fit.exponent == pytest.approx(-0.095, abs=0.02)
    assert 0.5 < fit.r2 < 1.0


@pytest.mark.parametrize(
    ("x", "y"),
    [([1.0, 2.0], [1.0, -1.0]), ([0.0, 2.0], [1.0, 1.0]), ([3.0, 3.0], [1.0, 2.0]), ([1.0], [1.0])],
)
def test_power_law_fit_refuses_what_it_cannot_fit(x, y):
    with pytest.raises(ValueError):
        fit_power_law(x, y)


# --------------------------------------------------------------------------- L(N, D) and the compute optimum


CHINCHILLA = ChinchillaFit(**CHINCHILLA_APPROACH3, rmse=0.0, n_points=0)
# A second world unlike Chinchilla's: a higher floor, and a data term that is larger and falls faster.
DATA_HUNGRY = ChinchillaFit(E=2.5, A=50.0, alpha=0.25, B=3000.0, beta=0.5, rmse=0.0, n_points=0)


def _law_grid(law: ChinchillaFit, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """6 × 6 runs, N in 1e4..1e7 and D in 1e5..1e8, where both terms of either law vary several-fold;
    losses times exp(noise · standard normal)."""
    n, d = np.meshgrid(np.geomspace(1e4, 1e7, 6), np.geomspace(1e5, 1e8, 6), indexing="ij")
    n, d = n.ravel(), d.ravel()
    loss = law.predict(n, d) * np.exp(noise * np.random.default_rng(seed).standard_normal(n.size))
    return n, d, loss


def _standard_errors(law: ChinchillaFit, n: np.ndarray, d: np.ndarray, noise: float) -> np.ndarray:
    """Linearised standard errors of (log E, log A, α, log B, β) for least squares on log L with noise σ:
    σ·sqrt(diag((JᵀJ)⁻¹)), J = d log L / d(e, a, α, b, β) at the truth."""
    loss = law.predict(n, d)
    w_n, w_d, w_e = law.A * n**-law.alpha / loss, law.B * d**-law.beta / loss, law.E / loss
    jac = np.stack([w_e, w_n, -w_n * np.log(n), w_d, -w_d * np.log(d)], axis=1)
    return noise * np.sqrt(np.diag(np.linalg.inv(jac.T @ jac)))


@pytest.mark.parametrize("truth", [CHINCHILLA, DATA_HUNGRY], ids=["chinchilla", "data_hungry"])
@pytest.mark.parametrize("noise", [0.0, 0.002], ids=["exact", "noisy"])
def test_chinchilla_law_fit_recovers_known_parameters(truth, noise):
    n, d, loss = _law_grid(truth, noise)
    fit = fit_chinchilla_law(n, d, loss)
    assert fit.converged and fit.n_points == 36
    got = np.array([math.log(fit.E), math.log(fit.A), fit.alpha, math.log(fit.B), fit.beta])
    want = np.array([math.log(truth.E), math.log(truth.A), truth.alpha, math.log(truth.B), truth.beta])
    if noise == 0:
        # The truth is an exact minimum (Huber loss 0); what is left is L-BFGS-B's stopping rule
        # (ftol 1e-12, gtol 1e-8), measured below 1e-10 on every parameter, far inside 1e-6.
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        assert fit.rmse < 1e-6
    else:
        # 0.2 % multiplicative noise. The fit must be as good as the data allow: within 5 linearised
        # standard errors of least squares on log L. Huber with δ = 1e-3 below σ = 2e-3 lies between
        # least squares and least absolute deviations (efficiency 2/π), so its errors can be up to ~1.25x
        # those; over seeds 0-39 they were 1.0-1.13 standard errors rms and 3.2 at the worst. 5 is ~4.4 of
        # the fit's own standard errors, a margin a correct fit meets for practically any seed, and a wrong
        # local minimum would not. For the Chinchilla world the bounds are E within 9 %, A 5 %, B 6 %,
        # α and β ± 0.006.
        se = _standard_errors(truth, n, d, noise)
        assert np.all(np.abs(got - want) < 5 * se), (got - want) / se
        assert fit.rmse < 2 * noise * float(loss.max())


def test_compute_optimum_is_the_minimum_of_the_isoflop_curve():
    law = ChinchillaFit(E=1.0, A=300.0, alpha=0.3, B=900.0, beta=0.35, rmse=0.0, n_points=0)
    for flops in (1e12, 1e18, 1e22):
        n_opt, d_opt = law.compute_optimal(flops)
        assert 6 * n_opt * d_opt == pytest.approx(flops, rel=1e-12)
        # brute force along the isoFLOP curve D = C / (6N)
        n_grid = np.geomspace(n_opt / 100, n_opt * 100, 400_001)
        n_best = n_grid[np.argmin(law.predict(n_grid, flops / (6 * n_grid)))]
        assert n_best == pytest.approx(n_opt, rel=1e-3)
    # N_opt ∝ C^(β/(α+β))
    ratio = law.compute_optimal(1e20)[0] / law.compute_optimal(1e18)[0]
    assert math.log(ratio, 100) == pytest.approx(0.35 / 0.65, rel=1e-9)
    assert law.n_opt_exponent == pytest.approx(0.35 / 0.65)


def test_a_law_without_a_size_term_has_no_compute_optimum():
    law = ChinchillaFit(E=1.0, A=0.0, alpha=0.3, B=900.0, beta=0.35, rmse=0.0, n_points=0)
    assert law.degenerate
    assert all(math.isnan(v) for v in law.compute_optimal(1e12))


def _synthetic_runs(law: ChinchillaFit | None = None) -> pd.DataFrame:
    """3 sizes × 3 budgets. Without `law`: L = 5·N^-0.1·(D/D_max)^-0.2, exact power laws along both cuts."""
    rows = []
    for name, n in (("s", 2e4), ("m", 8e4), ("l", 3.2e5)):
        for d in (5e4, 1e5, 2e5):
            loss = float(law.predict(n, d)) if law else 5.0 * n**-0.1 * (d / 2e5) ** -0.2
            rows.append(
                {
                    "name": name,
                    "n_params": n,
                    "tokens": d,
                    "flops": 6 * n * d,
                    "val_loss": loss,
                    "wall_s": 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_fit_scaling_laws_uses_the_right_cuts_and_reports_references():
    fits, metrics = fit_scaling_laws(_synthetic_runs(), [1e11, 3.2e11])
    assert list(fits.columns) == ["fit", "quantity", "value", "reference", "note"]
    assert metrics["alpha_N"] == pytest.approx(0.1, rel=1e-9)  # largest-D run of each size
    assert metrics["alpha_D"] == pytest.approx(0.2, rel=1e-9)  # runs of the largest model
    assert metrics["kaplan_alpha_N"] == KAPLAN_ALPHA_N
    assert metrics["kaplan_alpha_D"] == KAPLAN_ALPHA_D
    assert metrics["chinchilla_tokens_per_param"] == 20.0
    assert metrics["sweep_wall_s"] == 9.0
    exponent = fits.loc[(fits["fit"] == "L(N)") & (fits["quantity"] == "exponent")].iloc[0]
    assert exponent["reference"] == -KAPLAN_ALPHA_N
    assert all(math.isfinite(v) for v in metrics.values())


WORLD = ChinchillaFit(E=1.5, A=200.0, alpha=0.4, B=600.0, beta=0.3, rmse=0.0, n_points=0)
WORLD_BUDGETS = [1e11, 1e13]


@pytest.fixture(scope="module")
def world_fits() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """The sweep's 3 × 3 shape in a noise-free Chinchilla-law world: (runs, fits, metrics), fitted once."""
    runs = _synthetic_runs(WORLD).assign(unigram_val_loss=6.0)
    return runs, *fit_scaling_laws(runs, WORLD_BUDGETS)


def test_fit_scaling_laws_compute_optimum_on_a_synthetic_chinchilla_world(world_fits):
    _, fits, metrics = world_fits
    # Noise-free, so even the sweep's narrow grid (D spans 4x) pins all five parameters.
    for name in ("E", "A", "alpha", "B", "beta"):
        assert metrics[f"fit_{name}"] == pytest.approx(getattr(WORLD, name), rel=1e-6), name
    for c in WORLD_BUDGETS:
        n_true, d_true = WORLD.compute_optimal(c)
        key = f"optimal.C{budget_label(c)}"
        assert metrics[f"{key}.n_params"] == pytest.approx(n_true, rel=1e-5)
        assert metrics[f"{key}.tokens_per_param"] == pytest.approx(d_true / n_true, rel=1e-5)
        # the optimum is no worse than the Chinchilla allocation D = 20N under the same law
        assert metrics[f"{key}.loss"] <= metrics[f"{key}.loss_at_20_tokens_per_param"] + 1e-12
    rows = fits.loc[fits["fit"] == f"optimal@C={budget_label(1e11)}"].set_index("quantity")
    assert rows.loc["tokens_per_param", "reference"] == 20.0
    assert rows.loc["n_params", "reference"] == pytest.approx(math.sqrt(1e11 / 120))
    assert "best_run_loss" in rows.index


def test_fit_scaling_laws_skips_the_parametric_law_on_a_2x2_grid():
    runs = _synthetic_runs()
    runs = runs[runs["name"].isin(["s", "l"]) & runs["tokens"].isin([5e4, 2e5])]
    fits, metrics = fit_scaling_laws(runs, [1e11])
    assert "skipped" in set(fits.loc[fits["fit"] == "L(N,D)", "quantity"])
    assert "alpha_N" in metrics and "fit_alpha" not in metrics
    assert not any(k.startswith("optimal.") for k in metrics)


def test_budget_labels_are_metric_name_safe():
    assert budget_label(1e11) == "1e11"
    assert budget_label(3.2e10) == "3.2e10"


# --------------------------------------------------------------------------- the plot


def test_plot_builds_from_the_csv_round_trip(tmp_path, world_fits):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    runs, fits, _ = world_fits
    runs.to_csv(tmp_path / "runs.csv", index=False)
    fits.to_csv(tmp_path / "fits.csv", index=False)
    fig = scaling_plot(pd.read_csv(tmp_path / "runs.csv"), pd.read_csv(tmp_path / "fits.csv"))
    try:
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 3
        assert all(ax.get_xscale() == "log" for ax in fig.axes)
        assert len(fig.axes[2].get_lines()) >= 4  # 3 sizes + the frontier
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- configuration


def test_config_names_sizes_and_refuses_misspelt_keys():
    cfg = ScalingLawsSettings(
        sizes=[{"hidden_size": 32, "n_layers": 2}, SIZES[1]], token_budgets=[2048, 1024], train=TRAIN
    )
    assert [name for name, _ in cfg.named_sizes()] == ["h32_l2", "b"]
    assert cfg.token_budgets == [1024, 2048]  # sorted
    model = cfg.model_config_for("b", vocab_size=300)
    assert (model.vocab_size, model.max_position_embeddings) == (300, cfg.train.block_size)
    with pytest.raises(ValidationError, match="hiden_size"):
        ScalingLawsSettings(sizes=[{"hiden_size": 32}, SIZES[1]], token_budgets=[2048, 4096], train=TRAIN)
    with pytest.raises(ValidationError, match="extra"):
        ScalingLawsSettings(sizes=SIZES, token_budgets=[2048, 4096], train=TRAIN, max_steps=10)
    with pytest.raises(ValidationError, match="below one optimizer step"):
        ScalingLawsSettings(sizes=SIZES, token_budgets=[16, 4096], train=TRAIN)
    with pytest.raises(ValidationError, match="distinct names"):
        ScalingLawsSettings(sizes=[SIZES[0], SIZES[0]], token_budgets=[2048, 4096], train=TRAIN)


def test_train_block_is_the_loops_config_less_what_the_sweep_sets():
    with pytest.raises(
        ValidationError, match=r"train\.lrr"
    ):  # PretrainLoopSettings's own check, with its path
        ScalingLawsSettings(sizes=SIZES, token_budgets=[2048, 4096], train={**TRAIN, "lrr": 1e-3})
    with pytest.raises(ValidationError, match="min_lr"):
        ScalingLawsSettings(
            sizes=SIZES, token_budgets=[2048, 4096], train={**TRAIN, "lr": 1e-4, "min_lr": 1e-3}
        )
    with pytest.raises(ValidationError, match=r"train\.max_steps: each run's token budget"):
        ScalingLawsSettings(sizes=SIZES, token_budgets=[2048, 4096], train={**TRAIN, "max_steps": 10})
    cfg = ScalingLawsSettings(
        sizes=SIZES, token_budgets=[1280, 6400], warmup_fraction=0.1, train={**TRAIN, "lr": 5e-3}
    )
    run = cfg.pretrain_config(6400, seed=7)
    assert (run.max_steps, run.warmup_steps, run.eval_every, run.seed) == (50, 5, 50, 7)
    assert (run.lr, run.block_size, run.batch_size, run.tokens_per_step) == (5e-3, 32, 4, 128)
    assert cfg.pretrain_config(1280, seed=7).log_every == 10  # the loop's default, at most the run's steps


def test_default_parameters_validate():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((root / "conf/base/parameters_scaling_laws.yml").read_text())["scaling_laws"]
    cfg = ScalingLawsSettings.model_validate(params)
    assert len(cfg.sizes) * len(cfg.token_budgets) <= 12


# --------------------------------------------------------------------------- the pipeline


def test_pipeline_is_registered_by_name_and_not_in_the_default_run():
    from kedro.framework.project import configure_project

    from llm_lifecycle.pipeline_registry import register_pipelines

    configure_project("llm_lifecycle")
    pipelines = register_pipelines()
    sweep = pipelines["scaling_laws"]
    assert sweep.inputs() == {"tokenizer", "filtered_documents", "params:scaling_laws", "params:seed"}
    assert sweep.all_outputs() == {
        "scaling_law_runs",
        "scaling_law_fits",
        "scaling_law_metrics",
        "scaling_law_plot",
    }
    assert "run_scaling_sweep" not in {n.name for n in pipelines["__default__"].nodes}


# --------------------------------------------------------------------------- a micro sweep


def test_micro_sweep_trains_one_model_per_run_and_more_tokens_help(tiny_tokenizer, bilingual_docs):
    import matplotlib.pyplot as plt

    from llm_lifecycle.pipelines.scaling_laws import nodes

    params = {
        "sizes": SIZES,
        "token_budgets": [1280, 6400],  # 10 and 50 steps of 4 × 32 tokens
        "compute_budgets": [1e7],
        "train": {**TRAIN, "lr": 5e-3, "num_threads": 1},
        "progress": False,
        "val_fraction": 0.2,
    }
    runs = nodes.run_scaling_sweep(tiny_tokenizer, bilingual_docs, params, seed=0)
    assert len(runs) == 4
    assert list(runs["name"]) == ["a", "a", "b", "b"]
    assert list(runs["steps"]) == [10, 50, 10, 50]
    assert (runs["tokens"] == runs["steps"] * 128).all()
    assert (runs["val_loss"] > 0).all() and (runs["wall_s"] > 0).all()
    assert (runs["val_loss"] < runs["val_loss_init"]).all()
    assert runs.groupby("name")["n_params"].nunique().eq(1).all()
    assert (
        runs.loc[runs["name"] == "b", "n_params"].iloc[0] > runs.loc[runs["name"] == "a", "n_params"].iloc[0]
    )
    # Measured over seeds 0-3: 5x the tokens gains 1.9-2.9 nats, the larger model 1.4-1.6 nats at the
    # larger budget; the margins below are far from noise.
    for _, group in runs.groupby("name"):
        short, long_ = group.sort_values("tokens")["val_loss"]
        assert long_ < short - 1.0  # same initialisation and data order, 5x the steps
    at_max_d = runs[runs["tokens"] == runs["tokens"].max()].set_index("name")["val_loss"]
    assert at_max_d["b"] < at_max_d["a"] - 0.5
    fits, metrics = nodes.fit_scaling_laws(runs, params)
    assert {"alpha_N", "alpha_D", "kaplan_alpha_N"} <= set(metrics)
    assert all(set(v) == {"value", "step"} for v in metrics.values())
    assert metrics["alpha_D"]["value"] > 0
    plt.close(nodes.plot_scaling_laws(runs, fits))
