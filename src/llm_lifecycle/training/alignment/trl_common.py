"""The plumbing every TRL stage shares: LoRA and trainer settings, the inputs, the trainer's arguments, the
metrics history, and merging the adapter.

SFT (`sft.py`), DPO (`dpo.py`), the reward model (`reward.py`) and RLOO (`rloo.py`) each read as a
settings/trainer pair of TRL's shape: a pydantic settings class that extends `TrainerSettings`, a
`build_*_trainer(inputs, settings, output_dir)` that returns the configured TRL trainer, and a
`train_*(...)` that trains it and returns a `TrainResult`. What they have in common lives here:

- **LoRA** (Hu et al. 2021): `LoraSettings.to_peft` builds the `peft.LoraConfig`; every stage trains a
  fresh adapter on frozen weights, so the reference policy of DPO and RLOO is the same model with the
  adapter switched off.
- **Trainer arguments** (`common_trainer_args`): TRL's own defaults (bf16 on, gradient checkpointing on,
  lr 2e-5) are overridden explicitly, so the CPU path is the fast one: `bf16="auto"` is bf16 only on a
  CUDA GPU that supports it (CPUs here train ~15x slower in bf16 without AVX-512 BF16); `max_steps:
  null` trains `epochs` passes over the data the trainer kept; nothing is saved by the trainer
  (`save_strategy="no"`, the catalog owns every output) and nothing is reported by it (`report_to:
  none`, so kedro-mlflow logs each metric once).
- **Metrics** (`log_history_to_metrics`): `trainer.state.log_history` becomes kedro-mlflow's
  `MlflowMetricsHistoryDataset` format `{name: [{"step", "value"}]}` with names `train/<key>` and
  `eval/<key>`; the end-of-training summary (`train_runtime`, ...) is returned apart.

torch, transformers, trl and peft are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)

MetricsHistory = dict[str, list[dict[str, float | int]]]

# Keys of the last `log_history` entry (the end-of-training summary), not per-step metrics.
_FINAL_KEYS = (
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "total_flos",
    "train_loss",
)
_NOT_METRICS = ("step", "epoch")
# Per-call timing of an evaluation: noise next to the metrics, left out of the history.
_TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second")


class LoraSettings(BaseModel):
    """LoRA adapter settings shared by SFT, DPO, the reward model and RLOO (`peft.LoraConfig`)."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1)
    alpha: float = Field(32, gt=0, description="scale of the update is alpha / r")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = Field(
        "all-linear", description='"all-linear" (every linear layer but the LM head) or module names'
    )

    def to_peft(self, task_type: str = "CAUSAL_LM", model: Any = None) -> LoraConfig:
        """The `peft.LoraConfig`; `task_type="SEQ_CLS"` (reward model) also trains the new score head.

        For a Mixture-of-Experts `model` (transformers 5 stores each layer's experts as 3-D tensors), peft
        adapts the experts with `ParamWrapper`, which cannot apply dropout to its input: the dropout is
        then 0 for the whole adapter, with a warning, rather than a failed run."""
        from peft import LoraConfig

        dropout = self.dropout
        if dropout and model is not None and any(p.ndim == 3 for p in model.parameters()):
            logger.warning(
                "LoRA dropout %g -> 0: the model's experts are 3-D tensors, which peft adapts without it",
                dropout,
            )
            dropout = 0.0
        return LoraConfig(
            task_type=task_type,
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=dropout,
            target_modules=self.target_modules,
            bias="none",
        )


class TrainerSettings(BaseModel):
    """Optimisation and logging settings common to the four trainers (each stage's settings extend it)."""

    model_config = ConfigDict(extra="forbid")

    lora: LoraSettings = Field(default_factory=LoraSettings)
    batch_size: int = Field(4, ge=1, description="per device")
    eval_batch_size: int | None = Field(None, ge=1, description="per device; None: batch_size")
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(2e-4, gt=0)
    max_steps: int | None = Field(1000, ge=1, description="optimizer steps; None: `epochs` over the data")
    epochs: float = Field(1.0, gt=0, description="passes over the training data when max_steps is None")
    max_length: int = Field(512, ge=8, description="tokens with the chat template")
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0)
    eval_steps: int = Field(100, ge=1)
    eval_on_start: bool = Field(True, description="evaluate before the first step (baseline eval loss)")
    logging_steps: int = Field(10, ge=1)
    seed: int = 42
    bf16: bool | Literal["auto"] = "auto"
    gradient_checkpointing: bool = False

    @property
    def length(self) -> str:
        """How long training runs, in words (for logs)."""
        return f"{self.max_steps} steps" if self.max_steps is not None else f"{self.epochs:g} epoch(s)"


@dataclass
class TrainInputs:
    """What a stage trains on: the model (wrapped in place with a new adapter: load a fresh copy if the
    original is needed), its tokenizer, the training examples, and the held-out ones (None or empty: no
    evaluation)."""

    model: Any
    tokenizer: Any
    train: Sequence[Mapping[str, Any]]
    val: Sequence[Mapping[str, Any]] | None = None

    @property
    def has_eval(self) -> bool:
        return bool(self.val)


@dataclass
class TrainResult:
    """What every stage's `train_*` returns."""

    model: Any  # peft.PeftModel: the model with the trained LoRA adapter, unwrapped, in eval mode
    history: MetricsHistory  # MlflowMetricsHistoryDataset format
    summary: dict[str, Any] = field(default_factory=dict)
    # The trainer itself, for `trainer.save_model` (collective under FSDP/DeepSpeed: every rank calls it)
    trainer: Any = field(default=None, repr=False)


