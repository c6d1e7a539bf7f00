"""Scaling-law nodes: thin typed wrappers over `llm_lifecycle.training.pretraining.scaling*`.

torch (the sweep), scipy (the fits) and matplotlib (the plot) are imported inside the functions: the
registry (kedro viz, `kedro registry list`) never pays for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics
from llm_lifecycle.training.pretraining.scaling import ScalingLawsSettings, run_sweep

logger = logging.getLogger(__name__)


def run_scaling_sweep(
    tokenizer: Any, filtered_documents: Sequence[Mapping[str, Any]], params: dict[str, Any], seed: int
) -> pd.DataFrame:
    """Pack the corpus (split by document, as pretraining does) and train every size × token budget."""
    from llm_lifecycle.training.pretraining.packing import pack_corpus

    cfg = ScalingLawsSettings.model_validate(params)
    packed = pack_corpus(
        tokenizer,
        filtered_documents,
        cfg.train.block_size,
        val_fraction=cfg.val_fraction,
        salt=cfg.split_salt,
    )
    special = {
        name: getattr(tokenizer, name, None) for name in ("bos_token_id", "eos_token_id", "pad_token_id")
    }
    runs = run_sweep(
        packed.train_blocks,
        packed.val_blocks,
        len(tokenizer),
        cfg,
        seed,
        model_overrides=special,
    )
    return runs.assign(
        train_corpus_tokens=packed.stats["train_tokens"],
        unigram_val_loss=packed.stats["unigram_val_cross_entropy"],
    )


def fit_scaling_laws(
    scaling_law_runs: pd.DataFrame, params: dict[str, Any]
) -> tuple[pd.DataFrame, MetricsDict]:
    """Power laws L(N), L(D), the parametric L(N, D) and the compute-optimal N of each budget."""
    from llm_lifecycle.training.pretraining import scaling_analysis

    cfg = ScalingLawsSettings.model_validate(params)
    fits, metrics = scaling_analysis.fit_scaling_laws(scaling_law_runs, cfg.compute_budgets)
    return fits, as_mlflow_metrics(metrics)


def plot_scaling_laws(scaling_law_runs: pd.DataFrame, scaling_law_fits: pd.DataFrame) -> Any:
    """Log-log L(N), L(D) and L(C) with the fitted laws (a matplotlib Figure)."""
    from llm_lifecycle.training.pretraining.scaling_plots import scaling_plot

    return scaling_plot(scaling_law_runs, scaling_law_fits)
