"""Throughput of the data-filtering stage: Kedro node vs bare datatrove blocks vs datatrove's executor.

Same documents, same run, measured side by side (absolute times on a shared 2-core box are noisy; the
ratios are the evidence). Each repeat runs every variant once, in turn; the table shows medians.

  a   node           `data_filtering.nodes.filter_documents` (in_process: validation, all blocks, dedup,
                     record building, funnel)
  b   plain loop     `for doc: for block in blocks: block.filter(doc)` over the same configured blocks
  b'  plain loop     the quality blocks only (no dedup): what the executor runs
  c1  local x1       datatrove LocalPipelineExecutor, 1 task/1 worker: JSONL shards in, quality blocks,
                     kept + per-rule rejected JSONL out (run_datatrove_local)
  c2  local x2       the same with 2 tasks on 2 worker processes (includes process start-up)
  s1, s2             c1, c2 on 4 documents: the fixed start-up cost, subtracted for a second scaling ratio

Node overhead = a/b - 1 (target <= 5%). Scaling = docs/s of c2 over c1.
Run: `.venv/bin/python benchmarks/bench_filtering.py [--repeats 3] [--n-clean 1200]` (datatrove's own
log lines go to stderr; `2>/dev/null` leaves the table).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import get_filter_result

from llm_lifecycle.filtering.chain import build_blocks, build_dedup_blocks
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.executors import INDEX_KEY, run_datatrove_local
from llm_lifecycle.pipelines.data_filtering.nodes import filter_documents
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world


def _docs(records: list[dict]) -> list[Document]:
    return [Document(text=r["text"], id=r["id"], metadata={INDEX_KEY: i}) for i, r in enumerate(records)]


def plain_loop(records: list[dict], cfg: FilteringSettings, dedup: bool) -> int:
    blocks = build_blocks(cfg) + (build_dedup_blocks(cfg) if dedup else [])
    kept = 0
    for doc in _docs(records):
        for block in blocks:
            if not get_filter_result(block.filter(doc))[0]:
                break
        else:
            kept += 1
    return kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-clean", type=int, default=1200, help="clean pages of the toy world (noise on top)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    records, _ = generate_documents(make_world(args.seed), DocumentsSettings(n_clean=args.n_clean), args.seed)
    n = len(records)
    params = FilteringSettings(progress=False).model_dump()
    cfg = FilteringSettings.model_validate(params)
    variants: dict[str, tuple[int, Callable[[], object]]] = {  # name -> (cores used, call)
        "a  node": (1, lambda: filter_documents(records, params)),
        "b  loop, all blocks": (1, lambda: plain_loop(records, cfg, dedup=True)),
        "b' loop, quality": (1, lambda: plain_loop(records, cfg, dedup=False)),
        "c1 executor x1": (1, lambda: run_datatrove_local(_docs(records), build_blocks(cfg), 1)),
        "c2 executor x2": (2, lambda: run_datatrove_local(_docs(records), build_blocks(cfg), 2)),
    }
    tiny = _docs(records[:4])
    startup: dict[str, tuple[int, Callable[[], object]]] = {  # fixed cost: processes, imports, models
        "s1 x1, 4 docs": (1, lambda: run_datatrove_local(tiny, build_blocks(cfg), 1)),
        "s2 x2, 4 docs": (2, lambda: run_datatrove_local(tiny, build_blocks(cfg), 2)),
    }
    for name in list(variants)[:3]:  # warm-up: spaCy pipelines and lingua models load on first use
        variants[name][1]()
    times: dict[str, list[float]] = {name: [] for name in variants | startup}
    for r in range(args.repeats):
        names = list(variants)
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate: no variant always first
            t0 = time.perf_counter()
            variants[name][1]()
            times[name].append(time.perf_counter() - t0)
        for name, (_, call) in startup.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)

    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"\n{n} documents, {args.repeats} repeats (median), {os.cpu_count()} CPUs")
    print(f"{'variant':20s} {'seconds':>8s} {'docs/s':>8s} {'docs/s/core':>12s}   all runs (s)")
    for name, (cores, _) in (variants | startup).items():
        runs = " ".join(f"{t:.2f}" for t in times[name])
        size = len(tiny) if name in startup else n
        rate = size / med[name]
        print(f"{name:20s} {med[name]:8.2f} {rate:8.1f} {rate / cores:12.1f}   {runs}")
    a, b, b_q = (med[k] for k in ("a  node", "b  loop, all blocks", "b' loop, quality"))
    c1, c2 = med["c1 executor x1"], med["c2 executor x2"]
    s1, s2 = med["s1 x1, 4 docs"], med["s2 x2, 4 docs"]
    print()
    print(f"node overhead over the plain loop, a/b - 1:        {100 * (a / b - 1):+6.1f}%  (target <= 5%)")
    print(f"executor x1 over the quality-only loop, c1/b' - 1: {100 * (c1 / b_q - 1):+6.1f}%  (JSONL I/O)")
    print(f"scaling 1 -> 2 workers, c1/c2:                     {c1 / c2:6.2f}x  (ideal 2.00x)")
    print(f"  without start-up, (c1 - s1)/(c2 - s2):           {(c1 - s1) / max(c2 - s2, 1e-9):6.2f}x")


if __name__ == "__main__":  # required: datatrove's executor starts worker processes that import __main__
    main()