def resolve_bf16(setting: bool | str) -> bool:
    """`"auto"` -> True only on a CUDA device that supports bf16; booleans pass through."""
    if setting != "auto":
        return bool(setting)
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def common_trainer_args(cfg: TrainerSettings, output_dir: str, has_eval: bool) -> dict[str, Any]:
    """Keyword arguments shared by `SFTConfig` and `DPOConfig` (TRL's non-default defaults overridden)."""
    import torch

    bf16 = resolve_bf16(cfg.bf16)
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": cfg.batch_size,
        "per_device_eval_batch_size": cfg.eval_batch_size or cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.lr,
        # -1: the trainer derives the steps from `num_train_epochs` and the data actually left after
        # its own filtering (too-long rows), so "one epoch" stays one epoch of what survived.
        "max_steps": cfg.max_steps if cfg.max_steps is not None else -1,
        "num_train_epochs": cfg.epochs,
        "lr_scheduler_type": cfg.lr_scheduler_type,
        # transformers 5 dropped `warmup_ratio`: a float in [0, 1) for `warmup_steps` is a ratio.
        "warmup_steps": float(cfg.warmup_ratio) if cfg.warmup_ratio > 0 else 0,
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm if cfg.max_grad_norm is not None else 0.0,
        "logging_steps": cfg.logging_steps,
        "logging_first_step": True,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": cfg.eval_steps if has_eval else None,
        "eval_on_start": bool(has_eval and cfg.eval_on_start),
        "save_strategy": "no",
        "report_to": "none",
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "bf16": bf16,
        "fp16": False,
        # transformers 5 name; TRL's own default (`gradient_checkpointing=True`) yields to it.
        "activation_checkpointing": cfg.gradient_checkpointing,
        "dataloader_pin_memory": torch.cuda.is_available(),
        # Without CUDA, say so: under `accelerate launch` this selects CPU ranks with the gloo backend.
        "use_cpu": not torch.cuda.is_available(),
        "ddp_find_unused_parameters": False,  # every LoRA parameter gets a gradient every step
        "max_length": cfg.max_length,
    }


def log_history_to_metrics(log_history: list[dict[str, Any]]) -> tuple[MetricsHistory, dict[str, float]]:
    """(per-step metrics in MlflowMetricsHistoryDataset format, end-of-training summary values).

    `eval_<key>` becomes `eval/<key>`, any other per-step key `train/<key>` (`loss`, `learning_rate`,
    `grad_norm`, DPO's `rewards/margins`, ...); evaluation timings are dropped. Non-finite values are left
    out (MLflow refuses them) and counted in the log. The end-of-training entry (`train_runtime`,
    `train_loss`, ...) goes to the second dict.
    """
    history: MetricsHistory = {}
    final: dict[str, float] = {}
    n_non_finite = 0
    for entry in log_history:
        step = int(entry.get("step", 0))
        for key, value in entry.items():
            if key in _NOT_METRICS or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if key in _FINAL_KEYS:
                final[key] = float(value)
                continue
            if key.endswith(_TIMING_SUFFIXES):
                continue
            if not math.isfinite(value):
                n_non_finite += 1
                continue
            name = f"eval/{key.removeprefix('eval_')}" if key.startswith("eval_") else f"train/{key}"
            history.setdefault(name, []).append({"step": step, "value": float(value)})
    if n_non_finite:
        logger.warning("left %d non-finite logged values out of the metrics history", n_non_finite)
    return history, final


def last_logged(history: MetricsHistory, name: str) -> float | None:
    """The last value logged under `name`, or None."""
    series = history.get(name)
    return series[-1]["value"] if series else None


def first_logged(history: MetricsHistory, name: str) -> float | None:
    """The first value logged under `name`, or None."""
    series = history.get(name)
    return series[0]["value"] if series else None


def count_parameters(model: Any) -> dict[str, int | float]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {
        "trainable_params": trainable,
        "total_params": total,
        "trainable_share": trainable / max(total, 1),
    }


def training_steps_seconds(log_history: list[dict[str, Any]]) -> float | None:
    """`train_runtime` less the evaluations that ran inside it: the seconds spent on training steps."""
    eval_s = 0.0
    for entry in log_history:
        if "train_runtime" in entry:
            return float(entry["train_runtime"]) - eval_s
        eval_s += float(entry.get("eval_runtime", 0.0))
    return None


def finish_training(trainer: Any, has_eval: bool, eval_steps: int) -> None:
    """Evaluate once more at the end unless the last step was just evaluated."""
    if has_eval and trainer.state.global_step % eval_steps != 0:
        trainer.evaluate()


def run_trainer(trainer: Any, has_eval: bool, eval_steps: int) -> tuple[Any, MetricsHistory, dict, float]:
    """Train, run the final evaluation, and return (unwrapped model in eval mode, history, final, wall s).

    Every stage ends the same way; only their summaries differ.
    """
    start = time.perf_counter()
    trainer.train()
    finish_training(trainer, has_eval, eval_steps)
    wall = time.perf_counter() - start
    history, final = log_history_to_metrics(trainer.state.log_history)
    final["train_steps_runtime"] = training_steps_seconds(trainer.state.log_history)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.eval()
    return model, history, final, wall


def merge_adapter(peft_model: PeftModel) -> PreTrainedModel:
    """The plain `transformers` model with the LoRA update folded into the base weights (`W + alpha/r · BA`).

    In place: the base weights of `peft_model` become the merged ones and `peft_model` is unusable after
    (an 8B model is never copied; copy it first if both are needed). TRL's per-instance `forward` patch (a
    fused LM-head path used only in training) is removed, so the result behaves as a freshly loaded model
    and saves with `save_pretrained` like any checkpoint.
    """
    merged = peft_model.merge_and_unload()
    if "forward" in vars(merged):
        del merged.forward  # back to the class's forward
    merged.eval()
    return merged
