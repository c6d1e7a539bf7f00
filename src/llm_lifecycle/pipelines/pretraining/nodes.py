"""Pretraining nodes: thin typed wrappers over `llm_lifecycle.modeling` and `llm_lifecycle.training`.

torch and transformers are imported inside the functions: the registry (kedro viz, `kedro registry
list`) never pays for them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics
from llm_lifecycle.modeling.calculator import analyze, report_table
from llm_lifecycle.modeling.config import ModelConfig

logger = logging.getLogger(__name__)


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.05, gt=0, lt=1)
    salt: str = "pretrain"


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(24, ge=1)
    prompts: list[str] = Field(default_factory=lambda: ["Москва", "The city of"])


class FactEvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_prompts: int = Field(400, ge=1)


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: int | None = Field(None, ge=1, description="None: each config's max_position_embeddings")
    batch: int = Field(1, ge=1)
    dtype: str | None = Field("bfloat16", description="dtype of the real configs' weights and KV cache")


class PretrainingConfig(BaseModel):
    """`conf/base/parameters_pretraining.yml` (key `pretraining`). `train` is validated by
    `llm_lifecycle.training.pretraining.loop.PretrainConfig` inside the node (that module imports torch)."""

    model_config = ConfigDict(extra="forbid")

    model: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig = DataConfig()
    train: dict[str, Any] = Field(default_factory=dict)
    checkpoint_dir: str | None = "data/06_models/pretraining_checkpoints"
    measure_ceiling: bool = True
    generation: GenerationConfig = GenerationConfig()
    fact_eval: FactEvalConfig = FactEvalConfig()
    report: ReportConfig = ReportConfig()

    def model_config_for(self, tokenizer: Any) -> ModelConfig:
        """The model config with `vocab_size: null` resolved to the tokenizer's length and its special ids."""
        fields = dict(self.model)
        if fields.get("vocab_size") is None:
            fields["vocab_size"] = len(tokenizer)
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            fields.setdefault(name, getattr(tokenizer, name, None))
        return ModelConfig(**fields)


# --------------------------------------------------------------------------- architecture report


def report_architectures(
    tokenizer: Any, params: dict[str, Any], architecture_files: Mapping[str, Callable[[], dict]]
) -> tuple[pd.DataFrame, MetricsDict]:
    """Calculator table for the default model and every `conf/base/architectures/*.yml`, each checked
    against the `transformers` model instantiated on the meta device."""
    from llm_lifecycle.modeling.build import meta_numel

    cfg = PretrainingConfig.model_validate(params)
    configs = {"default": cfg.model_config_for(tokenizer)}
    for name, load in sorted(architecture_files.items()):
        data = load()
        if not isinstance(data, dict):
            raise ValueError(f"architecture file {name}: expected a mapping of ModelConfig fields")
        configs[Path(name).stem] = ModelConfig(**data)

    tables, metrics = [], {}
    for name, model_cfg in configs.items():
        # The tiny default is reported at its own (fp32, training) dtype; real configs as served.
        dtype = model_cfg.dtype if name == "default" else cfg.report.dtype
        table = report_table(model_cfg, cfg.report.context, cfg.report.batch, dtype)
        r = analyze(model_cfg, cfg.report.context, cfg.report.batch, dtype)
        built = meta_numel(model_cfg)
        if built != r.params.total:
            raise AssertionError(
                f"{name}: calculator says {r.params.total} parameters, the model has {built}"
            )
        table.loc[len(table)] = (
            "params: meta-device model",
            float(built),
            "params",
            "numel on the meta device",
        )
        tables.append(table.assign(config=name))
        metrics |= {
            f"{name}.params_total": r.params.total,
            f"{name}.params_active": r.params.active,
            f"{name}.kv_bytes_per_token": r.kv_bytes_per_token,
            f"{name}.kv_bytes_at_context": r.kv_bytes_total,
            f"{name}.gqa_ratio": r.gqa_ratio,
            f"{name}.train_flops_per_token": r.train_flops_per_token,
            f"{name}.decode_flops_per_token": r.decode_flops_per_token,
        }
        logger.info(
            "%s: %s parameters (%s active per token)", name, f"{r.params.total:,}", f"{r.params.active:,}"
        )
    report = pd.concat(tables, ignore_index=True)[["config", "quantity", "value", "unit", "note"]]
    return report, as_mlflow_metrics(metrics)


# --------------------------------------------------------------------------- data


def pack_pretraining_data(
    tokenizer: Any, filtered_documents: Sequence[Mapping[str, Any]], params: dict[str, Any]
) -> tuple[dict[str, Any], MetricsDict]:
    """Tokenize, split by document and pack into [n, block_size] blocks; the unigram baseline with them."""
    from llm_lifecycle.training.pretraining.loop import PretrainConfig
    from llm_lifecycle.training.pretraining.packing import pack_corpus

    cfg = PretrainingConfig.model_validate(params)
    train_cfg = PretrainConfig.model_validate(cfg.train)
    packed = pack_corpus(
        tokenizer,
        filtered_documents,
        train_cfg.block_size,
        val_fraction=cfg.data.val_fraction,
        salt=cfg.data.salt,
    )
    blocks = {"train": packed.train_blocks, "val": packed.val_blocks, "stats": packed.stats}
    return blocks, as_mlflow_metrics(packed.stats)


