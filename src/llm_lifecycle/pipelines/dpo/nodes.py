"""DPO node: LoRA DPO on the merged SFT model, reference = adapter disabled (`training.alignment.dpo`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm_lifecycle.metrics import MetricsDict, training_metrics
from llm_lifecycle.training.alignment.distributed import DistributedSettings
from llm_lifecycle.training.alignment.dpo import DPOTrainerSettings


class DPOSettings(BaseModel):
    """`conf/base/parameters_dpo.yml` (key `dpo`)."""

    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.1, ge=0, lt=1)
    # Monte-Carlo KL(policy || reference) after training, on answers the policy samples for held-out prompts
    kl_samples: int = Field(32, ge=0, description="0: skip")
    kl_max_new_tokens: int = Field(48, ge=1)
    train: DPOTrainerSettings = DPOTrainerSettings()
    distributed: DistributedSettings = DistributedSettings()

    @model_validator(mode="after")
    def _no_precomputed_reference_across_ranks(self) -> DPOSettings:
        # TRL writes the precomputed reference log-probs on rank 0 into a per-process temporary file that
        # the other ranks cannot open: the launch would fail after loading the model on every GPU.
        if self.distributed.num_processes > 1 and self.train.precompute_ref_log_probs:
            raise ValueError(
                "dpo.train.precompute_ref_log_probs: true does not work with dpo.distributed.num_processes "
                f"= {self.distributed.num_processes}: set it to false (LoRA's reference costs one forward)"
            )
        return self


def train_dpo_model(
    sft_model: tuple[Any, Any],
    preference_pairs: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    seed: int,
) -> tuple[tuple[Any, Any], MetricsDict]:
    """DPO of the merged SFT model `(model, tokenizer)`, with the tokenizer it was trained with.

    Returns (adapter, tokenizer) and rewards/margins/accuracy/KL metrics; the next node merges."""
    from llm_lifecycle.devices import place_for_inference
    from llm_lifecycle.training.alignment.conversations import split_train_val
    from llm_lifecycle.training.alignment.distributed import train_adapter
    from llm_lifecycle.training.alignment.policy_checks import estimate_kl
    from llm_lifecycle.training.alignment.trl_common import TrainInputs

    cfg = DPOSettings.model_validate(params)
    settings = cfg.train.model_copy(update={"seed": seed})
    if not preference_pairs:
        raise ValueError("no preference pairs to train on: see preference_metrics for what was dropped")
    train, val = split_train_val([dict(p) for p in preference_pairs], cfg.val_fraction, seed)
    model, tokenizer = sft_model
    inputs = TrainInputs(model, tokenizer, train, val)
    peft_model, history, summary = train_adapter("dpo", inputs, settings.model_dump(), cfg.distributed)
    held_out = (val or train)[: cfg.kl_samples]
    # After an `accelerate launch` the workers are gone and the adapter sits on the node's CPU model:
    # sample on the GPU.
    peft_model = place_for_inference(peft_model)
    kl = estimate_kl(peft_model, tokenizer, [p["prompt"] for p in held_out], cfg.kl_max_new_tokens, seed)
    summary |= {f"kl/{key}": value for key, value in kl.items()}
    return (peft_model, tokenizer), training_metrics(history, summary)
