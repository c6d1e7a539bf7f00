"""Where a model runs and where its inputs must go: one rule for every stage that calls a model itself.

A trainer (TRL, the pretraining loop) places the model; everything else that calls a model directly
(sampling answers, scoring with the reward model, the KL estimate, MT-Bench answers, latency) must put
its input tensors where the model's weights are, or a model on a GPU fails on CPU inputs at the end of
hours of training. And generation belongs on the GPU when there is one: the catalog loads models on the
CPU, where 8B-parameter decoding would take days.

torch is imported inside the functions: this module is imported by cheap modules too.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def accelerator() -> str:
    """`"cuda"` when a CUDA device is available, else `"cpu"`."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_device(model: Any) -> Any:
    """The `torch.device` of the model's first parameter (where its inputs must go)."""
    return next(model.parameters()).device


def to_model_device(batch: Any, model: Any) -> Any:
    """`batch` (a tensor, a dict of tensors or a `BatchEncoding`) on the model's device."""
    device = model_device(model)
    if hasattr(batch, "to"):  # tensor or BatchEncoding
        return batch.to(device)
    return {key: value.to(device) if hasattr(value, "to") else value for key, value in batch.items()}


def place_for_inference(model: Any) -> Any:
    """Move a model that sits on the CPU to the GPU when there is one (in place; returns it).

    A model already on an accelerator, or dispatched over several devices by `device_map`
    (`hf_device_map`), stays where it is.
    """
    target = accelerator()
    if target == "cpu" or getattr(model, "hf_device_map", None) or model_device(model).type != "cpu":
        return model
    logger.info("moving %s to %s for inference", type(model).__name__, target)
    return model.to(target)
