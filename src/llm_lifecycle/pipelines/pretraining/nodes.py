"""Pretraining nodes: thin typed wrappers over `llm_lifecycle.modeling` and `training.pretraining`.

torch and transformers are imported inside the functions: the registry (kedro viz, `kedro registry
list`) never pays for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics
from llm_lifecycle.modeling.config import ModelSettings, ModelSettingsForTokenizer
from llm_lifecycle.training.launch import DistributedSettings
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

logger = logging.getLogger(__name__)


class PackingSettings(BaseModel):
    """`pretraining.data`: how documents become training blocks (`training.pretraining.data`)."""

    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.05, gt=0, lt=1)
    salt: str = "pretrain"
    format: Literal["memory", "shards"] = Field(
        "memory",
        description="memory: one tensor in this process; shards: datatrove token files, memory-mapped",
    )
    shards_dir: str = Field(
        "data/toy/04_feature/token_shards", description="shards: <shards_dir>/<fingerprint of the inputs>/"
    )
    executor: Literal["local", "slurm", "ray"] = Field("local", description="shards: the datatrove executor")
    datatrove: dict[str, Any] = Field(
        default_factory=lambda: {"tasks": 1, "workers": 1},
        description="shards: tasks, workers, work_dir, local/slurm/ray options (as data_filtering.datatrove)",
    )

    def executor_settings(self) -> Any:
        """`filtering.executors.ExecutorSettings` of the tokenization (the filter's schema)."""
        from llm_lifecycle.filtering.executors import ExecutorSettings

        return ExecutorSettings(kind=self.executor, **self.datatrove)


class SampleGenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(24, ge=1)
    prompts: list[str] = Field(default_factory=lambda: ["Москва", "The city of"])


class FactEvalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="the toy world's fact cloze; off for a real corpus")
    max_prompts: int = Field(400, ge=1)


class ArchitectureReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: int | None = Field(None, ge=1, description="None: each config's max_position_embeddings")
    batch: int = Field(1, ge=1)
    dtype: str | None = Field("bfloat16", description="dtype of the real configs' weights and KV cache")


class PretrainingSettings(BaseModel):
    """`conf/base/parameters_pretraining.yml` (key `pretraining`)."""

    model_config = ConfigDict(extra="forbid")

    model: ModelSettingsForTokenizer = ModelSettingsForTokenizer()
    data: PackingSettings = PackingSettings()
    train: PretrainLoopSettings = PretrainLoopSettings()
    checkpoint_dir: str | None = "data/toy/06_models/pretraining_checkpoints"
    measure_ceiling: bool = True
    distributed: DistributedSettings = DistributedSettings()
    generation: SampleGenerationSettings = SampleGenerationSettings()
    fact_eval: FactEvalSettings = FactEvalSettings()
    report: ArchitectureReportSettings = ArchitectureReportSettings()


def report_architectures(
    tokenizer: Any, params: dict[str, Any], architecture_files: Mapping[str, Callable[[], dict]]
) -> tuple[pd.DataFrame, MetricsDict]:
    """Calculator table for the default model and every `conf/base/architectures/*.yml`, each checked
    against the `transformers` model instantiated on the meta device."""
    from llm_lifecycle.modeling.report import architecture_report

    cfg = PretrainingSettings.model_validate(params)
    configs = {"default": cfg.model.for_tokenizer(tokenizer)}
    for name, load in sorted(architecture_files.items()):
        data = load()
        if not isinstance(data, dict):
            raise ValueError(f"architecture file {name}: expected a mapping of ModelSettings fields")
        configs[Path(name).stem] = ModelSettings(**data)
    # The tiny default is reported at its own (fp32, training) dtype; real configs as served.
    dtypes = {name: c.dtype if name == "default" else cfg.report.dtype for name, c in configs.items()}
    table, metrics = architecture_report(configs, cfg.report.context, cfg.report.batch, dtypes)
    return table, as_mlflow_metrics(metrics)


