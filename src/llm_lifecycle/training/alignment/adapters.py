"""A LoRA adapter out of a model that may be sharded over ranks, without gathering the frozen base.

`Trainer.save_model` under FSDP builds the full state dict of the whole model on rank 0 (16 GB for
LLaMA-3-8B) to write a ~170 MB adapter, and with a sharded state dict it writes nothing at all. Here only
the trainable parameters are read: plain tensors in one process or under DDP, `DTensor` shards under
FSDP2 (`fsdp_version: 2`: each LoRA matrix is sharded on its own, so `full_tensor()` all-gathers that
matrix and nothing else). FSDP1 keeps LoRA inside flat parameters that are not separable this way, and
is refused with a message saying so.

`adapter_state_dict` is a collective under FSDP2: every rank calls it, in the same order
(`named_parameters()` is the same on every rank). `write_adapter` then writes it on one rank through
`PeftModel.save_pretrained(state_dict=...)`, and checks that something was written: peft selects the
adapter's keys by module name, and FSDP's own activation checkpointing renames modules
(`_checkpoint_wrapped_module`) so that nothing matches; gradient checkpointing belongs in the trainer's
settings (`gradient_checkpointing: true`), not in the accelerate config.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

_WRAPPER_SEGMENTS = ("_checkpoint_wrapped_module.", "_orig_mod.")


def _unwrap(model: Any) -> Any:
    """The PeftModel inside DDP (`.module`) or `torch.compile` (`._orig_mod`); FSDP2 shards in place."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None or inner is model:
            return model
        model = inner


def adapter_state_dict(model: Any) -> dict[str, Any]:
    """The trainable (LoRA) parameters as full CPU tensors, keyed as in the PeftModel's state dict
    (`...q_proj.lora_A.default.weight`). Collective under FSDP2: call it on every rank."""
    from torch.distributed.tensor import DTensor

    out = {}
    for name, param in _unwrap(model).named_parameters():
        if not param.requires_grad:
            continue
        if "_fsdp_wrapped_module" in name or "_flat_param" in name:
            raise TypeError(
                f"{name}: an FSDP1 flat-parameter view; use `fsdp_version: 2` in the accelerate config"
            )
        tensor = param.detach()
        if isinstance(tensor, DTensor):
            tensor = tensor.full_tensor()  # all-gathers this one matrix
        key = name
        for segment in _WRAPPER_SEGMENTS:
            key = key.replace(segment, "")
        out[key] = tensor.to("cpu", copy=True).contiguous()
    return out


def digest(state_dict: dict[str, Any]) -> str:
    """sha256 over the tensors in name order: equal digests on every rank = one adapter."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        h.update(name.encode())
        h.update(state_dict[name].float().numpy().tobytes())
    return h.hexdigest()


def write_adapter(model: Any, state_dict: dict[str, Any], folder: str | Path) -> None:
    """Write `model`'s adapter from `state_dict` (`adapter_model.safetensors`, `adapter_config.json`)."""
    from safetensors import safe_open

    _unwrap(model).save_pretrained(str(folder), state_dict=state_dict)
    with safe_open(str(Path(folder) / "adapter_model.safetensors"), framework="pt") as written:
        if not list(written.keys()):
            raise RuntimeError(
                f"{folder}: peft wrote an empty adapter (module names changed by a wrapper such as FSDP "
                "activation checkpointing: use the trainer's gradient_checkpointing instead)"
            )
