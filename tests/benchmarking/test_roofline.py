"""Roofline logic on hand-computed cases; the KV-cache formula vs a real cache; the harness's structure; the
regime of real latency runs, the same in five runs in a row."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest

from llm_lifecycle.benchmarking.latency import (
    LatencyHarnessSettings,
    decode_shape,
    measure_kv_cache,
    measure_latency,
)
from llm_lifecycle.benchmarking.roofline import DecodeShape, analyse_decode_step, analyse_latency_rows

# A 1 B-weight fp32 model: 4 GB of weights; 2 layers × attn width 1024; KV 1 MB per token (made up).
SHAPE = DecodeShape(
    n_matmul_params=10**9, weight_bytes=4 * 10**9, kv_bytes_per_token=10**6, n_layers=2, attn_dim=1024
)
PEAK, BW = 100e9, 20e9  # 100 GFLOP/s, 20 GB/s: ridge 5 FLOP/byte


def test_intensity_ridge_memory_bandwidth_bound_regime_and_efficiency_by_hand():
    # batch 1, context 1000: FLOPs = 2e9 + 4·2·1024·1000 = 2.008192e9; bytes = 4e9 + 1e9 = 5e9
    p = analyse_decode_step(SHAPE, 1, 1000, t_measured_s=0.30, peak_flops=PEAK, bandwidth=BW)
    assert p.flops == pytest.approx(2.008192e9) and p.bytes == pytest.approx(5e9)
    assert p.intensity == pytest.approx(2.008192e9 / 5e9) and p.ridge == pytest.approx(5.0)
    assert p.t_memory_s == pytest.approx(0.25) and p.t_compute_s == pytest.approx(0.02008192)
    assert p.t_predicted_s == pytest.approx(0.25) and p.measured_over_predicted == pytest.approx(1.2)
    assert p.regime == "memory-bandwidth-bound" and p.intensity_over_ridge == pytest.approx(0.08032768)
    assert p.mbu == pytest.approx(5e9 / 0.30 / BW) and p.mfu == pytest.approx(2.008192e9 / 0.30 / PEAK)
    # efficiency: 0.25 s of the 0.30 s is the bandwidth term (MBU 5/6), the other 1/6 is overhead
    assert p.limiting_ceiling_utilisation == pytest.approx(0.25 / 0.30) == pytest.approx(p.mbu)
    assert p.overhead_share == pytest.approx(0.05 / 0.30)
    assert not p.fits_in_cache  # no cache size given
    assert p.summary == (
        "memory-bandwidth-bound (0.08x the ridge); 83% of the measured bandwidth; 17% of the step is overhead"
    )


def test_compute_bound_at_large_batch_by_hand():
    # batch 64, context 10: FLOPs = 128e9 + 4·2·1024·10·64 = 128.00524288e9; bytes = 4e9 + 64·10·1e6 = 4.64e9
    p = analyse_decode_step(SHAPE, 64, 10, t_measured_s=1.5, peak_flops=PEAK, bandwidth=BW)
    assert p.t_compute_s == pytest.approx(1.2800524288) and p.t_memory_s == pytest.approx(0.232)
    assert p.intensity > p.ridge and p.regime == "compute-bound"
    assert p.intensity_over_ridge == pytest.approx(128.00524288 / 4.64 / 5)
    assert p.limiting_ceiling_utilisation == pytest.approx(1.2800524288 / 1.5) == pytest.approx(p.mfu)
    assert p.overhead_share == pytest.approx(1 - 1.2800524288 / 1.5)
    assert p.summary == (
        "compute-bound (5.5x the ridge); 85% of the measured peak FLOP/s; 15% of the step is overhead"
    )


def test_the_regime_flips_exactly_at_the_ridge():
    # context 0: FLOPs = 2e9·B, bytes = 4e9, intensity B/2 exactly; ridge 100e9 / 20e9 = 5 exactly
    at = analyse_decode_step(SHAPE, 10, 0, t_measured_s=1.0, peak_flops=PEAK, bandwidth=BW)
    assert at.intensity == at.ridge == 5.0 and at.t_compute_s == at.t_memory_s
    assert at.regime == "compute-bound"  # at the ridge the step reaches peak FLOP/s
    below = analyse_decode_step(SHAPE, 9, 0, t_measured_s=1.0, peak_flops=PEAK, bandwidth=BW)
    assert below.intensity == 4.5 and below.regime == "memory-bandwidth-bound"
    # the same step against a ridge a hair above its intensity
    hair = analyse_decode_step(SHAPE, 10, 0, t_measured_s=1.0, peak_flops=PEAK * (1 + 1e-9), bandwidth=BW)
    assert hair.intensity < hair.ridge and hair.regime == "memory-bandwidth-bound"


def test_noise_in_the_measured_time_moves_the_efficiency_never_the_regime():
    # the case: the same step at 1.20x and at 1.59x the prediction in two runs
    runs = [
        analyse_decode_step(SHAPE, 1, 1000, t_measured_s=t, peak_flops=PEAK, bandwidth=BW)
        for t in (0.125, 0.25, 0.30, 0.3975, 2.5, 62.5)
    ]
    assert {p.regime for p in runs} == {"memory-bandwidth-bound"}
    by_ratio = {round(p.measured_over_predicted, 2): p for p in runs}
    assert by_ratio[1.2].limiting_ceiling_utilisation == pytest.approx(0.8333, abs=1e-4)
    assert by_ratio[1.59].limiting_ceiling_utilisation == pytest.approx(0.6289, abs=1e-4)
    assert by_ratio[1.59].overhead_share == pytest.approx(1 - 0.25 / 0.3975)
    assert by_ratio[1.0].overhead_share == 0.0 and by_ratio[10.0].overhead_share == pytest.approx(0.9)
    assert "0.4% of the measured bandwidth; 99.6% of the step is overhead" in by_ratio[250.0].summary
    # faster than the DRAM roofline (a ceiling measured low): no overhead, and the summary says so
    fast = by_ratio[0.5]
    assert fast.limiting_ceiling_utilisation == pytest.approx(2.0) and fast.overhead_share == 0.0
    assert "2.00x the measured bandwidth (the ceiling was measured low); no overhead left" in fast.summary


def test_fits_in_cache_counts_the_weights_and_the_kv_cache_of_the_step():
    small = DecodeShape(10**6, 4 * 10**6, 1000, 2, 64)  # 4 MB of weights, 1 kB of KV per token
    step_bytes = 4 * 10**6 + 10 * 1000  # batch 1, context 10

    def at(llc, t=0.004):
        return analyse_decode_step(small, 1, 10, t_measured_s=t, peak_flops=PEAK, bandwidth=BW, llc_bytes=llc)

    assert at(32 * 2**20).fits_in_cache and at(step_bytes).fits_in_cache
    assert not at(step_bytes - 1).fits_in_cache  # the weights alone would fit, not with the KV cache
    assert not at(2**20).fits_in_cache and not at(None).fits_in_cache
    # the regime is the roofline's either way; the cache shows in the words
    p = at(32 * 2**20)
    assert p.regime == at(None).regime == "memory-bandwidth-bound"
    assert p.summary.startswith("memory-bandwidth-bound (0.1x the ridge), fits in cache; ")
    faster = at(32 * 2**20, t=p.t_predicted_s / 3)  # beats the DRAM roofline: served from the cache
    assert faster.overhead_share == 0.0 and "(served from the last-level cache)" in faster.summary


def _row(model, batch, tpot_s, shape=SHAPE):
    return {
        "model": model,
        "batch_size": batch,
        "prompt_tokens": 990,
        "new_tokens": 20,  # context 1000
        "tpot_s": tpot_s,
        "ttft_s": 0.5,
        "e2e_s": 0.5 + 19 * tpot_s,
        "tokens_per_s": batch * 20 / (0.5 + 19 * tpot_s),
        "peak_memory_bytes": None,
        **asdict(shape),
    }


def test_latency_rows_give_regime_efficiency_and_their_metrics():
    ceilings = {"flops": PEAK, "bandwidth": BW, "llc_bytes": None}
    points, metrics = analyse_latency_rows([_row("m", 1, 0.30)], ceilings)
    (point,) = points
    assert point["regime"] == "memory-bandwidth-bound" and point["fits_in_cache"] is False
    assert metrics["latency/m/bs1/limiting_ceiling_utilisation"] == pytest.approx(0.25 / 0.30)
    assert metrics["latency/m/bs1/overhead_share"] == pytest.approx(0.05 / 0.30)
    assert metrics["latency/m/bs1/intensity_over_ridge"] == pytest.approx(0.08032768)
    assert metrics["latency/m/bs1/mbu"] == pytest.approx(
        metrics["latency/m/bs1/limiting_ceiling_utilisation"]
    )


def test_report_card_latency_section_states_regime_and_efficiency():
    import pandas as pd

    from llm_lifecycle.reporting.report_card import latency_section

    ceilings = {"flops": PEAK, "bandwidth": BW, "llc_bytes": None, "device": "cpu"}
    points, _ = analyse_latency_rows([_row("m", 1, 0.30), _row("m", 64, 1.5)], ceilings)
    section = latency_section(pd.DataFrame(points), ceilings)
    (table,) = section.tables
    assert {"regime", "intensity_over_ridge", "overhead_share", "summary"} <= set(table.columns)
    assert "verdict" not in table.columns
    assert table["summary"].iloc[0].endswith("83% of the measured bandwidth; 17% of the step is overhead")
    assert "regime" in section.title


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


@pytest.fixture
def one_thread():
    """torch on one thread for the test: on a shared 2-core machine two threads spin against the
    neighbours' work and a 2-token generate can take 0.4 s instead of 4 ms."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow  # 4-6 s, most of it the five GEMM ceilings
