"""Pretraining the base model as the pipeline does it: build from the config, train with resume, measure.

`train_base_model` puts the pieces together: the decoder built from its `ModelSettings` and the seed
(`modeling.build_model`), on the GPU when there is one; a checkpoint folder named by a fingerprint of
everything that decides the run (`checkpoints.run_fingerprint`), so a killed run started again resumes and
a changed setting starts a fresh folder; MFU against a ceiling measured in the same run
(`benchmarking.ceilings`) with the calculator's FLOPs per token; and the summary the report card and
MLflow show beside the per-step history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

logger = logging.getLogger(__name__)


@dataclass
class BaseModelRun:
    model: Any  # on the CPU, ready for save_pretrained
    history: dict[str, list[dict[str, float | int]]]  # per step, MlflowMetricsHistoryDataset format
    summary: dict[str, float]
    final_step: int
    log: pd.DataFrame  # one row per step
    state_dict: dict[str, Any] | None = None  # full weights gathered from the ranks (FSDP), else None


def history_table(history: Mapping[str, list[Mapping[str, float]]]) -> pd.DataFrame:
    """{name: [{step, value}]} -> one row per step, one column per metric (NaN where not logged)."""
    rows: dict[int, dict[str, float]] = {}
    for name, points in history.items():
        for point in points:
            rows.setdefault(int(point["step"]), {})[name] = float(point["value"])
    return pd.DataFrame.from_dict(rows, orient="index").sort_index().rename_axis("step").reset_index()


def train_base_model(
    model_cfg: ModelSettings,
    blocks: Mapping[str, Any],
    cfg: PretrainLoopSettings,
    checkpoint_root: str | None,
    measure_ceiling: bool,
    *,
    parallel: Any = None,
) -> BaseModelRun:
    """Pretrain a fresh decoder (seeded with `cfg.seed`) on `blocks` (`{"train", "val", "stats"}` from
    `packing.pack_corpus`, or memory-mapped `shards.ShardBlocks`); see the module docstring.

    `parallel` (`parallel.Parallel`): this process is one rank of a data-parallel job (started by
    `pretraining.distributed`); the returned model is then the unwrapped module, its `state_dict`
    gathered from every rank into `BaseModelRun.state_dict`."""
    import torch

    from llm_lifecycle.benchmarking.ceilings import device_ceiling
    from llm_lifecycle.modeling.build import build_model
    from llm_lifecycle.modeling.calculator import parameter_counts, training_flops_per_token
    from llm_lifecycle.training.pretraining.checkpoints import run_fingerprint
    from llm_lifecycle.training.pretraining.loop import pretrain
    from llm_lifecycle.training.pretraining.parallel import Parallel

    par = parallel or Parallel()
    device = par.accelerator.device if par.active else "cuda" if torch.cuda.is_available() else "cpu"
    model = build_model(model_cfg, seed=cfg.seed).to(device)
    train, val, stats = blocks["train"], blocks["val"], blocks["stats"]
    checkpoint_dir = None
    if checkpoint_root is not None:
        checkpoint_dir = Path(checkpoint_root) / run_fingerprint(model, cfg, train, val, par.world)
        logger.info("checkpoints in %s (a killed run started again resumes from there)", checkpoint_dir)
    peak = None
    if measure_ceiling:
        ceiling = device_ceiling(device)
        peak = ceiling.flops
        logger.info("ceiling for MFU: %.1f GFLOP/s (%s, %s)", peak / 1e9, ceiling.source, ceiling.dtype)
    flops_per_token = training_flops_per_token(model_cfg, cfg.block_size)
    result = pretrain(
        model,
        train,
        val,
        cfg,
        checkpoint_dir,
        flops_per_token=flops_per_token,
        peak_flops=peak,
        progress=par.is_main,
        parallel=par,
    )
    counts = parameter_counts(model_cfg)
    summary = {
        **result.summary,
        "params_total": counts.total,
        "params_active": counts.active,
        "flops_per_token": flops_per_token,
        "unigram_val_loss": stats["unigram_val_cross_entropy"],
        "uniform_val_loss": stats["uniform_cross_entropy"],
        "final_step": result.final_step,
    }
    if peak is not None:
        summary["peak_flops"] = peak
    if "val_loss_final" in summary:
        summary["val_loss_below_unigram"] = stats["unigram_val_cross_entropy"] - summary["val_loss_final"]
    if par.active:
        summary["world_size"] = par.world
    log = history_table(result.history).assign(unigram_val_loss=stats["unigram_val_cross_entropy"])
    state_dict = par.full_state_dict(result.model)  # a collective under FSDP: every rank gathers
    model = par.unwrap(result.model)
    return BaseModelRun(model.to("cpu"), result.history, summary, result.final_step, log, state_dict)
