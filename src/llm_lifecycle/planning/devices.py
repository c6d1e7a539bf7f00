"""The devices a plan can name: vendor peaks of known GPUs, and "this machine" from a run's measured ceilings.

A GPU's numbers are its datasheet's: dense bf16 tensor-core FLOP/s (no 2:4 sparsity), HBM bandwidth and
memory (decimal GB, as the datasheets state them; the plan keeps a headroom fraction of it free for the
CUDA context, the allocator's fragmentation and kernels' workspaces). `this_machine` has no datasheet
worth trusting (turbo clocks, shared vCPUs): its peak FLOP/s and bandwidth are the ceilings the latency
stage measured in a run (`hardware_ceilings`, logged as `ceiling.gflops` / `ceiling.bandwidth_gbs`), its
memory is the RAM the operating system reports. Prices are not here: they are parameters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

THIS_MACHINE = "this_machine"


@dataclass(frozen=True)
class GpuPeak:
    """Nominal dense bf16 FLOP/s, HBM bandwidth in bytes/s and memory in bytes of one GPU."""

    flops_bf16: float
    bandwidth: float
    memory_bytes: float


# Vendor datasheets (dense, i.e. without 2:4 sparsity).
KNOWN_GPUS: dict[str, GpuPeak] = {
    "A100-80GB": GpuPeak(flops_bf16=312e12, bandwidth=2.039e12, memory_bytes=80e9),  # SXM4
    "H100-SXM": GpuPeak(flops_bf16=989e12, bandwidth=3.35e12, memory_bytes=80e9),
    "H200": GpuPeak(flops_bf16=989e12, bandwidth=4.8e12, memory_bytes=141e9),
    "L4": GpuPeak(flops_bf16=121e12, bandwidth=300e9, memory_bytes=24e9),
}


@dataclass(frozen=True)
class Device:
    """One device of a plan: its peaks, its memory, where the numbers come from, and whether it is a CPU."""

    name: str
    flops: float
    bandwidth: float
    memory_bytes: float
    source: str  # "datasheet" or "measured in run <id>"
    is_cpu: bool = False

    @property
    def dtype(self) -> str:
        """What the stages compute and keep weights in here: bf16 on a GPU, fp32 on a CPU (where bf16 is
        ~15x slower without AVX-512 BF16, and `bf16: auto` trains in fp32)."""
        return "float32" if self.is_cpu else "bfloat16"


def ram_bytes() -> float:
    """Physical memory of this machine (what the operating system reports)."""
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def this_machine(measured: Mapping[str, float] | None) -> Device | None:
    """`this_machine` from a run's latency metrics (`ceiling.gflops`, `ceiling.bandwidth_gbs`), or None
    when no run has measured them yet."""
    if not measured or "ceiling.gflops" not in measured or "ceiling.bandwidth_gbs" not in measured:
        return None
    return Device(
        THIS_MACHINE,
        flops=measured["ceiling.gflops"] * 1e9,
        bandwidth=measured["ceiling.bandwidth_gbs"] * 1e9,
        memory_bytes=ram_bytes(),
        source="measured by the last run's latency stage",
        is_cpu=True,
    )


def resolve_device(name: str, measured: Mapping[str, float] | None = None) -> Device:
    """The device called `name`: a known GPU, or `this_machine` (needs a run's measured ceilings)."""
    if name == THIS_MACHINE:
        device = this_machine(measured)
        if device is None:
            raise ValueError(
                "plan: device 'this_machine' needs the ceilings a run measures (latency metrics "
                "ceiling.gflops and ceiling.bandwidth_gbs): run `kedro run` (or --pipelines latency) first"
            )
        return device
    if name not in KNOWN_GPUS:
        raise ValueError(f"plan: unknown device {name!r}; known: {[THIS_MACHINE, *KNOWN_GPUS]}")
    gpu = KNOWN_GPUS[name]
    return Device(name, gpu.flops_bf16, gpu.bandwidth, gpu.memory_bytes, "datasheet")