def test_five_latency_runs_in_a_row_give_the_same_regime_for_every_row(one_thread):
    """What the pipeline does, five times: measure the ceilings, run the harness, analyse the roofline.
    The measured times (and so MBU, MFU, overhead) move from run to run; the regime must not."""
    from llm_lifecycle.benchmarking.ceilings import measured_ceilings
    from llm_lifecycle.benchmarking.latency import benchmark_models
    from llm_lifecycle.modeling import ModelSettings, build_model

    archs = {  # the GQA fixture's shape, and the default run's DPO shape (4 MiB of fp32 weights)
        "tiny": ModelSettings(vocab_size=300, hidden_size=64, n_layers=3, n_heads=4, n_kv_heads=2,
                              intermediate_size=128, max_position_embeddings=128),
        "dpo-sized": ModelSettings(vocab_size=2048, hidden_size=128, n_layers=4, n_heads=4, n_kv_heads=2,
                                   intermediate_size=384, max_position_embeddings=128),
    }  # fmt: skip
    models = {name: build_model(cfg, 0) for name, cfg in archs.items()}
    settings = LatencyHarnessSettings(
        batch_sizes=[1, 64],
        prompt_tokens=4,
        new_tokens=2,
        warmup=1,
        min_repeats=1,
        min_time_s=0.0,
        max_repeats=1,
    )
    runs, ridges = [], []
    for _ in range(5):
        ceilings = measured_ceilings(repeats=1)
        rows, _ = benchmark_models({n: (lambda m=m: m) for n, m in models.items()}, settings, ceilings)
        points, _ = analyse_latency_rows(rows, ceilings)
        runs.append({(p["model"], p["batch_size"]): p for p in points})
        ridges.append(ceilings["flops"] / ceilings["bandwidth"])
    regimes = [{key: p["regime"] for key, p in run.items()} for run in runs]
    assert len(regimes[0]) == 4 and all(r == regimes[0] for r in regimes), regimes
    # batch 1 at ~0.5 FLOP/byte (fp32) is below any device's ridge; batch 64 at ~22-28 FLOP/byte is above
    # a CPU's fp32 ridge (1.9-4.3 in five runs on a shared 2-core machine), below a GPU's bf16 one (~200)
    assert {regimes[0][(m, 1)] for m in archs} == {"memory-bandwidth-bound"}
    if max(ridges) < min(run[(m, 64)]["intensity"] for run in runs for m in archs):
        assert {regimes[0][(m, 64)] for m in archs} == {"compute-bound"}
    for run in runs:  # each row's efficiency is stated, whatever it was this time
        for p in run.values():
            assert 0 <= p["overhead_share"] < 1 and p["summary"].startswith(p["regime"])
