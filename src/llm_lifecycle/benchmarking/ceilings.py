"""Hardware ceilings for the roofline and for MFU: peak FLOP/s and memory bandwidth.

On a GPU we use the vendor's nominal dense bf16 peak and HBM bandwidth (`planning.devices.KNOWN_GPUS`):
that is what MFU is conventionally quoted against (PaLM appendix B; nanoGPT divides by A100's 312
TFLOP/s). On a CPU nominal peaks are meaningless (turbo, AVX frequency offsets, shared cores in a VM),
so we MEASURE the ceilings in the same run that we compare against:

- FLOP/s: a large square matmul, 2·n³ FLOPs (n³ multiply-adds), fp32 by default (bf16 is ~15x slower
  on CPUs without AVX-512 BF16, so fp32 is the CPU's real training/inference dtype). Median of
  `repeats` timed runs after warm-up runs (median: robust to a noisy neighbour on a shared host).
- Bandwidth: "sum" (default) reads a large buffer once and counts nbytes per run: a pure read stream,
  the same access pattern as a decode step reading the weights. "copy" counts 2·nbytes per run (read
  source + write destination, the STREAM convention); the CPU's write-allocate read of the destination
  is real traffic that this convention does not count, so "copy" reads slightly low. The buffer
  (256 MiB) is far bigger than any last-level cache, so this is DRAM bandwidth, not cache.

The methodology follows llama-bench / optimum-benchmark: warm-up first, several repeats, report the
median. On CUDA the clock is read only after `torch.cuda.synchronize()`.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from llm_lifecycle.planning.devices import KNOWN_GPUS, GpuPeak

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ceiling:
    """Peak FLOP/s and bytes/s of a device; `source` says whether they were measured or nominal."""

    flops: float
    bandwidth: float
    source: Literal["measured", "nominal"]
    device: str = "cpu"
    dtype: str = "float32"

    @property
    def ridge_point(self) -> float:
        """Arithmetic intensity (FLOP/byte) above which a kernel is compute-bound on this device."""
        return self.flops / self.bandwidth

    def as_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "ridge_point": self.ridge_point}


def match_gpu_peak(name: str) -> tuple[str, GpuPeak] | None:
    """Table entry for a `torch.cuda.get_device_name()` string, or None if we have no safe match.

    Variants with different peaks are not matched (A100 40GB has 1.6 TB/s; H100 PCIe 756 TFLOP/s):
    those fall back to measurement rather than borrowing a wrong number.
    """
    n = name.upper()
    if "H200" in n:
        return "H200", KNOWN_GPUS["H200"]
    if "H100" in n and "PCIE" not in n and "NVL" not in n:
        return "H100-SXM", KNOWN_GPUS["H100-SXM"]
    if "A100" in n and "80G" in n and "PCIE" not in n:
        return "A100-80GB", KNOWN_GPUS["A100-80GB"]
    if n.split()[-1] == "L4":  # "NVIDIA L4", not the L40/L40S
        return "L4", KNOWN_GPUS["L4"]
    return None


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously): read the clock only after this."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: int, best: bool = False
) -> float:
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times) if best else statistics.median(times)


def measure_cpu_gemm_flops(
    n: int = 2048,
    repeats: int = 10,
    dtype: torch.dtype = torch.float32,
    warmup: int = 2,
    device: str | torch.device = "cpu",
    *,
    best: bool = False,
) -> float:
    """FLOP/s of an [n, n] @ [n, n] matmul (2·n³ FLOPs), median (or with `best`, fastest) of `repeats`
    after `warmup` runs.

    Uses torch's current thread count (set it first to measure with the threads training will use).
    `device` exists so the same probe can be run on a GPU without a datasheet entry.
    """
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, generator=g, device=dev, dtype=torch.float32).to(dtype)  # [n, n]
    b = torch.randn(n, n, generator=g, device=dev, dtype=torch.float32).to(dtype)  # [n, n]
    out = torch.empty(n, n, device=dev, dtype=dtype)
    seconds = _median_seconds(lambda: torch.matmul(a, b, out=out), dev, repeats, warmup, best)
    flops = 2.0 * n**3 / seconds
    logger.info("GEMM %dx%d %s on %s: %.1f GFLOP/s (median of %d)", n, n, dtype, dev, flops / 1e9, repeats)
    return flops


def measure_memory_bandwidth(
    nbytes: int = 256 * 2**20,
    repeats: int = 10,
    mode: Literal["sum", "copy"] = "sum",
    warmup: int = 2,
    device: str | torch.device = "cpu",
    *,
    best: bool = False,
) -> float:
    """Bytes/s streamed through memory: "sum" counts nbytes read; "copy" counts 2·nbytes (read + write).

    fp32 buffers of `nbytes` (rounded down to whole elements); median of `repeats` after `warmup`.
    """
    if mode not in ("sum", "copy"):
        raise ValueError(f"mode must be 'sum' or 'copy', got {mode!r}")
    dev = torch.device(device)
    numel = nbytes // 4
    src = torch.ones(numel, dtype=torch.float32, device=dev)  # [numel], touched so pages are mapped
    if mode == "sum":
        seconds = _median_seconds(src.sum, dev, repeats, warmup, best)
        moved = numel * 4
    else:
        dst = torch.empty_like(src)
        dst.zero_()  # fault the pages in before timing
        seconds = _median_seconds(lambda: dst.copy_(src), dev, repeats, warmup, best)
        moved = 2 * numel * 4
    bandwidth = moved / seconds
    logger.info("memory %s of %d MiB on %s: %.1f GB/s", mode, nbytes >> 20, dev, bandwidth / 1e9)
    return bandwidth


def device_ceiling(device: str | torch.device = "cpu", repeats: int = 10, best: bool = False) -> Ceiling:
    """Ceiling for `device`: nominal bf16 peaks for a known GPU, otherwise measured here and now.

    `best=True` takes the fastest of the repeats instead of the median: what the hardware can reach (as
    STREAM reports), the right roof for a roofline on a machine whose neighbours come and go.

    CPU: fp32 GEMM and a read (sum) stream. Unknown GPU: bf16 GEMM (n=8192, enough to fill the tensor
    cores) and a device-memory read of 1 GiB.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        match = match_gpu_peak(name)
        if match is not None:
            key, peak = match
            logger.info(
                "%s: nominal %s peaks (%.0f TFLOP/s bf16, %.2f TB/s)",
                name,
                key,
                peak.flops_bf16 / 1e12,
                peak.bandwidth / 1e12,
            )
            return Ceiling(peak.flops_bf16, peak.bandwidth, "nominal", device=name, dtype="bfloat16")
        flops = measure_cpu_gemm_flops(8192, repeats, torch.bfloat16, device=dev, best=best)
        bandwidth = measure_memory_bandwidth(2**30, repeats, "sum", device=dev, best=best)
        ceiling = Ceiling(flops, bandwidth, "measured", device=name, dtype="bfloat16")
    else:
        flops = measure_cpu_gemm_flops(2048, repeats, torch.float32, device=dev, best=best)
        bandwidth = measure_memory_bandwidth(256 * 2**20, repeats, "sum", device=dev, best=best)
        ceiling = Ceiling(flops, bandwidth, "measured", device=str(dev), dtype="float32")
    if not (math.isfinite(ceiling.flops) and math.isfinite(ceiling.bandwidth)):
        raise RuntimeError(f"non-finite ceiling measured: {ceiling}")
    return ceiling


def measured_ceilings(repeats: int) -> dict[str, Any]:
    """This machine's ceilings for the roofline, as a JSON-able dict: FLOP/s and bandwidth (the fastest of
    `repeats`: a roof is what the machine can reach, a median drifts down with neighbours; one run
    measured 18.4 GB/s while decoding itself streamed 23 GB/s), the device, and the last-level cache."""
    from llm_lifecycle.benchmarking.latency import llc_bytes

    device = "cuda" if torch.cuda.is_available() else "cpu"
    ceiling = device_ceiling(device, repeats=repeats, best=True)
    return {
        "flops": ceiling.flops,
        "bandwidth": ceiling.bandwidth,
        "source": ceiling.source,
        "device": ceiling.device,
        "dtype": ceiling.dtype,
        "llc_bytes": llc_bytes() if device == "cpu" else None,
        "threads": torch.get_num_threads(),
    }
