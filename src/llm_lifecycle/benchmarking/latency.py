"""Latency and throughput of `generate` at several batch sizes: TTFT, TPOT, end-to-end, tokens/s, peak memory.

Method (vLLM's benchmark_latency, optimum-benchmark, llama-bench):

- Random prompt ids of `prompt_tokens` per sequence (no padding, so every row does the same work), KV
  cache on, greedy, and a fixed number of new tokens: `min_new_tokens = max_new_tokens` so EOS cannot
  end a run early.
- Warm-up runs first (allocator, thread pools, lazy inits): two new tokens, so prefill and a cached
  decode step, whatever `new_tokens` is (a 248 M-parameter model's 16 tokens at batch 16 take ~4 s).
  Then TTFT runs (`max_new_tokens=1`: prefill plus the first token) and full runs alternate until there
  are at least `min_repeats` of each *and* `min_time_s` has passed (or `max_repeats`). Medians are
  reported with the interquartile range.
- `TPOT = (e2e − TTFT) / (new_tokens − 1)` (the decode step time), `tokens/s = B · new_tokens / e2e`.
- Peak memory: on CUDA `max_memory_allocated` (reset per batch size); on Linux CPUs the process's peak
  resident set (`VmHWM`), reset before each batch size through `/proc/self/clear_refs` (so it is the
  peak of that measurement, model weights included); None where neither is available.
- On CUDA the clock is read after `torch.cuda.synchronize()`.

`decode_shape` reads what a decode step touches off the model (matmul weights, bytes, KV bytes per
token) for `roofline.analyse_decode_step`; `measure_kv_cache` compares the real cache tensors with the
formula `2 · layers · kv_heads · head_dim · tokens · bytes`.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.benchmarking.roofline import DecodeShape, decode_shape_of

logger = logging.getLogger(__name__)


class LatencyHarnessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_sizes: list[int] = Field(default_factory=lambda: [1, 4, 16])
    prompt_tokens: int = Field(32, ge=1)
    new_tokens: int = Field(16, ge=2)
    warmup: int = Field(1, ge=0)
    min_repeats: int = Field(3, ge=1)
    min_time_s: float = Field(1.0, ge=0)
    max_repeats: int = Field(50, ge=1)
    seed: int = 0


def llc_bytes() -> int | None:
    """Size of the CPU's last-level cache (Linux sysfs), or None when unknown."""
    best = None
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            size = (index / "size").read_text().strip()
            level = int((index / "level").read_text())
        except (OSError, ValueError):
            continue
        m = re.fullmatch(r"(\d+)([KMG]?)", size)
        if m and (best is None or level > best[0]):
            best = (level, int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)])
    return best[1] if best else None


def decode_shape(model: Any) -> DecodeShape:
    """What a decode step of `model` touches, from the architecture calculator on its config: matmul
    weights (LM head included, the embedding lookup not), weight bytes read per step (the embedding table
    is not read whole, a lookup touches B rows, unless it is also the LM head), KV bytes per token."""
    from llm_lifecycle.modeling import from_hf_config

    return decode_shape_of(
        from_hf_config(model.config), str(next(model.parameters()).dtype).removeprefix("torch.")
    )


def measure_kv_cache(model: Any, batch_size: int, tokens: int) -> dict[str, int]:
    """Bytes of the KV cache after a forward over `batch_size × tokens`: measured tensors vs the formula."""
    import torch

    cfg = model.config
    device = next(model.parameters()).device
    ids = torch.randint(0, cfg.vocab_size, (batch_size, tokens), device=device)
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values
    measured = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)
    shape = decode_shape(model)
    return {"measured_bytes": int(measured), "formula_bytes": shape.kv_bytes_per_token * batch_size * tokens}


def reset_peak_rss() -> None:
    """Reset this process's peak resident set (Linux `VmHWM`) to the current one; elsewhere nothing.

    Free heap pages go back to the kernel first (`allocator.release_free_memory`): a run keeps freed
    blocks for reuse, and the peak of a measurement must not count what earlier ones freed."""
    from llm_lifecycle.allocator import release_free_memory

    release_free_memory()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def proc_status_bytes(field: str) -> int | None:
    """A memory field of this process's `/proc/self/status` (`VmHWM`, `RssAnon`, ...) in bytes; None
    where there is no such file or field (off Linux)."""
    try:
        m = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def peak_rss_bytes() -> int | None:
    """This process's peak resident set since start or `reset_peak_rss` (Linux `VmHWM`); None elsewhere."""
    return proc_status_bytes("VmHWM")