# --------------------------------------------------------------------------- training


def _run_key(model: Any, train_cfg: Any, train_blocks: Any, val_blocks: Any) -> str:
    """Checkpoint folder name: a hash of everything that changes the trajectory (pretrain.config_guard)."""
    from llm_lifecycle.training.pretraining.loop import config_guard

    guard = config_guard(model, train_cfg, train_blocks, val_blocks)
    return hashlib.sha256(json.dumps(guard, sort_keys=True).encode()).hexdigest()[:12]


def pretrain_base_model(
    pretraining_blocks: dict[str, Any], tokenizer: Any, params: dict[str, Any], seed: int
) -> tuple[tuple[Any, Any], MetricsDict, pd.DataFrame]:
    """Build the configured decoder from `seed`, pretrain it (resuming a killed run), measure MFU.

    Returns (model, tokenizer) for the versioned `base_model` entry, per-step metrics for MLflow and
    the per-step log as a table.
    """
    import torch

    from llm_lifecycle.benchmarking.ceilings import device_ceiling
    from llm_lifecycle.modeling.build import build_model
    from llm_lifecycle.modeling.calculator import parameter_counts, training_flops_per_token
    from llm_lifecycle.training.pretraining.loop import PretrainConfig, pretrain

    cfg = PretrainingConfig.model_validate(params)
    train_cfg = PretrainConfig.model_validate({"seed": seed, **cfg.train})
    model_cfg = cfg.model_config_for(tokenizer)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_model(model_cfg, seed=seed).to(device)
    train, val, stats = pretraining_blocks["train"], pretraining_blocks["val"], pretraining_blocks["stats"]

    checkpoint_dir = None
    if cfg.checkpoint_dir is not None:
        checkpoint_dir = Path(cfg.checkpoint_dir) / _run_key(model, train_cfg, train, val)
        logger.info("checkpoints in %s (a killed run started again resumes from there)", checkpoint_dir)
    peak = None
    if cfg.measure_ceiling:
        ceiling = device_ceiling(device)
        peak = ceiling.flops
        logger.info("ceiling for MFU: %.1f GFLOP/s (%s, %s)", peak / 1e9, ceiling.source, ceiling.dtype)
    flops_per_token = training_flops_per_token(model_cfg, train_cfg.block_size)

    result = pretrain(
        model, train, val, train_cfg, checkpoint_dir, flops_per_token=flops_per_token, peak_flops=peak
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
    metrics: MetricsDict = {k: v for k, v in result.history.items()}  # per step: {name: [{step, value}]}
    metrics |= as_mlflow_metrics(summary, step=result.final_step)
    log = _history_table(result.history).assign(unigram_val_loss=stats["unigram_val_cross_entropy"])
    model.to("cpu")
    return (model, tokenizer), metrics, log


def _history_table(history: Mapping[str, list[Mapping[str, float]]]) -> pd.DataFrame:
    """{name: [{step, value}]} -> one row per step, one column per metric (NaN where not logged)."""
    rows: dict[int, dict[str, float]] = {}
    for name, points in history.items():
        for point in points:
            rows.setdefault(int(point["step"]), {})[name] = float(point["value"])
    return pd.DataFrame.from_dict(rows, orient="index").sort_index().rename_axis("step").reset_index()


def plot_pretraining(pretraining_log: pd.DataFrame) -> Any:
    """Train/validation loss per step against the unigram baseline; tokens/s and MFU underneath."""
    from llm_lifecycle.training.pretraining.plots import loss_plot

    return loss_plot(pretraining_log)


# --------------------------------------------------------------------------- evaluation


def evaluate_base_model(
    base_model: Any, tokenizer: Any, params: dict[str, Any], seed: int, toy_world: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, MetricsDict]:
    """Greedy generations from fixed prompts, and toy-world fact cloze accuracy vs chance."""
    from llm_lifecycle.pipelines.toy_world.nodes import ToyWorldConfig, _world
    from llm_lifecycle.toy_world.cloze import cloze_items
    from llm_lifecycle.training.pretraining.evaluation import cloze_summary, generate_samples, score_cloze

    cfg = PretrainingConfig.model_validate(params)
    world_cfg = ToyWorldConfig.model_validate(toy_world)
    base_model.eval()
    samples = generate_samples(
        base_model, tokenizer, cfg.generation.prompts, cfg.generation.max_new_tokens, seed=seed
    )
    items = cloze_items(_world(seed, world_cfg), seed=seed, max_items=cfg.fact_eval.max_prompts)
    scored = score_cloze(base_model, tokenizer, items)
    summary = cloze_summary(scored)
    logger.info(
        "fact cloze: accuracy %.3f vs chance %.3f over %d prompts",
        summary["accuracy"],
        summary["chance"],
        len(scored),
    )
    return samples, scored, as_mlflow_metrics(summary)
