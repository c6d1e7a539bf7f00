"""`ModelSettings` → `transformers` config → model, and back.

Design
------
No hand-rolled transformer: a dense config becomes `LlamaForCausalLM` (Touvron et al. 2023: pre-norm
RMSNorm, RoPE, SwiGLU, GQA per Ainslie et al. 2023), a config with a `moe` block becomes
`MixtralForCausalLM` (Jiang et al. 2024: each FFN is `n_experts` SwiGLU experts behind a linear router,
softmax gates, top-k experts per token, gates renormalised over the chosen k). Both save with
`save_pretrained` (safetensors) and reload with `AutoModelForCausalLM.from_pretrained`, so every later stage
(SFT, DPO, latency) sees an ordinary hub-style checkpoint.

Mixtral experts on CPU: transformers 5 stores the experts of a layer as 3-D tensors
(`gate_up_proj: (E, 2·I, H)`, `down_proj: (E, H, I)`) and dispatches their forward through
`config._experts_implementation` ("eager" loop over hit experts, "grouped_mm", "batched_mm"). On a 2-core
x86 CPU "batched_mm" measured ~100x slower and "eager" fastest, so `build_model` picks "eager" when no GPU
is present. The choice is runtime state, not saved with the checkpoint: pass
`experts_implementation="eager"` to `from_pretrained` as well (`cpu_experts_implementation()` gives it).

torch/transformers are imported inside the functions: pipeline definitions import this package and must
stay cheap to import.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from llm_lifecycle.modeling.config import ModelSettings, MoESettings

if TYPE_CHECKING:
    from transformers import LlamaConfig, MixtralConfig, PretrainedConfig, PreTrainedModel

logger = logging.getLogger(__name__)

_SUPPORTED_MODEL_TYPES = ("llama", "mixtral")


def cpu_experts_implementation() -> str | None:
    """Return "eager" without CUDA (the fastest MoE path on CPU), else None (transformers' default)."""
    import torch

    return None if torch.cuda.is_available() else "eager"


def to_hf_config(
    cfg: ModelSettings, experts_implementation: str | None = None
) -> LlamaConfig | MixtralConfig:
    """The `transformers` config for `cfg`: `LlamaConfig` (dense) or `MixtralConfig` (MoE).

    `dtype` is set to `cfg.dtype` as in a published config.json (it is what `from_config` would build in);
    `build_model` overrides it with the dtype you train in.
    """
    from transformers import LlamaConfig, MixtralConfig

    common: dict[str, Any] = {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.resolved_head_dim,
        "hidden_act": "silu",  # SwiGLU = SiLU(gate) * up
        "max_position_embeddings": cfg.max_position_embeddings,
        "rope_parameters": {"rope_type": "default", "rope_theta": float(cfg.rope_theta)},
        "rms_norm_eps": cfg.rms_norm_eps,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "dtype": cfg.dtype if cfg.dtype in ("float32", "bfloat16", "float16") else None,
    }
    if cfg.moe is None:
        return LlamaConfig(**common, attention_bias=False, mlp_bias=False)
    hf = MixtralConfig(
        **common,
        num_local_experts=cfg.moe.n_experts,
        num_experts_per_tok=cfg.moe.top_k,
        sliding_window=None,  # Mixtral-8x7B attends over the full context
    )
    if experts_implementation is not None:
        # The property setter also propagates to sub-configs; the model checks the value at __init__.
        hf._experts_implementation = experts_implementation
    return hf


def from_hf_config(hf_config: PretrainedConfig | dict[str, Any]) -> ModelSettings:
    """A `ModelSettings` from a hub `config.json` (as a dict) or a LLaMA/Mixtral `transformers` config.

    Refuses what the calculator cannot count (biases, other model types). RoPE scaling (LLaMA-3.1 style) is
    dropped with a warning: it changes no parameter, KV-cache or FLOP count.
    """
    d = hf_config if isinstance(hf_config, dict) else hf_config.to_dict()
    model_type = d.get("model_type")
    if model_type not in _SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"model_type {model_type!r} is not supported; expected one of {_SUPPORTED_MODEL_TYPES}"
        )
    for flag in ("attention_bias", "mlp_bias"):
        if d.get(flag):
            raise ValueError(f"{flag}=True is not supported (LLaMA/Mixtral have no biases)")

    rope = d.get("rope_parameters") or d.get("rope_scaling") or {}
    rope_theta = rope.get("rope_theta", d.get("rope_theta", 10_000.0))
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        logger.warning("RoPE scaling %r ignored: it does not change any count the calculator reports", rope)

    n_heads = d["num_attention_heads"]
    n_kv_heads = d.get("num_key_value_heads") or n_heads
    head_dim = d.get("head_dim")
    if head_dim == d["hidden_size"] // n_heads:
        head_dim = None  # the default; keeps round trips equal
    moe = None
    if model_type == "mixtral":
        moe = MoESettings(n_experts=d["num_local_experts"], top_k=d["num_experts_per_tok"])

    dtype = d.get("dtype") or d.get("torch_dtype") or "bfloat16"
    return ModelSettings(
        vocab_size=d["vocab_size"],
        hidden_size=d["hidden_size"],
        n_layers=d["num_hidden_layers"],
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        intermediate_size=d["intermediate_size"],
        max_position_embeddings=d["max_position_embeddings"],
        rope_theta=float(rope_theta),
        rms_norm_eps=d.get("rms_norm_eps", 1e-6),
        tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
        moe=moe,
        head_dim=head_dim,
        dtype=str(dtype).removeprefix("torch."),
        bos_token_id=d.get("bos_token_id"),
        eos_token_id=d.get("eos_token_id"),
        pad_token_id=d.get("pad_token_id"),
    )