def _reset_peak(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()


def _peak(device: Any) -> int | None:
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return peak_rss_bytes()


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def measure_latency(
    model: Any, settings: LatencyHarnessSettings, name: str = "model"
) -> list[dict[str, Any]]:
    """One row per batch size: TTFT, TPOT, end-to-end latency, tokens/s (medians, IQR) and peak memory."""
    import torch
    from tqdm.auto import tqdm

    from llm_lifecycle.benchmarking.ceilings import synchronize

    model.eval()
    device = next(model.parameters()).device
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(settings.seed)
    rows = []
    for batch in tqdm(settings.batch_sizes, desc=f"latency ({name})", leave=False):
        ids = torch.randint(0, vocab, (batch, settings.prompt_tokens), generator=gen).to(device)
        mask = torch.ones_like(ids)

        def run(new: int, ids=ids, mask=mask) -> float:
            synchronize(device)
            start = time.perf_counter()
            with torch.inference_mode():
                model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    max_new_tokens=new,
                    min_new_tokens=new,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=0,
                )
            synchronize(device)
            return time.perf_counter() - start

        for _ in range(settings.warmup):  # prefill and one cached decode step: the kernels a full run uses
            run(2)
            run(1)
        _reset_peak(device)
        ttft, e2e = [], []
        began = time.perf_counter()
        while len(e2e) < settings.max_repeats and (
            len(e2e) < settings.min_repeats or time.perf_counter() - began < settings.min_time_s
        ):
            ttft.append(run(1))
            e2e.append(run(settings.new_tokens))
        t1, e = statistics.median(ttft), statistics.median(e2e)
        tpot = (e - t1) / (settings.new_tokens - 1)
        if tpot <= 0:  # noise larger than the decode itself (a tiny run on a busy machine)
            tpot = e / settings.new_tokens  # an upper bound: the whole generation per new token
            logger.warning(
                "%s bs=%d: end-to-end %.3g s <= first token %.3g s; TPOT = e2e/new_tokens (an upper bound)",
                name,
                batch,
                e,
                t1,
            )
        rows.append(
            {
                "model": name,
                "batch_size": batch,
                "prompt_tokens": settings.prompt_tokens,
                "new_tokens": settings.new_tokens,
                "repeats": len(e2e),
                "ttft_s": t1,
                "ttft_iqr_s": list(_quartiles(ttft)),
                "tpot_s": tpot,
                "e2e_s": e,
                "e2e_iqr_s": list(_quartiles(e2e)),
                "tokens_per_s": batch * settings.new_tokens / e,
                "peak_memory_bytes": _peak(device),
            }
        )
        logger.info(
            "%s bs=%d: TTFT %.1f ms, TPOT %.2f ms, e2e %.1f ms, %.0f tok/s (%d repeats)",
            name,
            batch,
            t1 * 1e3,
            tpot * 1e3,
            e * 1e3,
            rows[-1]["tokens_per_s"],
            len(e2e),
        )
    return rows


def benchmark_models(
    models: Mapping[str, Callable[[], Any]], settings: LatencyHarnessSettings, ceilings: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Latency rows of every model (built one at a time by its factory, moved to the GPU when there is
    one) with what the roofline needs of its shape, and the KV-cache check of each (measured cache
    tensors against the calculator's bytes). A model whose weights fit in the last-level cache
    (`ceilings["llc_bytes"]`) need not wait on DRAM (the roofline point says `fits_in_cache`)."""
    from llm_lifecycle.devices import place_for_inference

    rows, kv = [], []
    for name, make in models.items():
        model = place_for_inference(make())
        shape = decode_shape(model)
        llc = ceilings.get("llc_bytes")
        if llc and shape.weight_bytes <= llc:
            logger.info(
                "%s: %d MB of weights fit in the %d MB LLC: DRAM bandwidth need not limit its decode",
                name,
                shape.weight_bytes >> 20,
                llc >> 20,
            )
        check = measure_kv_cache(model, batch_size=2, tokens=settings.prompt_tokens)
        kv.append(
            {
                "model": name,
                "batch_size": 2,
                "tokens": settings.prompt_tokens,
                **check,
                "matches": check["measured_bytes"] == check["formula_bytes"],
            }
        )
        dtype = str(next(model.parameters()).dtype)
        for row in measure_latency(model, settings, name=name):
            rows.append({**row, **asdict(shape), "dtype": dtype})
        del model
    return rows, kv
