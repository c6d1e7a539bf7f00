"""Memory per device of a training or generation stage: weights, trainable state, activations, KV cache.

Design
------
Counts come from the model itself: `model_counts` builds the `transformers` model of a `ModelSettings` on
the meta device (shapes only: no memory even for 70 B parameters), wraps it with the stage's `peft`
LoRA config exactly as the trainers do, and counts total, trainable and linear-layer weights. Bytes come
from the formulas below, each checked in the tests against what torch actually holds.

Training, one optimizer step on one device, in bytes:

- **weights**: frozen weights × bytes of their dtype (a LoRA stage's base model; 4-bit NF4 for QLoRA:
  half a byte per weight of every linear layer but the LM head, which bitsandbytes leaves in 16 bits);
- **trainable state**: 16 bytes per trainable parameter (Rajbhandari et al. 2020, ZeRO, §3.1, with fp32
  weights): the fp32 weight, which is also the master copy (peft keeps adapters in fp32; the pretraining
  loop keeps fp32 weights under bf16 autocast) 4 + its fp32 gradient 4 + AdamW's two fp32 moments 8; +2
  when full training runs under bf16 autocast (its cached bf16 copy of each weight);
- **activations**: tokens of one micro-batch × the bytes autograd saves for backward per token. Korthikanti
  et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", §4.1) count
  s·b·h·(34 + 5·a·s/h) bytes per layer for a GPT block in 16 bits; the same bookkeeping for the LLaMA
  block as `transformers` runs it with SDPA/flash attention (no s×s score matrix is kept), with p bytes
  per activation value, g = n_kv / n_h, per token and layer:

  ========================  ==========================================  ===============================
  part                      full training                               frozen base + LoRA
  ========================  ==========================================  ===============================
  2 RMSNorms, each          4h (fp32 input) + 4 (rsqrt) + 2·p·h          4h + 4
                            (normalised, before and after the gain)
  attention (SDPA)          p·h (Q) + 2·p·g·h (K, V) + p·h (output) + 4·n_h (log-sum-exp), both columns
  SwiGLU                    4·p·I (gate, up, SiLU(gate), product)       3·p·I (no input of frozen down)
  each adapted linear       --                                          4·d_in (its fp32 input) + 4·r
                                                                        (+ dropout mask: d_in on CUDA,
                                                                        4·d_in on a CPU)
  ========================  ==========================================  ===============================

  plus once per token the final RMSNorm (as above), the fp32 logits of the loss (4·V) and 16 bytes of
  input ids and labels. A Mixture-of-Experts FFN counts its top_k experts per token. **Gradient
  checkpointing** (`transformers`' per-layer recomputation) keeps only each layer's input (p·h per token
  and layer) and recomputes one layer at a time in the backward pass (that layer's activations, once).
- **sharding**: FSDP divides weights and trainable state by the number of devices (and gathers one
  layer's 16-bit weights at a time, counted); DDP replicates them. Activations are per device either way.

Generation (sampling answers, MT-Bench, the RLOO rollouts): weights + the KV cache of the batch
(`calculator.kv_cache_bytes`) + the fp32 logits of one step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from llm_lifecycle.modeling.calculator import dtype_bytes, kv_cache_bytes
from llm_lifecycle.modeling.config import ModelSettings

Task = Literal["causal_lm", "reward_model"]
TRAINABLE_BYTES = 16  # fp32 weight (= master copy) + fp32 gradient + AdamW's two fp32 moments
AUTOCAST_COPY_BYTES = 2  # bf16 autocast's cached copy of each weight (full training only)
NF4_BYTES = 0.5


@dataclass(frozen=True)
class ModelCounts:
    """Parameter counts of a stage's model as built (meta device), adapters included."""

    total: int  # every parameter, adapters and copies of saved modules included
    trainable: int  # requires_grad (LoRA A/B and the reward model's score head; all for full training)
    linear: int  # weights of nn.Linear layers but the LM head (what 4-bit quantization packs)
    adapted_inputs: int  # sum of d_in over the adapted linear layers of ONE decoder layer
    adapted_modules: int  # adapted linear layers per decoder layer


def model_counts(cfg: ModelSettings, lora: Any = None, task: Task = "causal_lm") -> ModelCounts:
    """Build `cfg` on the meta device (`reward_model`: a sequence classifier with one output, as the reward
    stage loads it), wrap it with `lora` (a `LoraSettings`, None: full training) and count."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from llm_lifecycle.modeling.build import to_hf_config

    hf = to_hf_config(cfg, experts_implementation=None)
    with torch.device("meta"):
        if task == "reward_model":
            hf.num_labels = 1
            model = AutoModelForSequenceClassification.from_config(hf)
        else:
            model = AutoModelForCausalLM.from_config(hf)
        if lora is not None:
            from peft import get_peft_model

            task_type = "SEQ_CLS" if task == "reward_model" else "CAUSAL_LM"
            model = get_peft_model(model, lora.to_peft(task_type=task_type, model=model))
    linear = adapted_inputs = adapted = 0
    for name, module in model.named_modules():
        if (
            isinstance(module, torch.nn.Linear)
            and "lora_" not in name
            and "lm_head" not in name
            and "score" not in name
        ):
            linear += module.weight.numel()
        if hasattr(module, "lora_A") and ".layers.0." in f".{name}.":
            adapted_inputs += module.in_features
            adapted += 1
    return ModelCounts(
        total=sum(p.numel() for p in model.parameters()),
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        linear=linear,
        adapted_inputs=adapted_inputs,
        adapted_modules=adapted,
    )


def weight_bytes(counts: ModelCounts, dtype: str, four_bit: bool = False, frozen_only: bool = True) -> float:
    """Bytes of the weights that are not trained (`frozen_only`) or of all of them (a model that only
    generates or scores); with `four_bit` the base's linear weights but the LM head are packed NF4."""
    n = counts.total - (counts.trainable if frozen_only else 0)
    if not four_bit:
        return n * dtype_bytes(dtype)
    return counts.linear * NF4_BYTES + (n - counts.linear) * dtype_bytes(dtype)


