"""Roofline logic on hand-computed cases; the KV-cache formula vs a real cache; the harness's structure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_lifecycle.benchmarking.latency import (
    LatencyHarnessSettings,
    decode_shape,
    measure_kv_cache,
    measure_latency,
)
from llm_lifecycle.benchmarking.roofline import DecodeShape, analyse_decode_step

# A 1 B-weight fp32 model: 4 GB of weights; 2 layers × attn width 1024; KV 1 MB per token (made up).
SHAPE = DecodeShape(
    n_matmul_params=10**9, weight_bytes=4 * 10**9, kv_bytes_per_token=10**6, n_layers=2, attn_dim=1024
)
PEAK, BW = 100e9, 20e9  # 100 GFLOP/s, 20 GB/s: ridge 5 FLOP/byte


def test_intensity_ridge_and_memory_bound_verdict_by_hand():
    # batch 1, context 1000: FLOPs = 2e9 + 4·2·1024·1000 = 2.008192e9; bytes = 4e9 + 1e9 = 5e9
    p = analyse_decode_step(SHAPE, 1, 1000, t_measured_s=0.30, peak_flops=PEAK, bandwidth=BW)
    assert p.flops == pytest.approx(2.008192e9) and p.bytes == pytest.approx(5e9)
    assert p.intensity == pytest.approx(2.008192e9 / 5e9) and p.ridge == pytest.approx(5.0)
    assert p.t_memory_s == pytest.approx(0.25) and p.t_compute_s == pytest.approx(0.02008192)
    assert p.t_predicted_s == pytest.approx(0.25) and p.measured_over_predicted == pytest.approx(1.2)
    assert p.verdict == "memory-bound"
    assert p.mbu == pytest.approx(5e9 / 0.30 / BW) and p.mfu == pytest.approx(2.008192e9 / 0.30 / PEAK)


def test_compute_bound_at_large_batch_by_hand():
    # batch 64, context 10: FLOPs = 128e9 + 4·2·1024·10·64 = 128.00524288e9; bytes = 4e9 + 64·10·1e6 = 4.64e9
    p = analyse_decode_step(SHAPE, 64, 10, t_measured_s=1.5, peak_flops=PEAK, bandwidth=BW)
    assert p.t_compute_s == pytest.approx(1.2800524288) and p.t_memory_s == pytest.approx(0.232)
    assert p.intensity > p.ridge and p.verdict == "compute-bound"


def test_overhead_bound_when_neither_ceiling_explains_the_time():
    p = analyse_decode_step(SHAPE, 1, 1000, t_measured_s=2.5, peak_flops=PEAK, bandwidth=BW)  # 10x the roof
    assert p.verdict == "overhead-bound" and p.measured_over_predicted == pytest.approx(10.0)
    assert "neither ceiling" in p.why


def test_weights_in_the_last_level_cache_are_cache_bound():
    small = DecodeShape(10**6, 4 * 10**6, 1000, 2, 64)  # 4 MB of weights
    p = analyse_decode_step(
        small, 1, 10, t_measured_s=0.004, peak_flops=PEAK, bandwidth=BW, llc_bytes=32 * 2**20
    )
    assert p.verdict == "overhead/cache-bound" and "last-level cache" in p.why
    # the same model on a machine with a smaller cache is judged against DRAM
    q = analyse_decode_step(small, 1, 10, t_measured_s=0.0002, peak_flops=PEAK, bandwidth=BW, llc_bytes=2**20)
    assert q.verdict == "memory-bound"


_HAS_PROC = Path("/proc/self/status").exists()


def _vm_hwm_bytes() -> int:
    """The process's peak resident set now (Linux `VmHWM`, reported in kB)."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.fixture
