"""Data parallelism for the pretraining loop: what changes when N ranks train one model.

The loop (`loop.py`) stays one plain PyTorch loop; `Parallel` is the little it needs to know about ranks,
on top of `accelerate.Accelerator` (which reads what `accelerate launch` and its config file set up: DDP by
default, FSDP from a config file, gloo on CPU, NCCL on GPUs). With `Parallel()` (one process, no
accelerator) every method is the identity, so the single-process loop runs exactly the code it ran before.

Conventions (nanoGPT's DDP recipe, torchtitan's data-parallel one):
- `batch_size` is blocks per micro-batch **per rank**; a step sees `batch_size × world × grad_accum`
  blocks. The block sampler draws the *global* micro-batch from the same seeded permutation as one
  process would, and rank r takes its contiguous slice `[r·b, (r+1)·b)`: two ranks with `batch_size` b
  see exactly the blocks one process with `batch_size` 2b sees, so their loss curves agree up to the
  order of floating-point sums (the test states the tolerance).
- Each rank's loss is the mean over its own blocks; DDP averages gradients over ranks, which is the mean
  over the global batch because every rank holds the same number of blocks (packed, no padding).
- Gradient accumulation skips the all-reduce on all but the last micro-batch (`no_sync`).
- Logged losses, tokens/s and MFU count every rank: losses are all-reduced (mean) once per logging
  window, tokens/s is the global batch's tokens over wall time, MFU divides by `world ×` the per-device
  peak.
- Only rank 0 writes (checkpoints, final model, result); every rank takes part in gathering the full
  state dict first, which is a collective under FSDP (optimizer state too, through
  `torch.distributed.checkpoint.state_dict`, so a checkpoint loads into any number of ranks' shards).

FSDP needs CUDA: on a machine without it, accelerate runs an FSDP config file as plain CPU data
parallelism (`use_cpu`), so the CPU tests prove DDP, and the FSDP branches (`fsdp`, gathered optimizer
state) run only on GPUs. The worker logs the distributed type it got.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class Parallel:
    """Rank bookkeeping for the loop; `Parallel()` is one process, `Parallel.from_accelerator(acc)` N."""

    accelerator: Any | None = None  # accelerate.Accelerator, or None for a single process
    rank: int = 0
    world: int = 1

    @classmethod
    def from_accelerator(cls, accelerator: Any) -> Parallel:
        return cls(accelerator, accelerator.process_index, accelerator.num_processes)

    @property
    def active(self) -> bool:
        return self.accelerator is not None and self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def fsdp(self) -> bool:
        return self.active and "FSDP" in str(self.accelerator.distributed_type)

    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[Any, Any]:
        """Wrap for DDP/FSDP (the accelerate config decides); one process: unchanged."""
        if not self.active:
            return model, optimizer
        return self.accelerator.prepare(model, optimizer)

    def unwrap(self, model: nn.Module) -> nn.Module:
        return self.accelerator.unwrap_model(model) if self.active else model

    def no_sync(self, model: nn.Module, last_micro_batch: bool) -> contextlib.AbstractContextManager:
        """Skip the gradient all-reduce on every micro-batch but the last of a step."""
        if not self.active or last_micro_batch:
            return contextlib.nullcontext()
        return self.accelerator.no_sync(model)

    def clip_grad_norm(self, model: nn.Module, max_norm: float | None) -> torch.Tensor:
        """Global gradient norm before clipping (all ranks' shards under FSDP)."""
        norm = self.accelerator.clip_grad_norm_(model.parameters(), max_norm or float("inf"))
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP2: a DTensor

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """Mean over ranks (a no-op for one process)."""
        return self.accelerator.reduce(t, "mean") if self.active else t

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        return self.accelerator.reduce(t, "sum") if self.active else t

    def barrier(self) -> None:
        if self.active:
            self.accelerator.wait_for_everyone()

    def full_state_dict(self, model: nn.Module) -> dict[str, torch.Tensor] | None:
        """The whole model's weights (gathered from every rank under FSDP); None: use the module's own."""
        if not self.active:
            return None
        return self.accelerator.get_state_dict(model)

    def local_slice(self, indices: torch.Tensor, batch_size: int) -> torch.Tensor:
        """This rank's `batch_size` indices of a global micro-batch of `batch_size × world` indices."""
        return indices[self.rank * batch_size : (self.rank + 1) * batch_size]

    def rank_indices(self, n: int) -> Iterator[int]:
        """Indices `rank, rank + world, ...` of `n` items: this rank's share of an evaluation."""
        return iter(range(self.rank, n, self.world))
