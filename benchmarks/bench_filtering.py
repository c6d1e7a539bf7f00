"""Throughput of the data-filtering stage: per-core docs/s old-style vs new; node vs bare blocks vs executor.

Part 1, per-core throughput (issue #19; target >= 500 documents per CPU-second on the toy corpus). The
quality and dedup blocks run in a plain loop over the same documents, each block's `filter` timed with
`time.process_time()`, the CPU time of this process, so other jobs on the shared box do not count
(wall seconds are printed too, and they do). Two variants, alternating, same run:

  old-style   the chain as it was before #19: datatrove's stock spaCy tokenizer, which opens a spaCy
              memory zone per call (`SharedTokenizer(reuse_vocab=False)`), and the per-character
              symbol share and dedup normalisation (the reference copies below, patched in)
  new         the chain as `build_blocks` + `build_dedup_blocks` make it

Both must take the same decision (rule, reason, kept text) for every document; the script stops if not.
Printed: docs per CPU-second and per wall second, each block's CPU seconds and share, the speed-up, and
the ratio to the 500 docs/s/core target.

Part 2, overheads (skip with --throughput-only). Absolute times on a shared 2-core box are noisy; the
ratios are the evidence. Each repeat runs every variant once, in turn; the table shows medians.

  a   node           `data_filtering.nodes.filter_documents` (in_process: validation, all blocks, dedup,
                     record building, funnel)
  b   plain loop     `for doc: for block in blocks: block.filter(doc)` over the same configured blocks
  b'  plain loop     the quality blocks only (no dedup): what the executor runs
  c1  local x1       datatrove LocalPipelineExecutor, 1 task/1 worker: JSONL shards in, quality blocks,
                     kept + per-rule rejected JSONL out (run_datatrove_local)
  c2  local x2       the same with 2 tasks on 2 worker processes (includes process start-up)
  s1, s2             c1, c2 on 4 documents: the fixed start-up cost, subtracted for a second scaling ratio

Node overhead = a/b - 1 (target <= 5%). Scaling = docs/s of c2 over c1.
Run: `.venv/bin/python benchmarks/bench_filtering.py [--repeats 3] [--n-clean 1200] [--seed 42]
[--throughput-only]` (datatrove's own log lines go to stderr; `2>/dev/null` leaves the tables).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
import unicodedata
from collections.abc import Callable
from contextlib import ExitStack
from unittest import mock

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result

from llm_lifecycle.filtering import dedup, rules
from llm_lifecycle.filtering.chain import build_blocks, build_dedup_blocks
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.executors import INDEX_KEY, run_datatrove_local
from llm_lifecycle.pipelines.data_filtering.nodes import filter_documents
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world

TARGET_DOCS_PER_CPU_S = 500.0


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


# ------------------------------------------------------------------ part 1: old-style vs new, per core
# The pre-#19 implementations, kept here only so that one run can measure both (same results, slower).
_OLD_EXTRA_SYMBOLS = frozenset("#|*~•…_^")
_OLD_SPACE = re.compile(r"\s+")


def old_symbol_char_ratio(text: str) -> float:
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return 0.0
    n = sum(1 for ch in chars if ch in _OLD_EXTRA_SYMBOLS or unicodedata.category(ch).startswith("S"))
    return n / len(chars)


def old_normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    return _OLD_SPACE.sub(" ", text).strip()


def old_style(blocks: list[BaseFilter]) -> ExitStack:
    """Turn freshly built `blocks` into the pre-#19 chain: stock datatrove tokenizers (set here, before
    first use) and, while the returned context is open, the per-character symbol share and normalisation."""
    for block in blocks:
        for inner in getattr(block, "filters", {}).values():  # ByLanguage: its per-language datatrove filters
            if isinstance(inner.language, rules.SharedTokenizer):
                inner.language.reuse_vocab = False
    stack = ExitStack()
    stack.enter_context(mock.patch.object(rules, "symbol_char_ratio", old_symbol_char_ratio))
    stack.enter_context(mock.patch.object(dedup, "normalise", old_normalise))
    return stack


def timed_chain(records: list[dict], cfg: FilteringSettings, old: bool) -> dict:
    """Every document through quality + dedup blocks; per-block CPU seconds, total CPU and wall, decisions."""
    blocks = build_blocks(cfg) + build_dedup_blocks(cfg)
    cpu = dict.fromkeys((b.name for b in blocks), 0.0)
    decisions = []
    with old_style(blocks) if old else ExitStack():
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for doc in _docs(records):
            for block in blocks:
                t0 = time.process_time()
                keep, why = get_filter_result(block.filter(doc))
                cpu[block.name] += time.process_time() - t0
                if not keep:
                    decisions.append((doc.id, block.name, why))
                    break
            else:
                decisions.append((doc.id, None, doc.text))
        total_cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"blocks": cpu, "cpu": total_cpu, "wall": wall, "decisions": decisions}


def throughput(records: list[dict], cfg: FilteringSettings, repeats: int) -> None:
    n = len(records)
    warm = records[: min(n, 200)]  # loads lingua's models and both spaCy languages for either variant
    timed_chain(warm, cfg, old=True)
    timed_chain(warm, cfg, old=False)
    runs: dict[str, list[dict]] = {"old-style": [], "new": []}
    for r in range(repeats):
        for name in ["old-style", "new"][:: 1 if r % 2 == 0 else -1]:  # alternate which goes first
            runs[name].append(timed_chain(records, cfg, old=name == "old-style"))
    new = runs["new"][0]["decisions"]
    for run in runs["old-style"] + runs["new"]:
        if run["decisions"] != new:
            diff = [(a, b) for a, b in zip(run["decisions"], new, strict=True) if a != b]
            raise SystemExit(f"decisions differ between runs on {len(diff)} documents, e.g. {diff[:3]}")
    kept = sum(1 for d in new if d[1] is None)

    med = {  # name -> (cpu s, wall s, {block: cpu s}) medians over the repeats
        name: (
            statistics.median(x["cpu"] for x in rs),
            statistics.median(x["wall"] for x in rs),
            {b: statistics.median(x["blocks"][b] for x in rs) for b in rs[0]["blocks"]},
        )
        for name, rs in runs.items()
    }
    print(f"\nPer-core throughput: {n} docs ({kept} kept), {repeats} repeats (median), {os.cpu_count()} CPUs")
    print("decisions (rule, reason, kept text) identical for every document: yes")
    print(
        f"{'variant':10s} {'CPU s':>7s} {'wall s':>7s} {'docs/CPU-s':>11s} {'docs/wall-s':>12s}   CPU s (all)"
    )
    for name, (c, w, _) in med.items():
        all_runs = " ".join(f"{x['cpu']:.2f}" for x in runs[name])
        print(f"{name:10s} {c:7.2f} {w:7.2f} {n / c:11.1f} {n / w:12.1f}   {all_runs}")
    (c_old, w_old, b_old), (c_new, w_new, b_new) = med["old-style"], med["new"]
    print(f"\n{'block':20s} {'old CPU s':>9s} {'share':>6s} {'new CPU s':>9s} {'share':>6s} {'speed-up':>8s}")
    s_old, s_new = sum(b_old.values()), sum(b_new.values())
    for b in b_old:
        share_old, share_new = 100 * b_old[b] / s_old, 100 * b_new[b] / s_new
        print(
            f"{b:20s} {b_old[b]:9.3f} {share_old:5.1f}% {b_new[b]:9.3f} {share_new:5.1f}% "
            f"{b_old[b] / max(b_new[b], 1e-9):7.1f}x"
        )
    rest_old, rest_new = c_old - s_old, c_new - s_new
    print(f"{'(loop, documents)':20s} {rest_old:9.3f} {'':6s} {rest_new:9.3f}")
    rate, target = n / c_new, TARGET_DOCS_PER_CPU_S
    print(f"\nspeed-up new / old-style: {c_old / c_new:.2f}x per CPU-second, {w_old / w_new:.2f}x wall")
    print(f"old-style: {n / c_old:.1f} docs per CPU-second = {n / c_old / target:.2f}x the target")
    print(
        f"new: {rate:.1f} docs per CPU-second = {rate / target:.2f}x the {target:.0f} docs/s/core target "
        f"({'met' if rate >= target else 'NOT met'})"
    )


# ------------------------------------------------------------------ part 2: node, loop, executor
def overheads(records: list[dict], cfg: FilteringSettings, params: dict, repeats: int) -> None:
    n = len(records)
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
    for r in range(repeats):
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
    print(f"\nOverheads: {n} documents, {repeats} repeats (median wall), {os.cpu_count()} CPUs")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-clean", type=int, default=1200, help="clean pages of the toy world (noise on top)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--throughput-only", action="store_true", help="part 1 only (old-style vs new per core)")
    args = ap.parse_args()

    records, _ = generate_documents(make_world(args.seed), DocumentsSettings(n_clean=args.n_clean), args.seed)
    params = FilteringSettings(progress=False).model_dump()
    cfg = FilteringSettings.model_validate(params)
    throughput(records, cfg, args.repeats)
    if not args.throughput_only:
        overheads(records, cfg, params, args.repeats)


if __name__ == "__main__":  # required: datatrove's executor starts worker processes that import __main__
    main()
