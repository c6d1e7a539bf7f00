"""Ceilings: measurements are positive and finite (no timing thresholds: shared CI hosts vary)."""

from __future__ import annotations

import math

import pytest
import torch

from llm_lifecycle.benchmarking.ceilings import (
    Ceiling,
    device_ceiling,
    match_gpu_peak,
    measure_cpu_gemm_flops,
    measure_memory_bandwidth,
)
from llm_lifecycle.planning.devices import KNOWN_GPUS


def test_gemm_flops_positive_and_finite():
    flops = measure_cpu_gemm_flops(n=256, repeats=3, warmup=1)
    assert math.isfinite(flops) and flops > 0


@pytest.mark.parametrize("mode", ["sum", "copy"])
def test_memory_bandwidth_positive_and_finite(mode):
    bw = measure_memory_bandwidth(nbytes=16 * 2**20, repeats=3, mode=mode, warmup=1)
    assert math.isfinite(bw) and bw > 0


def test_bandwidth_rejects_unknown_mode():
    with pytest.raises(ValueError):
        measure_memory_bandwidth(nbytes=2**20, mode="triad")


def test_cpu_device_ceiling_is_measured():
    c = device_ceiling("cpu", repeats=2)
    assert c.source == "measured" and c.dtype == "float32"
    assert math.isfinite(c.flops) and c.flops > 0 and math.isfinite(c.bandwidth) and c.bandwidth > 0
    assert c.ridge_point == pytest.approx(c.flops / c.bandwidth)
    assert set(c.as_dict()) >= {"flops", "bandwidth", "source", "ridge_point"}


def test_known_gpu_table_and_name_matching():
    table = {k: (v.flops_bf16, v.bandwidth, v.memory_bytes) for k, v in KNOWN_GPUS.items()}
    assert table == {
        "A100-80GB": (312e12, 2.039e12, 80e9),
        "H100-SXM": (989e12, 3.35e12, 80e9),
        "H200": (989e12, 4.8e12, 141e9),
        "L4": (121e12, 300e9, 24e9),
    }
    assert match_gpu_peak("NVIDIA L4")[0] == "L4"
    assert match_gpu_peak("NVIDIA L40S") is None
    assert match_gpu_peak("NVIDIA H200")[0] == "H200"
    assert match_gpu_peak("NVIDIA H100 80GB HBM3")[0] == "H100-SXM"
    assert match_gpu_peak("NVIDIA A100-SXM4-80GB")[0] == "A100-80GB"
    assert match_gpu_peak("NVIDIA H100 PCIe") is None  # different peaks: measure instead
    assert match_gpu_peak("NVIDIA A100-SXM4-40GB") is None
    assert match_gpu_peak("NVIDIA GeForce RTX 4090") is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_ceiling():
    c = device_ceiling("cuda")
    assert isinstance(c, Ceiling) and c.flops > 0 and c.bandwidth > 0
