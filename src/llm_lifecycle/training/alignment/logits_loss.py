"""SFT's loss through the model's own LM head (`lm_head_loss: logits`) instead of TRL's fused one.

Design
------
TRL 1.x's `SFTTrainer` always computes the loss through its fused LM head (`trl.trainer.utils.
add_fused_lm_head`): the hidden states are projected onto the vocabulary in tiles, folded into online
log-sum-exp statistics (plus entropy and "is the label the top-1 token" for the logged metrics), and the
backward pass recomputes every tile. That is the right trade for a LLaMA-3 vocabulary on a GPU (128,256
logits per token never exist at once, and Triton scores only the labelled positions), and costs compute
everywhere else: off a Triton device every position is scored, and each tile takes several elementwise
passes forward and a second GEMM backward. On the toy model (vocabulary ~2k, hidden 128) torch.profiler
puts the fused head at 31% of an SFT step on a CPU (docs/benchmarks.md, "SFT throughput").

With a small vocabulary the logits themselves are small (batch 8 × 256 tokens × 2k × 4 B = 16 MB), so
`LogitsLossSFTTrainer` goes back to what `transformers.Trainer` does: `model(**inputs, labels=...)` and the
model's own `ForCausalLMLoss` (shifted cross-entropy, summed and divided by `num_items_in_batch`, the same
token-level normalisation TRL uses), over logits autograd keeps for the backward. Everything else is the
SFTTrainer (its data preparation, assistant-only labels, collator, samplers, logging). Of TRL's two
per-step metrics it keeps `mean_token_accuracy` (an argmax over the logits it already has) and drops
`entropy` (a log-softmax pass the loss does not need); `num_tokens` is counted as TRL counts it.

Not for packing on a CPU (`packing: true` flattens a batch into one row; the model's loss then shifts
labels across conversation boundaries, where TRL's position-id-aware head does not), nor for large
vocabularies: `SFTTrainerSettings` refuses the first, the YAML comment says the second.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer
from trl import SFTTrainer


class LogitsLossSFTTrainer(SFTTrainer):
    """`trl.SFTTrainer` whose loss is the model's own cross-entropy over full logits (module docstring)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: D102
        mode = "train" if self.model.training else "eval"
        inputs = {**inputs, "use_cache": False}
        # Trainer.compute_loss: the model's `loss_function` divided by `num_items_in_batch` and scaled by
        # the number of ranks, so gradient accumulation and DDP average over every token of the global
        # batch, as TRL's compute_loss does
        loss, outputs = Trainer.compute_loss(
            self, model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        self._log_token_metrics(mode, inputs, outputs.logits)
        return (loss, outputs) if return_outputs else loss

    @torch.no_grad()
    def _log_token_metrics(self, mode: str, inputs: dict[str, Any], logits: torch.Tensor) -> None:
        labels = inputs["labels"][:, 1:]  # [B, T-1]: the token each position predicts
        mask = labels != -100
        correct = (logits[:, :-1].argmax(-1) == labels) & mask
        n_valid = self.accelerator.gather_for_metrics(mask.sum()).sum()
        n_correct = self.accelerator.gather_for_metrics(correct.sum()).sum()
        self._metrics[mode]["mean_token_accuracy"].append(
            (n_correct / n_valid).item() if n_valid > 0 else 0.0
        )
        if mode == "train":
            tokens = inputs["attention_mask"].sum()  # non-padding tokens (no packing: see the docstring)
            self._total_train_tokens += self.accelerator.gather_for_metrics(tokens).sum().item()
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
