"""Supervised fine-tuning (SFT) with LoRA on Saiga-format conversations, through TRL's `SFTTrainer`.

Design
------
- **LoRA** (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): the base weights stay
  frozen; each targeted linear layer `W` gets a trainable low-rank update `(alpha / r) · B A` with
  `A: r × in` (random init) and `B: out × r` (zeros), so training starts exactly at the base model.
  `target_modules="all-linear"` adapts every linear layer of the decoder (attention q/k/v/o and the
  SwiGLU gate/up/down projections) but not the LM head, as Saiga-LLaMA-3 ("all projections") did.
  r=16, alpha=32, dropout 0.05 are the defaults.
- **Assistant-only loss** (Saiga's `only_target_loss`, IlyaGusev/rulm): the loss is computed on the
  bot's tokens only, the rest of the conversation (system prompt, user turns, role headers) gets label
  -100. The Saiga chat template marks the bot's text and its closing `</s>` with `{% generation %}`,
  which `apply_chat_template(return_assistant_tokens_mask=True)` turns into the mask TRL folds into the
  labels (`SFTConfig(assistant_only_loss=True)`): the model learns to answer and to stop, never to
  imitate the user. Conversations are checked and normalised to TRL roles first
  (`training.alignment.conversations`); the template renders `assistant` as Saiga's `bot`.
- **No packing** by default: each conversation is its own padded row. TRL's packing ("bfd") is
  padding-free and relies on `position_ids`/FlashAttention to keep packed conversations apart; on a
  CPU it flattens a batch into one long row and SDPA's masked attention makes it slower than padding.
  `sampling: group_by_length` (transformers' `LengthGroupedSampler`) batches conversations of similar
  length instead, which removes most of the padding (docs/benchmarks.md: SFT throughput).
- **Loss head**: TRL computes the loss through a fused, chunked LM head that never builds the logits
  (right for a 128k vocabulary on a GPU); `lm_head_loss: logits` uses the model's own cross-entropy
  instead, 1.25x faster per token for the toy model on a CPU (`training.alignment.logits_loss`).
- **Precision, metrics, saving**: as every stage (`trl_common`): bf16 on a GPU that supports it, fp32 on
  a CPU; `train/loss`, `train/mean_token_accuracy`, `eval/loss`, ... in MLflow; the catalog saves.

The model is wrapped in place (peft injects the LoRA layers into its modules and TRL patches its
`forward` with a fused LM-head path).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import model_validator

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


class SFTTrainerSettings(TrainerSettings):
    """Parameters of `conf/base/parameters_sft.yml` (key `sft.train`)."""

    packing: bool = False
    sampling: Literal["random", "group_by_length", "batch_rebalance"] = "random"
    # fused: TRL's chunked LM head (no [tokens, vocab] logits; for large vocabularies, on a GPU);
    # logits: the model's own cross-entropy over full logits (`training.alignment.logits_loss`)
    lm_head_loss: Literal["fused", "logits"] = "fused"

    @model_validator(mode="after")
    def _logits_loss_unpacked(self) -> SFTTrainerSettings:
        if self.lm_head_loss == "logits" and self.packing:
            raise ValueError(
                "sft.train: lm_head_loss 'logits' needs packing: false (the model's own loss would shift "
                "labels across the packed conversations' boundaries); use lm_head_loss: fused with packing"
            )
        return self


def sft_trainer_class(lm_head_loss: str) -> type:
    """`trl.SFTTrainer`, or for `lm_head_loss: logits` its subclass with the model's own loss
    (`training.alignment.logits_loss`)."""
    if lm_head_loss == "logits":
        from llm_lifecycle.training.alignment.logits_loss import LogitsLossSFTTrainer

        return LogitsLossSFTTrainer
    from trl import SFTTrainer

    return SFTTrainer


def build_sft_trainer(inputs: TrainInputs, cfg: SFTTrainerSettings, output_dir: str) -> Any:
    """The configured `trl.SFTTrainer` (model wrapped with LoRA, datasets tokenized, not yet trained).

    `trainer.train_dataset` holds `input_ids` and `labels` (-100 outside the assistant's tokens).
    """
    import transformers
    from datasets import Dataset
    from trl import SFTConfig

    if not inputs.train:
        raise ValueError("train_sft: no training conversations")
    args = SFTConfig(
        **common_trainer_args(cfg, output_dir, inputs.has_eval),
        assistant_only_loss=True,
        packing=cfg.packing,
        train_sampling_strategy=cfg.sampling,
    )
    transformers.set_seed(cfg.seed)  # the LoRA A matrices are drawn when the trainer wraps the model
    return sft_trainer_class(cfg.lm_head_loss)(
        model=inputs.model,
        args=args,
        train_dataset=Dataset.from_list(list(inputs.train)),
        eval_dataset=Dataset.from_list(list(inputs.val)) if inputs.has_eval else None,
        processing_class=inputs.tokenizer,
        peft_config=cfg.lora.to_peft(model=inputs.model),
    )


def train_sft(inputs: TrainInputs, cfg: SFTTrainerSettings, output_dir: str) -> TrainResult:
    """LoRA SFT on TRL conversational examples `{"messages": [...]}` (see the module docstring).

    The examples come from `conversations.check_conversations` (roles already normalised). Returns the
    `PeftModel`, the metrics history and a summary (steps, runtime, tokens/s, first/last train loss,
    start/final eval loss, parameter counts).
    """
    trainer = build_sft_trainer(inputs, cfg, output_dir)
    params = count_parameters(trainer.model)
    logger.info(
        "SFT: %d train / %d val conversations, %s, LoRA r=%d on %s: %d trainable of %d parameters",
        len(inputs.train),
        len(inputs.val or []),
        cfg.length,
        cfg.lora.r,
        cfg.lora.target_modules,
        params["trainable_params"],
        params["total_params"],
    )
    peft_model, history, final, wall = run_trainer(trainer, inputs.has_eval, cfg.eval_steps)
    tokens = last_logged(history, "train/num_tokens")
    summary = {
        "n_train": len(inputs.train),
        "n_val": len(inputs.val or []),
        "steps": trainer.state.global_step,
        "wall_s": wall,
        "train_runtime_s": final.get("train_runtime"),
        "train_loss_mean": final.get("train_loss"),
        "train_loss_first": first_logged(history, "train/loss"),
        "train_loss_last": last_logged(history, "train/loss"),
        "eval_loss_start": first_logged(history, "eval/loss"),
        "eval_loss_final": last_logged(history, "eval/loss"),
        "mean_token_accuracy_last": last_logged(history, "train/mean_token_accuracy"),
        "tokens_seen": tokens,
        # non-padding tokens per second of training steps (the evaluations inside `train()` left out)
        "tokens_per_s": tokens / steps_s
        if tokens and (steps_s := final.get("train_steps_runtime"))
        else None,
        **params,
    }
    return TrainResult(model=peft_model, history=history, summary=summary, trainer=trainer)