def build_model(
    cfg: ModelSettings,
    seed: int = 0,
    dtype: str = "float32",
    experts_implementation: str | None = "auto",
) -> PreTrainedModel:
    """A freshly initialised `LlamaForCausalLM` / `MixtralForCausalLM` for `cfg`, on CPU, in `dtype`.

    Deterministic: weights depend only on (`cfg`, `seed`); the global torch RNG is forked, so building a
    model does not shift the random stream of the caller. fp32 by default: bf16 is ~15x slower on a CPU
    without AVX-512 BF16 (measured on a 2-core x86 CPU). `experts_implementation="auto"` means "eager"
    without CUDA.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if experts_implementation == "auto":
        experts_implementation = cpu_experts_implementation()
    hf_cfg = to_hf_config(cfg, experts_implementation=experts_implementation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # from_config honours `dtype` and runs the model's own init (normal(0, initializer_range)).
        model = AutoModelForCausalLM.from_config(hf_cfg, dtype=getattr(torch, dtype))
    return model


def build_timing_model(cfg: ModelSettings, seed: int = 0, dtype: str = "float32") -> PreTrainedModel:
    """A model of `cfg`'s architecture whose weights only have to look like a trained model's, for timing.

    `build_model` initialises every weight twice (torch's `Linear` draws Kaiming-uniform values, then the
    model's own init draws normal(0, initializer_range)): ~7 s for the latency pipeline's 248 M-parameter
    model on 2 cores, and no measurement reads a value. Here the model is constructed under
    `transformers.initialization.no_init_weights` (no draws, so `torch.empty` storage), every weight
    matrix is filled with one seeded normal(0, initializer_range) block of 2^20 values repeated, and the
    RMSNorm weights keep the ones they are created with (an init function never touches them). What a
    forward pass costs does not depend on the values as long as they are ordinary floats (no NaN, inf
    or subnormals): the filled values are.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    hf_cfg = to_hf_config(cfg, experts_implementation=cpu_experts_implementation())
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(hf_cfg, dtype=getattr(torch, dtype))
    gen = torch.Generator().manual_seed(seed)
    block = torch.empty(1 << 20).normal_(0.0, hf_cfg.initializer_range, generator=gen)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() < 2:  # RMSNorm weights: created as ones
                continue
            flat = param.view(-1)  # (numel,), the parameter's own storage
            for start in range(0, flat.numel(), block.numel()):
                n = min(block.numel(), flat.numel() - start)
                flat[start : start + n].copy_(block[:n])
    return model


def meta_numel(cfg: ModelSettings) -> int:
    """Parameters of the `transformers` model for `cfg`, instantiated on the meta device (shapes only).

    Costs no memory even for 47 B parameters; the architecture report checks the calculator against it.
    """
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(to_hf_config(cfg, experts_implementation=None))
    return sum(p.numel() for p in model.parameters())