@dataclass(frozen=True)
class ActivationBytes:
    """Bytes per token of a micro-batch: one decoder layer's saved activations, the head's (final norm,
    logits, ids) and, under gradient checkpointing, each layer's kept input."""

    layer: float
    head: float
    layer_input: float
    n_layers: int

    def saved(self, checkpointing: bool) -> float:
        """What the forward pass leaves for backward."""
        if checkpointing:
            return self.n_layers * self.layer_input + self.head
        return self.n_layers * self.layer + self.head

    def peak(self, checkpointing: bool) -> float:
        """The most held at once: with checkpointing, one layer is recomputed in the backward pass."""
        return self.saved(checkpointing) + (self.layer if checkpointing else 0.0)


def activation_bytes(
    cfg: ModelSettings,
    act_dtype: str,
    *,
    lora_r: int | None = None,
    adapted_inputs: int = 0,
    adapted_modules: int = 0,
    lora_dropout: bool = False,
    on_cpu: bool = False,
    lm_head: bool = True,
) -> ActivationBytes:
    """Bytes autograd keeps for backward per token of a micro-batch (the table in the module docstring).

    `lora_r` None: full training; otherwise the base is frozen and `adapted_inputs` (sum of d_in) and
    `adapted_modules` describe the adapted linears of one layer. `lm_head=False` (a reward model) keeps a
    one-number score instead of the V-wide logits. With fp32 activations a LoRA input's "fp32 copy" is the
    input itself, shared with other saved tensors: the formula then counts up to ~20% too much (measured).
    """
    p = dtype_bytes(act_dtype)
    h, n_h = cfg.hidden_size, cfg.n_heads
    g = cfg.n_kv_heads / cfg.n_heads
    experts = cfg.moe.top_k if cfg.moe else 1
    full = lora_r is None
    norm = 4 * h + 4 + (2 * p * h if full else 0)
    attention = p * h * (2 + 2 * g) + 4 * n_h
    ffn = experts * (4 if full else 3) * p * cfg.intermediate_size
    adapters = 0.0
    if not full:
        mask = (4 if on_cpu else 1) * adapted_inputs if lora_dropout else 0
        adapters = 4 * adapted_inputs + 4 * lora_r * adapted_modules + mask
    head = norm + (4 * cfg.vocab_size if lm_head else 4) + 16
    return ActivationBytes(2 * norm + attention + ffn + adapters, head, p * h, cfg.n_layers)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device of one stage, by part (0 where a part does not apply)."""

    weights: float
    trainable_state: float
    activations: float
    kv_cache: float
    other: float  # FSDP's gathered layer, the logits of a generation step

    @property
    def total(self) -> float:
        return self.weights + self.trainable_state + self.activations + self.kv_cache + self.other

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "total": self.total}


def training_memory(
    cfg: ModelSettings,
    counts: ModelCounts,
    *,
    weight_dtype: str,
    act_dtype: str,
    tokens_per_micro_batch: int,
    lora_r: int | None,
    lora_dropout: bool = False,
    checkpointing: bool = False,
    four_bit: bool = False,
    autocast: bool = False,
    devices: int = 1,
    sharded: bool = False,
    on_cpu: bool = False,
    extra_weights: float = 0.0,
    lm_head: bool = True,
) -> MemoryEstimate:
    """Memory of one device training `cfg` (see the module docstring). `extra_weights`: other frozen
    models the stage holds (RLOO's reward model), in bytes; `tokens_per_micro_batch`: sequences × length
    of one forward (DPO and the reward model put chosen and rejected in one batch)."""
    weights = weight_bytes(counts, weight_dtype, four_bit) + extra_weights
    state = counts.trainable * (TRAINABLE_BYTES + (AUTOCAST_COPY_BYTES if autocast and lora_r is None else 0))
    other = 0.0
    if sharded and devices > 1:
        weights, state = weights / devices, state / devices
        other = 2 * (counts.total / cfg.n_layers) * dtype_bytes("bfloat16")  # one layer gathered + prefetch
    per_token = activation_bytes(
        cfg,
        act_dtype,
        lora_r=lora_r,
        adapted_inputs=counts.adapted_inputs,
        adapted_modules=counts.adapted_modules,
        lora_dropout=lora_dropout,
        on_cpu=on_cpu,
        lm_head=lm_head,
    ).peak(checkpointing)
    return MemoryEstimate(weights, state, tokens_per_micro_batch * per_token, 0.0, other)


def generation_memory(
    cfg: ModelSettings, counts: ModelCounts, *, dtype: str, batch: int, tokens: int, four_bit: bool = False
) -> MemoryEstimate:
    """Weights + the KV cache of `batch` sequences of `tokens` (prompt + new) + one step's fp32 logits."""
    weights = weight_bytes(counts, dtype, four_bit, frozen_only=False)
    kv = float(kv_cache_bytes(cfg, tokens, batch, dtype))
    return MemoryEstimate(weights, 0.0, 0.0, kv, 4.0 * cfg.vocab_size * batch)


def fits(estimate: MemoryEstimate, memory_bytes: float, headroom: float) -> bool:
    """True when the estimate fits in `memory_bytes` × (1 − `headroom`)."""
    return estimate.total <= memory_bytes * (1 - headroom)
