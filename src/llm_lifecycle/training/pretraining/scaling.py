"""The scaling-law sweep: every model size × every token budget, trained from scratch on a CPU.

Design
------
Kaplan et al. 2020 ("Scaling Laws for Neural Language Models") measure the loss as a function of the
number of non-embedding parameters N and of training tokens D; Hoffmann et al. 2022 ("Training
Compute-Optimal Large Language Models", Chinchilla) fit L(N, D) to a grid of such runs to find the
compute-optimal N for a FLOP budget C ≈ 6·N·D. This module produces the grid; `scaling_fits` holds the
laws and `scaling_analysis` fits them to the runs.

For every size in `ScalingLawsSettings.sizes` and every budget D in `ScalingLawsSettings.token_budgets`,
`run_sweep` builds a fresh LLaMA-style model (`modeling.build_model`, seeded: all runs of a size start
from the same weights) and trains it with the project's own pretraining loop (`loop.pretrain`) for
max_steps = D / tokens_per_step, with the cosine schedule over exactly that horizon. That is
Chinchilla's correction to Kaplan: a schedule longer than the run would leave short runs at a high
learning rate and make them look worse than they are. Every run sees the same data order (same seed), so
runs differ only in size and length. No checkpoints. One row per run: the non-embedding N, total
parameters, D, C = 6·N·D, the final validation loss on held-out documents, the wall time.

The training settings are the pretraining loop's own `PretrainLoopSettings`, as the `train` block: same keys,
same defaults, same validation as the `train` block of `parameters_pretraining.yml`. The sweep sets the
keys that differ per run or make no sense here (`SWEEP_SET_KEYS`) and refuses them in the block.

Honest expectations: these are models of 10^4–10^6 parameters trained on 10^5 tokens of a synthetic
corpus, far from the regime where the papers measured. The input embedding and LM head dominate both
the parameter count and the FLOPs of such small models (the `flops_calc` column counts them), and the
losses are still falling fast, so the exponents will not equal Kaplan's and the fitted L(N, D) is only
a summary of this grid.

`ScalingLawsSettings` imports neither torch nor scipy (parameters are validated before any node runs, and the
pipeline registry imports this module); `run_sweep` imports torch, the model builder and the loop inside.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llm_lifecycle.modeling.calculator import parameter_counts, training_flops_per_token
from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# PretrainLoopSettings keys the sweep sets for each run, and why they may not appear in the `train` block.
SWEEP_SET_KEYS = {
    "max_steps": "each run's token budget / tokens per step",
    "warmup_steps": "warmup_fraction of each run's steps",
    "eval_every": "each run is evaluated at initialisation and at its end",
    "checkpoint_every": "the sweep keeps no checkpoints",
    "keep_checkpoints": "the sweep keeps no checkpoints",
    "seed": "params:seed",
}


class ScalingLawsSettings(BaseModel):
    """`conf/base/parameters_scaling_laws.yml` (key `scaling_laws`).

    `sizes`: ModelSettings overrides per model size, on top of `base_model` (a size may carry a `name`;
    otherwise it is named `h<hidden>_l<layers>`). `vocab_size` and the special token ids come from the
    tokenizer, `max_position_embeddings` defaults to the block size. `train`: the pretraining loop's
    settings, less `SWEEP_SET_KEYS`.
    """

    model_config = ConfigDict(extra="forbid")

    sizes: list[dict[str, Any]] = Field(..., min_length=2, description="ModelSettings overrides, per size")
    base_model: dict[str, Any] = Field(default_factory=dict, description="ModelSettings overrides, all sizes")
    token_budgets: list[int] = Field(..., min_length=2, description="training tokens D of each run")
    compute_budgets: list[float] = Field(
        default_factory=lambda: [1e10, 1e11, 1e12], description="FLOPs C for the compute-optimal question"
    )
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="share of each run's steps")
    train: PretrainLoopSettings = Field(
        default_factory=PretrainLoopSettings, description="the loop's settings"
    )
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
    def _check(self) -> ScalingLawsSettings:
        owned = sorted(self.train.model_fields_set & SWEEP_SET_KEYS.keys())
        if owned:
            reasons = "; ".join(f"train.{key}: {SWEEP_SET_KEYS[key]}" for key in owned)
            raise ValueError(f"the sweep sets these itself, remove them ({reasons})")
        step = self.train.tokens_per_step
        too_small = [d for d in self.token_budgets if d < step]
        if too_small:
            raise ValueError(f"token budgets {too_small} are below one optimizer step ({step} tokens)")
        names = [name for name, _ in self.named_sizes()]
        if len(set(names)) != len(names):
            raise ValueError(f"model sizes need distinct names, got {names}")
        for name in names:  # a misspelt field fails here, naming the size
            try:
                self.model_config_for(name)
            except ValueError as err:
                raise ValueError(f"size {name!r}: {err}") from err
        return self

    def named_sizes(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, ModelSettings overrides) per size, in the configured order."""
        out = []
        for size in self.sizes:
            fields = {**self.base_model, **{k: v for k, v in size.items() if k != "name"}}
            name = size.get("name") or f"h{fields.get('hidden_size', 128)}_l{fields.get('n_layers', 4)}"
            out.append((str(name), fields))
        return out

    def model_config_for(
        self, name: str, vocab_size: int | None = None, overrides: Mapping[str, Any] | None = None
    ) -> ModelSettings:
        """The ModelSettings of size `name`; `max_position_embeddings` defaults to the block size."""
        fields = dict(overrides or {})
        fields.update(dict(self.named_sizes())[name])
        fields.setdefault("max_position_embeddings", self.train.block_size)
        if vocab_size is not None:
            fields["vocab_size"] = vocab_size
        return ModelSettings(**fields)

    def steps_for(self, token_budget: int) -> int:
        """Optimizer steps of a run with `token_budget` tokens (rounded to whole steps)."""
        return max(1, round(token_budget / self.train.tokens_per_step))

    def pretrain_config(self, token_budget: int, seed: int) -> PretrainLoopSettings:
        """The loop's settings for one run: `train` plus the keys the sweep sets (`SWEEP_SET_KEYS`)."""
        steps = self.steps_for(token_budget)
        per_run = {
            "max_steps": steps,
            "warmup_steps": round(self.warmup_fraction * steps),
            "eval_every": steps,  # evaluate at initialisation and at the end only
            "checkpoint_every": steps,  # never reached: `pretrain` gets no checkpoint directory
            "seed": seed,
            "log_every": min(self.train.log_every, steps),
        }
        return PretrainLoopSettings.model_validate({**self.train.model_dump(), **per_run})


def run_sweep(
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor,
    vocab_size: int,
    cfg: ScalingLawsSettings,
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
    from llm_lifecycle.training.pretraining.loop import pretrain
    from llm_lifecycle.training.pretraining.scaling_fits import FLOPS_PER_PARAM_TOKEN

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    grid = [(name, d) for name, _ in cfg.named_sizes() for d in cfg.token_budgets]
    for i, (name, budget) in enumerate(grid, start=1):
        model_cfg = cfg.model_config_for(name, vocab_size, model_overrides)
        counts = parameter_counts(model_cfg)
        train_cfg = cfg.pretrain_config(budget, seed)
        start = time.perf_counter()
        model = build_model(model_cfg, seed=seed).to(device)
        result = pretrain(model, train_blocks, val_blocks, train_cfg, progress=cfg.progress)
        wall = time.perf_counter() - start
        tokens = train_cfg.max_steps * train_cfg.tokens_per_step
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
            "steps": train_cfg.max_steps,
            "epochs": result.summary["epochs"],
            "flops": FLOPS_PER_PARAM_TOKEN * counts.non_embedding * tokens,
            "flops_calc": float(training_flops_per_token(model_cfg, train_cfg.block_size)) * tokens,
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
