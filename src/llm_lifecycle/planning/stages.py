"""A stage as the planner sees it: its model, how it trains or generates, its work, and its API calls.

A `Stage` is built from the stage's own validated settings (the same classes its node reads), so the plan
describes what `kedro run` will do, not a parallel configuration. `Stage.memory(device, n)` and
`Stage.seconds(device, n, ...)` price it on `n` devices of one kind (`planning.memory`,
`planning.compute`); `Stage.fix(...)` names the first setting that would make it fit.

Work counted per stage (T: the stage's mean tokens per sequence, from the plan's data estimates):

- **pretraining**: max_steps × batch × accumulation × ranks blocks of block_size tokens, full training;
- **SFT**: max_steps (or epochs × conversations) × batch × accumulation × ranks conversations of T tokens;
- **DPO / reward model**: pairs seen × 2 sequences (chosen, rejected); DPO's frozen reference adds one
  forward per token (once per pair when its log-probs are precomputed);
- **RLOO**: completions generated (decode) + trained on, with the reference's and the reward model's
  forwards, and with PPO-ptx the chosen answers trained on beside them;
- **generation** (preferences' rejected answers, MT-Bench answers, latency): decode jobs only.

Memory is for the micro-batch padded to the stage's `max_length` (the worst batch the trainer can form).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.planning.compute import (
    GenerationJob,
    backward_multiple,
    forward_flops_per_token,
    generation_seconds,
    training_seconds,
)
from llm_lifecycle.planning.devices import Device
from llm_lifecycle.planning.memory import (
    MemoryEstimate,
    ModelCounts,
    fits,
    generation_memory,
    training_memory,
    weight_bytes,
)


@dataclass(frozen=True)
class Training:
    """How a stage trains: per-device micro-batch of `sequences` × `seq_len` tokens (memory), and the work."""

    full: bool  # every weight trains (pretraining) or a LoRA adapter on frozen weights
    lora_r: int | None
    lora_dropout: bool
    checkpointing: bool
    sequences: int  # per device and micro-batch (DPO and the reward model: 2 × pairs)
    seq_len: int  # tokens of a sequence in the memory estimate (the longest a batch may be padded to)
    tokens: float  # tokens trained on, whole stage, all devices
    context: float  # mean tokens of a sequence (the attention term of the FLOPs)
    reference_tokens: float = 0.0  # tokens through a frozen reference forward (DPO, RLOO)
    reward_tokens: float = 0.0  # tokens through the frozen reward model (RLOO)
    lm_head: bool = True  # False: a reward model (one score, no V-wide logits)
    sharded: bool = False  # FSDP from the stage's accelerate config
    grad_accum: int = 1


@dataclass(frozen=True)
class Stage:
    """One stage of the lifecycle in the plan."""

    name: str
    cfg: ModelSettings
    counts: ModelCounts
    training: Training | None = None
    generation: list[GenerationJob] = field(default_factory=list)
    reward_cfg: ModelSettings | None = None  # RLOO: the reward model it scores with
    reward_counts: ModelCounts | None = None
    four_bit: bool = False
    key: str = ""  # the stage's parameter block, e.g. "sft" (its `train` block sets the batch)
    loop: str = "trl"  # the training loop that runs it: "pretraining" (the project's) or "trl"
    parallel: bool = False  # runs on several devices (a `distributed` block); else on one of the setup's
    note: str = ""  # what the numbers assume, in words

    def devices_used(self, n: int) -> int:
        """Devices of an `n`-device setup the stage runs on."""
        return n if self.parallel else 1

    # --- memory ------------------------------------------------------------------------------------
    def memory(self, device: Device, n: int, **change) -> MemoryEstimate:
        """Bytes per device on `n` devices; `change` overrides Training fields or `four_bit`."""
        n = self.devices_used(n)
        four_bit = change.pop("four_bit", self.four_bit)
        dtype = device.dtype
        gen = self._generation_memory(dtype, four_bit)
        if self.training is None:
            return gen
        extra = 0.0
        if self.reward_counts is not None:  # RLOO's reward model: merged, every weight frozen
            extra = weight_bytes(self.reward_counts, dtype, four_bit, frozen_only=False)
        t = replace(self.training, **change)
        train = training_memory(
            self.cfg,
            self.counts,
            weight_dtype=dtype,
            act_dtype=dtype,
            tokens_per_micro_batch=t.sequences * t.seq_len,
            lora_r=None if t.full else t.lora_r,
            lora_dropout=t.lora_dropout,
            checkpointing=t.checkpointing,
            four_bit=four_bit and not t.full,
            autocast=not device.is_cpu,
            devices=n,
            sharded=t.sharded,
            on_cpu=device.is_cpu,
            extra_weights=extra,
            lm_head=t.lm_head,
        )
        if gen.kv_cache:  # RLOO generates with the same weights, then trains: the larger phase counts
            return replace(train, kv_cache=gen.kv_cache) if gen.kv_cache > train.activations else train
        return train

    def _generation_memory(self, dtype: str, four_bit: bool) -> MemoryEstimate:
        if not self.generation:
            return MemoryEstimate(0.0, 0.0, 0.0, 0.0, 0.0)
        job = max(self.generation, key=lambda j: j.batch * (j.prompt_tokens + j.new_tokens))
        return generation_memory(
            self.cfg,
            self.counts,
            dtype=dtype,
            batch=job.batch,
            tokens=job.prompt_tokens + job.new_tokens,
            four_bit=four_bit,
        )

    # --- time --------------------------------------------------------------------------------------
    def train_flops(self) -> float:
        """FLOPs of the stage's training (0 for a generation stage)."""
        t = self.training
        if t is None:
            return 0.0
        context = math.ceil(t.context)
        per_token = forward_flops_per_token(self.cfg, context, t.lm_head)
        flops = t.tokens * per_token * backward_multiple(t.full, t.checkpointing)
        if not t.full:  # the adapters themselves: 2 FLOPs per weight forward, 4 backward (inputs and weights)
            flops += t.tokens * 6 * self.counts.trainable
        flops += t.reference_tokens * forward_flops_per_token(self.cfg, context)
        if self.reward_cfg is not None:
            flops += t.reward_tokens * forward_flops_per_token(self.reward_cfg, context, lm_head=False)
        return flops

    def seconds(self, device: Device, n: int, *, mfu: float, mbu: float) -> tuple[float, float]:
        """(training seconds, generation seconds) on `n` devices at `mfu` (training, prefill) and `mbu`."""
        n = self.devices_used(n)
        dtype = device.dtype
        train = training_seconds(self.train_flops(), device, n, mfu) if self.training else 0.0
        gen = sum(
            generation_seconds(self.cfg, j, device, dtype, mbu=mbu, mfu=mfu, devices=n)
            for j in self.generation
        )
        return train, gen

    # --- what would make it fit --------------------------------------------------------------------
    def fix(self, device: Device, n: int, headroom: float) -> str:
        """The first setting, in the order a user would try them, that makes the stage fit ("" if it fits,
        "none found" if nothing below does)."""

        def fits_with(n: int = n, **change) -> bool:
            return fits(self.memory(device, n, **change), device.memory_bytes, headroom)

        if fits_with():
            return ""
        t = self.training
        trials: list[tuple[str, dict]] = []
        if t is not None and not t.checkpointing:
            trials.append((f"{self.key}.train.gradient_checkpointing: true", {"checkpointing": True}))
        if t is not None and not t.full and not self.four_bit:
            trials.append(
                ("4-bit base weights (QLoRA: base_model load_args.quantization_config)", {"four_bit": True})
            )
        if t is not None and self.devices_used(n) > 1 and not t.sharded:
            trials.append(
                (
                    f"{self.key}.distributed.accelerate_config: an FSDP file (shards over {n})",
                    {"sharded": True},
                )
            )
        for label, change in trials:
            if fits_with(**change):
                return label
        if t is not None and t.sequences > 1:
            step = 2 if t.sequences % 2 == 0 and self.name in ("dpo", "reward_model") else 1
            for seqs in range(t.sequences - step, 0, -step):
                if fits_with(sequences=seqs):
                    per = seqs // step
                    accum = t.grad_accum * math.ceil(t.sequences / seqs)
                    return f"{self.key}.train.batch_size: {per} (grad_accum {accum} keeps the batch)"
        if t is not None and self.parallel:
            for more in (2, 4, 8, 16, 32, 64):
                if fits_with(n * more, sharded=True):
                    return f"{n * more} x {device.name} with FSDP"
        return "none found"
