"""The node every post-training stage ends with: its LoRA adapter folded into the weights it was trained on.

A stage's training node writes the adapter (`<stage>_adapter`, a few MB at toy scale, ~170 MB for
LLaMA-3-8B at r=16); this node loads it back through the catalog (`AutoPeftModelForCausalLM` reads the
base weights the adapter names in its `adapter_config.json`) and merges in place, so one copy of the
model is in memory, never two, and the training node never holds a second one either.
"""

from __future__ import annotations

from typing import Any


def merge_adapter_into_model(adapter: tuple[Any, Any]) -> tuple[Any, Any]:
    """`(PeftModel, tokenizer)` -> `(model with W + (alpha/r)·BA, tokenizer)`, ready for `save_pretrained`."""
    from llm_lifecycle.training.alignment.trl_common import merge_adapter

    peft_model, tokenizer = adapter
    return merge_adapter(peft_model), tokenizer
