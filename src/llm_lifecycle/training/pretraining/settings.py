"""Settings of the pretraining loop, importable without torch (parameters are validated before any
node runs; `loop.py` imports torch)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PretrainLoopSettings(BaseModel):
    """Parameters of the pretraining loop (`conf/base/parameters_pretraining.yml`)."""

    model_config = ConfigDict(extra="forbid")

    block_size: int = Field(256, ge=2, description="tokens per packed block (= sequence length)")
    batch_size: int = Field(16, ge=1, description="blocks per micro-batch")
    grad_accum_steps: int = Field(1, ge=1)
    max_steps: int = Field(300, ge=1, description="optimizer updates")
    lr: float = Field(3e-3, gt=0)
    min_lr: float = Field(3e-4, ge=0)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = Field(1.0, gt=0, description="max global grad norm; None disables")
    eval_every: int = Field(50, ge=1)
    eval_batches: int | None = Field(None, ge=1, description="None: the whole validation set")
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    seed: int = 0
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "auto"
    num_threads: int | None = Field(None, ge=1, description="torch.set_num_threads for the run")
    log_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _check(self) -> PretrainLoopSettings:
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        return self

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum_steps * self.block_size


def lr_at(step: int, cfg: PretrainLoopSettings) -> float:
    """Learning rate of the update with 0-based index `step`: linear warm-up, then cosine to min_lr.

    Warm-up reaches `lr` at step warmup_steps-1 (not 0 at step 0: the first update already moves);
    cosine runs from `lr` at step warmup_steps to `min_lr` at step max_steps (and stays there after).
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.max_steps:
        return cfg.min_lr
    ratio = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)