def tiny_gqa():
    from llm_lifecycle.modeling import ModelSettings, build_model

    cfg = ModelSettings(
        vocab_size=300,
        hidden_size=64,
        n_layers=3,
        n_heads=4,
        n_kv_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    return build_model(cfg, 0)


def test_kv_cache_formula_matches_a_real_gqa_cache_exactly(tiny_gqa):
    check = measure_kv_cache(tiny_gqa, batch_size=3, tokens=11)
    # 2 · 3 layers · 2 kv heads · head_dim 16 · 11 tokens · 3 sequences · 4 bytes
    assert check["formula_bytes"] == 2 * 3 * 2 * 16 * 11 * 3 * 4
    assert check["measured_bytes"] == check["formula_bytes"]


def test_decode_shape_counts_matmul_weights_and_skips_the_embedding_lookup(tiny_gqa):
    shape = decode_shape(tiny_gqa)
    per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128  # q, k+v (GQA: 2 heads × 16), o, SwiGLU
    assert shape.n_matmul_params == 3 * per_layer + 300 * 64  # + LM head
    norms = (2 * 3 + 1) * 64
    assert shape.weight_bytes == 4 * (shape.n_matmul_params + norms)
    assert shape.kv_bytes_per_token == 2 * 3 * 2 * 16 * 4


def test_harness_returns_one_row_per_batch_with_consistent_fields(tiny_gqa):
    settings = LatencyHarnessSettings(
        batch_sizes=[1, 2], prompt_tokens=5, new_tokens=4, warmup=1, min_repeats=2, min_time_s=0.0
    )
    rows = measure_latency(tiny_gqa, settings, name="tiny")
    assert [r["batch_size"] for r in rows] == [1, 2]
    for r in rows:
        assert r["repeats"] >= 2 and r["ttft_s"] > 0 and r["e2e_s"] > 0 and r["tpot_s"] >= 0
        assert r["tokens_per_s"] == pytest.approx(r["batch_size"] * 4 / r["e2e_s"])
        lo, hi = r["e2e_iqr_s"]
        assert lo <= r["e2e_s"] <= hi
        if _HAS_PROC:  # CPU on Linux: the process's peak resident set, which holds the weights
            assert isinstance(r["peak_memory_bytes"], int)
            assert r["peak_memory_bytes"] >= _weight_bytes(tiny_gqa)
    if _HAS_PROC:  # the last batch size's peak is VmHWM since its reset: no more than VmHWM read afterwards
        assert rows[-1]["peak_memory_bytes"] <= _vm_hwm_bytes()


def test_cpu_peak_memory_is_in_bytes_and_covers_a_16_mb_model():
    if not _HAS_PROC:
        pytest.skip("no /proc/self/status: peak memory is None off Linux")
    from llm_lifecycle.modeling import ModelSettings, build_model

    # embedding + LM head 2 · 32000 · 64 = 4,096,000 fp32 weights = 16.4 MB: more than any resident set the
    # test process could have (< 16 GB) read in kB and not multiplied by 1024
    cfg = ModelSettings(vocab_size=32000, hidden_size=64, n_layers=1, n_heads=4, intermediate_size=64)
    model = build_model(cfg)
    assert _weight_bytes(model) > 16 * 10**6
    settings = LatencyHarnessSettings(
        batch_sizes=[1], prompt_tokens=4, new_tokens=2, warmup=0, min_repeats=1, min_time_s=0.0
    )
    (row,) = measure_latency(model, settings, name="16mb")
    assert _weight_bytes(model) <= row["peak_memory_bytes"] <= _vm_hwm_bytes()


@pytest.mark.slow
def test_gpu_script_runs_end_to_end_on_a_tiny_architecture(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    arch = tmp_path / "tiny.yml"
    arch.write_text(
        "vocab_size: 512\nhidden_size: 64\nn_layers: 2\nn_heads: 4\nn_kv_heads: 2\nintermediate_size: 128\n"
        "max_position_embeddings: 256\ndtype: float32\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks/latency_llama3_8b.py"),
            "--arch",
            str(arch),
            "--device",
            "cpu",
            "--dtype",
            "float32",
            "--batch-sizes",
            "1",
            "2",
            "--prompt-tokens",
            "8",
            "--new-tokens",
            "4",
            "--min-repeats",
            "1",
            "--min-time-s",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.strip().startswith(("1 ", "2 "))]
    assert len(lines) == 2 and all("bound" in line for line in lines)
    assert "measured vs" in out.stdout and "ceilings (measured, cpu)" in out.stdout


@pytest.mark.slow
def test_gpu_script_without_cuda_stops_at_once_and_says_so():
    import subprocess
    import sys
    import time
    from pathlib import Path

    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script would run")
    root = Path(__file__).resolve().parents[2]
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, str(root / "benchmarks/latency_llama3_8b.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # before: it built LLaMA-3-8B's 16 GB of weights on the CPU and decoded for hours
    assert out.returncode == 2 and "needs a CUDA GPU" in out.stderr and "--device cpu" in out.stderr
    assert time.monotonic() - start < 60