def pack_pretraining_data(
    tokenizer: Any, filtered_documents: Sequence[Mapping[str, Any]], params: dict[str, Any]
) -> tuple[dict[str, Any], MetricsDict]:
    """Tokenize, split by document and pack into [n, block_size] blocks; the unigram baseline with them.

    `data.format: shards`: datatrove token files under `data.shards_dir`, memory-mapped blocks."""
    from llm_lifecycle.training.pretraining.packing import pack_corpus

    cfg = PretrainingSettings.model_validate(params)
    if cfg.data.format == "shards":
        from llm_lifecycle.training.pretraining.data import token_shards
        from llm_lifecycle.training.pretraining.shards import open_shard_blocks

        folder = token_shards(
            tokenizer,
            filtered_documents,
            cfg.data.shards_dir,
            val_fraction=cfg.data.val_fraction,
            salt=cfg.data.salt,
            executor=cfg.data.executor_settings(),
        )
        blocks = open_shard_blocks(folder, cfg.train.block_size)
        return blocks, as_mlflow_metrics(blocks["stats"])
    packed = pack_corpus(
        tokenizer,
        filtered_documents,
        cfg.train.block_size,
        val_fraction=cfg.data.val_fraction,
        salt=cfg.data.salt,
    )
    blocks = {"train": packed.train_blocks, "val": packed.val_blocks, "stats": packed.stats}
    return blocks, as_mlflow_metrics(packed.stats)


def pretrain_base_model(
    pretraining_blocks: dict[str, Any], tokenizer: Any, params: dict[str, Any], seed: int
) -> tuple[tuple[Any, Any], MetricsDict, pd.DataFrame]:
    """Build the configured decoder from `seed`, pretrain it (resuming a killed run), measure MFU.

    With `distributed.num_processes > 1` the ranks run under `accelerate launch` (DDP, or FSDP from the
    accelerate config) and this node gets back what rank 0 saved. Returns (model, tokenizer) for the
    versioned `base_model` entry, per-step metrics for MLflow and the per-step log as a table.
    """
    from llm_lifecycle.training.pretraining.base_model import train_base_model
    from llm_lifecycle.training.pretraining.distributed import train_distributed

    cfg = PretrainingSettings.model_validate(params)
    model_cfg, loop = cfg.model.for_tokenizer(tokenizer), cfg.train.model_copy(update={"seed": seed})
    if cfg.distributed.num_processes > 1:
        run = train_distributed(
            model_cfg,
            pretraining_blocks,
            loop,
            checkpoint_root=cfg.checkpoint_dir,
            measure_ceiling=cfg.measure_ceiling,
            settings=cfg.distributed,
        )
    else:
        run = train_base_model(model_cfg, pretraining_blocks, loop, cfg.checkpoint_dir, cfg.measure_ceiling)
    metrics: MetricsDict = dict(run.history)  # per step: {name: [{step, value}]}
    metrics |= as_mlflow_metrics(run.summary, step=run.final_step)
    return (run.model, tokenizer), metrics, run.log


def plot_pretraining(pretraining_log: pd.DataFrame) -> Any:
    """Train/validation loss per step against the unigram baseline; tokens/s and MFU underneath."""
    from llm_lifecycle.training.pretraining.plots import loss_plot

    return loss_plot(pretraining_log)


# --------------------------------------------------------------------------- evaluation


def evaluate_base_model(
    base_model: Any, tokenizer: Any, params: dict[str, Any], seed: int, toy_world: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, MetricsDict]:
    """Greedy generations from fixed prompts, and toy-world fact cloze accuracy vs chance."""
    from llm_lifecycle.toy_world.cloze import cloze_items
    from llm_lifecycle.toy_world.config import ToyWorldSettings, world_from_config
    from llm_lifecycle.training.pretraining.evaluation import cloze_summary, generate_samples, score_cloze

    cfg = PretrainingSettings.model_validate(params)
    world_cfg = ToyWorldSettings.model_validate(toy_world)
    base_model.eval()
    samples = generate_samples(
        base_model, tokenizer, cfg.generation.prompts, cfg.generation.max_new_tokens, seed=seed
    )
    if not cfg.fact_eval.enabled:  # a real corpus has no toy-world facts to ask about
        return samples, pd.DataFrame(), {}
    items = cloze_items(world_from_config(seed, world_cfg), seed=seed, max_items=cfg.fact_eval.max_prompts)
    scored = score_cloze(base_model, tokenizer, items)
    summary = cloze_summary(scored)
    logger.info(
        "fact cloze: accuracy %.3f vs chance %.3f over %d prompts",
        summary["accuracy"],
        summary["chance"],
        len(scored),
    )
    return samples, scored, as_mlflow_metrics(summary)
