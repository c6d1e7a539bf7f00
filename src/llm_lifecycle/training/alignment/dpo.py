"""Direct Preference Optimization (Rafailov et al. 2023) with a LoRA adapter on the merged SFT model.

Design
------
- **Loss.** For a prompt x with a chosen answer y_w and a rejected one y_l, DPO minimises
  `-log σ(β · [(log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))])` ("sigmoid"; TRL's
  other `loss_type`s such as "ipo" or "hinge" can be chosen). β (0.1 by default) sets how far the policy
  may move from the reference: the implicit reward of an answer is β times its log-probability ratio.
- **Reference without a second copy.** The policy is the merged SFT model plus a fresh LoRA adapter
  (`LoraSettings`, the same settings as SFT); with `ref_model=None` and a `peft_config`, TRL computes
  the reference log-probabilities with the adapter disabled, i.e. with the SFT model itself. So the
  reference costs one extra no-grad forward per step but no memory for a second set of weights
  (`trainer.ref_model is None`, which `build_dpo_trainer` checks). At step 0 the adapter's B matrices
  are zero, so policy == reference and every reward starts at 0.
- **Data.** TRL's conversational preference format: `{"prompt": [messages ending on a user turn],
  "chosen": [{"role": "assistant", "content": ...}], "rejected": [...]}` (`preferences.preference_pair`
  builds it, `preferences.validate_pairs` checks it). TRL renders prompt+answer with the chat template, so the
  answer tokens are the bot's text and its `</s>` exactly as at inference. Pairs whose prompt alone fills
  `max_length` are dropped by TRL; the longer ones are truncated at the end (`keep_start`).
- **Metrics** (`trainer.state.log_history` -> `{name: [{"step", "value"}]}` as in SFT): `train/loss`,
  `train/rewards/chosen` and `train/rewards/rejected` (β · mean log-ratio policy/reference, i.e. the
  implicit rewards; their per-sequence log-ratios are the sample estimate of the KL between policy and
  reference on those answers), `train/rewards/margins` (chosen - rejected), `train/rewards/accuracies`
  (share of pairs with chosen reward > rejected), `train/logps/chosen` and `train/logps/rejected` (policy
  sequence log-probabilities), `train/logits/*`, `train/entropy`, `train/mean_token_accuracy`, and the
  same under `eval/`. TRL 1.16 logs no separate `kl` metric for DPO.
- **Batches.** Each pair is two rows (prompt + chosen, prompt + rejected), padded to the longest row of
  the batch. With random batches 42% of the toy run's rows were padding; `sampling: group_by_length`
  gives each tokenized pair a `length` column (prompt + its longer answer, in tokens) and lets
  transformers' `LengthGroupedSampler` batch pairs of similar length (as SFT does), 1.8x faster per
  step here. TRL's column pruning would drop `length`, so it is off when grouping (the collator reads
  only the columns it knows).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, model_validator

from llm_lifecycle.training.alignment.preferences import validate_pairs
from llm_lifecycle.training.alignment.trl_common import (
    TrainerSettings,
    TrainInputs,
    TrainResult,
    common_trainer_args,
    count_parameters,
    first_logged,
    last_logged,
    run_trainer,
)

logger = logging.getLogger(__name__)


class DPOTrainerSettings(TrainerSettings):
    """Parameters of `conf/base/parameters_dpo.yml` (key `dpo.train`); LoRA and optimiser as in SFT."""

    beta: float = Field(0.1, gt=0)
    loss_type: str | list[str] = Field(
        "sigmoid", description='TRL loss name(s); ["sigmoid", "sft"] adds an NLL term on chosen (RPO)'
    )
    loss_weights: list[float] | None = Field(None, description="one weight per loss_type (None: all 1.0)")
    lr: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    precompute_ref_log_probs: bool = Field(
        False, description="reference log-probs once before training (saves a forward per step over epochs)"
    )
    sampling: Literal["random", "group_by_length"] = Field(
        "random", description="group_by_length: batches of pairs of similar token length (less padding)"
    )

    @model_validator(mode="after")
    def _weights_match_losses(self) -> DPOTrainerSettings:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_types):
            raise ValueError(
                f"loss_weights {self.loss_weights} must have one weight per loss_type {self.loss_types}"
            )
        return self

    @property
    def loss_types(self) -> list[str]:
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)


def build_dpo_trainer(inputs: TrainInputs, cfg: DPOTrainerSettings, output_dir: str) -> Any:
    """The configured `trl.DPOTrainer`: the model wrapped with a new LoRA adapter, `ref_model=None`.

    `inputs.model` is the merged SFT model, a plain `PreTrainedModel`; the pairs are validated
    (`preferences.validate_pairs`): a bad one raises naming its index."""
    import transformers
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    if isinstance(inputs.model, PeftModel):
        raise TypeError("DPO expects a plain model: merge the SFT adapter first (trl_common.merge_adapter)")
    train = validate_pairs(inputs.train, "train")
    val = validate_pairs(inputs.val or [], "val")
    if not train:
        raise ValueError("train_dpo: no training pairs")
    args = DPOConfig(
        **common_trainer_args(cfg, output_dir, bool(val)),
        beta=cfg.beta,
        loss_type=cfg.loss_types,
        loss_weights=cfg.loss_weights,
        precompute_ref_log_probs=cfg.precompute_ref_log_probs,
        train_sampling_strategy=cfg.sampling,
        # grouping reads the `length` column added below, which TRL's column pruning would remove
        remove_unused_columns=cfg.sampling == "random",
    )
    transformers.set_seed(cfg.seed)
    trainer = DPOTrainer(
        model=inputs.model,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(val) if val else None,
        processing_class=inputs.tokenizer,
        peft_config=cfg.lora.to_peft(model=inputs.model),
    )
    # The reference is the adapter-disabled policy: no second copy of the weights.
    if trainer.ref_model is not None:
        raise RuntimeError("DPO with LoRA must not hold a separate reference model")
    if cfg.sampling == "group_by_length":
        trainer.train_dataset = trainer.train_dataset.map(pair_length)
        if trainer.eval_dataset is not None:
            trainer.eval_dataset = trainer.eval_dataset.map(pair_length)
    return trainer


def pair_length(example: dict[str, Any]) -> dict[str, int]:
    """The `length` transformers' `LengthGroupedSampler` sorts by: the tokens of the pair's longer row."""
    answer = max(len(example["chosen_ids"]), len(example["rejected_ids"]))
    return {"length": len(example["prompt_ids"]) + answer}


def train_dpo(inputs: TrainInputs, cfg: DPOTrainerSettings, output_dir: str) -> TrainResult:
    """DPO with a new LoRA adapter; the reference is the same model with the adapter disabled."""
    trainer = build_dpo_trainer(inputs, cfg, output_dir)
    has_eval = trainer.eval_dataset is not None
    train, val = trainer.train_dataset, trainer.eval_dataset or []
    params = count_parameters(trainer.model)
    logger.info(
        "DPO: %d train / %d val pairs, beta=%g, loss %s, %s, %d trainable of %d parameters",
        len(train),
        len(val),
        cfg.beta,
        "+".join(cfg.loss_types),
        cfg.length,
        params["trainable_params"],
        params["total_params"],
    )
    peft_model, history, final, wall = run_trainer(trainer, has_eval, cfg.eval_steps)
    summary: dict[str, Any] = {
        "n_train": len(train),
        "n_val": len(val),
        # TRL drops pairs whose prompt alone fills max_length
        "n_dropped_too_long": len(inputs.train) + len(inputs.val or []) - len(train) - len(val),
        "steps": trainer.state.global_step,
        "wall_s": wall,
        "tokens_seen": last_logged(history, "train/num_tokens"),
        "train_runtime_s": final.get("train_runtime"),
        "train_loss_mean": final.get("train_loss"),
        "train_loss_first": first_logged(history, "train/loss"),
        "train_loss_last": last_logged(history, "train/loss"),
        "ref_model_is_none": trainer.ref_model is None,
        **params,
    }
    for split in ("train", "eval"):
        for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
            if split == "train" and key == "loss":
                continue
            name = f"{split}/{key}"
            if name in history:
                summary[f"{name}_first"] = first_logged(history, name)
                summary[f"{name}_last"] = last_logged(history, name)
    return TrainResult(model=peft_model, history=history, summary=summary, trainer=trainer)
