"""Time of a stage on a device: training FLOPs ÷ (peak × MFU); generation from the roofline.

Training FLOPs per token (PaLM, Chowdhery et al. 2022, appendix B; `calculator.forward_flops`): one
forward pass is 2·N + 4·L·n_h·Q·T (N: the matmul weights, LM head included). The backward pass costs two
forwards when every weight trains (gradients of the inputs and of the weights) and one when the weights
are frozen (LoRA: gradients of the inputs only), plus 6 FLOPs per adapter weight (r/h of the layer: 0.6%
of LLaMA-3-8B's, but 12% of the toy model's). Gradient checkpointing recomputes one more forward. So a
token costs 6·N (full), 4·N + 6·N_lora (LoRA), 8·N / 6·N + 6·N_lora with checkpointing, and a frozen
reference model (DPO, RLOO's KL) or reward model adds its forwards.

Generation (roofline, Williams et al. 2009; `benchmarking.roofline`): a decode step of a batch of B at
context T reads every weight once and each sequence's KV cache, and takes
max(FLOPs / peak, bytes / bandwidth) ÷ efficiency, where efficiency is the stated share of the limiting
ceiling a decoder reaches (the MBU of a memory-bound step). The prompt (prefill) is one compute-bound
forward at the stated MFU. Steps are evaluated at the mean context of the answer (prompt + new / 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llm_lifecycle.benchmarking.roofline import decode_bytes, decode_flops, decode_shape_of
from llm_lifecycle.modeling.calculator import forward_flops, parameter_counts
from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.planning.devices import Device


def forward_flops_per_token(cfg: ModelSettings, context: int, lm_head: bool = True) -> float:
    """2·N + 4·L·n_h·Q·T for one token attending to `context` tokens; `lm_head=False` (a reward model,
    whose score is one number) drops the V×H matmul."""
    counts = parameter_counts(cfg)
    n = counts.flops_params - (0 if lm_head else cfg.vocab_size * cfg.hidden_size)
    return float(forward_flops(n, cfg.n_layers, cfg.n_heads * cfg.resolved_head_dim, context))


def backward_multiple(full: bool, checkpointing: bool) -> int:
    """Forward passes' worth of work in one training step of a token: 3 (full) or 2 (frozen weights),
    +1 with gradient checkpointing."""
    return (3 if full else 2) + (1 if checkpointing else 0)


def training_seconds(flops: float, device: Device, devices: int, mfu: float) -> float:
    """`flops` of training spread over `devices` running at `mfu` of the peak."""
    return flops / (devices * device.flops * mfu)


@dataclass(frozen=True)
class GenerationJob:
    """`sequences` answers of at most `new_tokens` after `prompt_tokens`, `batch` sequences at a time."""

    sequences: int
    batch: int
    prompt_tokens: int
    new_tokens: int


def generation_seconds(
    cfg: ModelSettings,
    job: GenerationJob,
    device: Device,
    dtype: str,
    *,
    mbu: float,
    mfu: float,
    devices: int = 1,
) -> float:
    """Wall time of `job` on `devices` replicas (each takes a share of the batches)."""
    if job.sequences <= 0:
        return 0.0
    shape = decode_shape_of(cfg, dtype)
    batches = math.ceil(math.ceil(job.sequences / job.batch) / devices)
    batch = min(job.batch, job.sequences)
    prefill = batch * job.prompt_tokens * forward_flops_per_token(cfg, job.prompt_tokens // 2 + 1)
    prefill_s = prefill / (device.flops * mfu)
    context = job.prompt_tokens + job.new_tokens // 2
    step_s = max(
        decode_flops(shape, batch, context) / device.flops,
        decode_bytes(shape, batch, context) / device.bandwidth,
    )
    return batches * (prefill_s + job.new_tokens * step_s / mbu)
