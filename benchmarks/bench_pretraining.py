"""Pretraining throughput and MFU: bare torch loop vs `pretrain()` vs the Kedro node, same run.

All variants train the default model (`conf/base/parameters_pretraining.yml`) from the same seed on the
same packed blocks for the same number of steps, interleaved (the order rotates every repeat) and
repeated `--repeats` times; medians and ratios are printed (absolute tokens/s on a shared 2-core box is
noise, the ratio is the evidence). Each timed call starts from a fresh model:

  a  bare loop   build_model + AdamW (same two param groups, lr, betas, decay) + per step: random block
                 indices (torch.randint), forward with labels, backward, clip_grad_norm_, lr set per
                 group (same warm-up/cosine), step, zero_grad; one sync (loss.item()) at the end. No
                 logging, no eval, no checkpoints (nanoGPT's loop, minus everything optional).
  b  pretrain()  build_model + `training.pretraining.loop.pretrain(model, train, None, cfg, None,
                 progress=False, flops_per_token=...)`: its sampler, GradScaler no-ops, per-window sync
                 and history.
                 Eval is off (val_blocks=None), no checkpoints.
  c  node        `pipelines.pretraining.nodes.pretrain_base_model(...)` with `checkpoint_dir: null`,
                 `measure_ceiling: false`, an empty validation split (so no eval: eval is not training
                 throughput, and the library's tokens/s windows exclude it anyway), its tqdm bar on
                 (written to /dev/null), calculator flops, model build, history table. Packing is NOT
                 timed in any variant (it is a separate node; all variants get the same blocks).

Ratio = tokens/s of b or c over a (target >= 0.97), both as the ratio of medians and as the median of
per-repeat ratios (paired, robust to load drift between repeats).

MFU = calculator training FLOPs/token (6·N + 12·L·H·Q·T, `modeling.calculator.training_flops_per_token`)
× tokens/s ÷ fp32 GEMM FLOP/s measured in the same run with the same thread count (2048² and 4096²,
measured at every repeat, medians).

`--explore` adds side-by-side variants of the bare loop (steady state: each variant keeps its model and
optimizer across repeats, so the numbers exclude model build and the first step): torch threads 1 vs 2;
block 128/256/512 × batch 8/16/32; AdamW for-loop (the CPU default) vs foreach vs fused; a 2x wider
model; torch.compile (compile time reported); the model's own GEMM shapes timed alone (what its matmuls
could reach); and a torch.profiler breakdown by phase and by op category.

Corpus (`--corpus`): `stored` = the latest versioned `tokenizer` and `filtered_documents` under data/toy/
(what `kedro run --pipelines=toy_world,data_filtering,tokenizer` wrote); `build` = the same three
stages run in-process through the node functions (toy world → filter chain → BPE, ~20 s, no Kedro run
needed); `auto` (default) = stored if present, else build.

    python benchmarks/bench_pretraining.py [--repeats 5] [--steps 40] [--explore | --explore-only]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from bench_common import DATA, allocator_line, latest_version, load_params
from torch import nn

from llm_lifecycle.benchmarking.ceilings import device_ceiling, measure_cpu_gemm_flops
from llm_lifecycle.modeling.build import build_model
from llm_lifecycle.modeling.calculator import training_flops_per_token
from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.pipelines.pretraining.nodes import (
    PretrainingSettings,
    pack_pretraining_data,
    pretrain_base_model,
)
from llm_lifecycle.training.pretraining.loop import PretrainLoopSettings, lr_at, param_groups, pretrain

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- inputs


def load_corpus(mode: str, params: dict[str, Any]) -> tuple[Any, list[dict], str]:
    """(tokenizer, filtered documents, description)."""
    if mode in ("auto", "stored"):
        tok_v = latest_version(DATA / "06_models/tokenizer")
        docs_v = latest_version(DATA / "02_intermediate/filtered_documents.jsonl")
        if tok_v and docs_v and (tok_v / "tokenizer").is_dir():
            from transformers import AutoTokenizer

            from llm_lifecycle.datasets.jsonl import read_jsonl

            tok = AutoTokenizer.from_pretrained(tok_v / "tokenizer")
            docs = list(read_jsonl(docs_v / "filtered_documents.jsonl", {"text": "str"}))
            return tok, docs, f"stored: tokenizer {tok_v.name}, filtered_documents {docs_v.name}"
        if mode == "stored":
            raise SystemExit(
                "no stored tokenizer/filtered_documents: run the kedro pipelines or --corpus build"
            )
    from llm_lifecycle.pipelines.data_filtering.nodes import filter_documents
    from llm_lifecycle.pipelines.tokenizer.nodes import train_tokenizer
    from llm_lifecycle.pipelines.toy_world.nodes import make_documents

    t0 = time.perf_counter()
    raw, _ = make_documents(params["seed"], params["toy_world"])
    kept, _, _ = filter_documents(raw, {**params["data_filtering"], "progress": False})
    tok = train_tokenizer(kept, params["tokenizer"])
    return tok, kept, f"built in-process (toy world → filters → BPE) in {time.perf_counter() - t0:.1f} s"


def blocks_for(tokenizer: Any, docs: list[dict], pre: dict[str, Any], block_size: int) -> dict[str, Any]:
    p = copy.deepcopy(pre)
    p["train"]["block_size"] = block_size
    blocks, _ = pack_pretraining_data(tokenizer, docs, p)
    return blocks


# --------------------------------------------------------------------------- helpers


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


@contextlib.contextmanager
def num_threads(n: int | None):
    prev = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def gemm_flops(n: int, repeats: int) -> float:
    if DEVICE.type == "cuda":
        return device_ceiling("cuda").flops
    return measure_cpu_gemm_flops(n, repeats=repeats, warmup=1)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def interleaved(
    variants: dict[str, Callable[[], float]], repeats: int, on_repeat: Callable[[], None] | None = None
) -> dict[str, list[float]]:
    """{name: [seconds per repeat]}; every repeat runs each variant once, starting one further along."""
    names = list(variants)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        if on_repeat is not None:
            on_repeat()
        for name in names[r % len(names) :] + names[: r % len(names)]:
            sync()
            t0 = time.perf_counter()
            variants[name]()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- the three variants


def bare_loop(model: nn.Module, train: torch.Tensor, cfg: PretrainLoopSettings, steps: int) -> float:
    """nanoGPT's loop, nothing else."""
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    model.train()
    n = train.shape[0]
    for step in range(steps):
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        x = train[torch.randint(n, (cfg.batch_size,))].to(DEVICE)  # [B, T]
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return loss.item()


class Compare:
    """The three variants on one setup; `last` keeps the library's own logged tokens/s per call."""

    def __init__(self, tok: Any, blocks: dict[str, Any], pre: dict[str, Any], seed: int, steps: int):
        self.tok, self.blocks, self.seed, self.steps = tok, blocks, seed, steps
        cfg = PretrainingSettings.model_validate(pre)
        self.model_cfg: ModelSettings = cfg.model.for_tokenizer(tok)
        train = {**pre["train"], "max_steps": steps, "eval_every": 10**9, "checkpoint_every": 10**9}
        self.cfg = PretrainLoopSettings.model_validate({"seed": seed, **train})
        self.node_params = {**pre, "train": train, "checkpoint_dir": None, "measure_ceiling": False}
        self.node_blocks = {**blocks, "val": blocks["val"][:0]}  # empty: no eval (see docstring)
        self.fpt = training_flops_per_token(self.model_cfg, self.cfg.block_size)
        self.logged: dict[str, list[float]] = {"b": [], "c": []}
        self.devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark

    def model(self) -> nn.Module:
        return build_model(self.model_cfg, seed=self.seed).to(DEVICE)

    def a(self, steps: int | None = None) -> None:
        torch.manual_seed(self.cfg.seed)
        bare_loop(self.model(), self.blocks["train"], self.cfg, steps or self.steps)

    def b(self, steps: int | None = None) -> None:
        cfg = self.cfg if steps is None else self.cfg.model_copy(update={"max_steps": steps})
        res = pretrain(
            self.model(), self.blocks["train"], None, cfg, None, flops_per_token=self.fpt, progress=False
        )
        if steps is None:
            self.logged["b"].append(med([e["value"] for e in res.history["tokens_per_s"]]))

    def c(self, steps: int | None = None) -> None:
        params = self.node_params
        if steps is not None:
            params = {**params, "train": {**params["train"], "max_steps": steps}}
        with contextlib.redirect_stderr(self.devnull):
            _, metrics, _ = pretrain_base_model(self.node_blocks, self.tok, params, self.seed)
        if steps is None:
            self.logged["c"].append(med([e["value"] for e in metrics["tokens_per_s"]]))


def run_compare(tok: Any, docs: list[dict], params: dict[str, Any], args: argparse.Namespace) -> None:
    pre = params["pretraining"]
    blocks = blocks_for(tok, docs, pre, pre["train"]["block_size"])
    cmp = Compare(tok, blocks, pre, params["seed"], args.steps)
    cfg = cmp.cfg
    print(
        f"\n== a/b/c: {args.steps} steps x {cfg.batch_size} x {cfg.block_size} tokens, "
        f"{args.repeats} repeats, torch threads {torch.get_num_threads()}, device {DEVICE} =="
    )
    print(
        f"model: {sum(p.numel() for p in cmp.model().parameters()) / 1e6:.2f} M params, vocab "
        f"{cmp.model_cfg.vocab_size}; {blocks['train'].shape[0]} train blocks; "
        f"calculator {cmp.fpt / 1e6:.2f} MFLOP/token"
    )
    for fn in (cmp.a, cmp.b, cmp.c):  # warm-up: imports, allocator, thread pool
        fn(3)
    ceil: dict[int, list[float]] = {2048: [], 4096: []}

    def ceilings() -> None:
        ceil[2048].append(gemm_flops(2048, 10))
        ceil[4096].append(gemm_flops(4096, 3))

    names = {"a": "a bare loop", "b": "b pretrain()", "c": "c node"}
    times = interleaved({names[k]: getattr(cmp, k) for k in names}, args.repeats, on_repeat=ceilings)
    tokens = args.steps * cfg.tokens_per_step
    base = med(times[names["a"]])
    print(f"{'variant':16s} {'median s':>9s} {'tok/s':>8s} {'vs a':>6s} {'paired':>7s}  spread (min-max s)")
    for name, ts in times.items():
        paired = med([ta / t for ta, t in zip(times[names["a"]], ts, strict=True)])
        print(
            f"{name:16s} {med(ts):9.2f} {tokens / med(ts):8.0f} {base / med(ts):6.3f} {paired:7.3f}"
            f"  {min(ts):.2f}-{max(ts):.2f}"
        )
    print(
        f"library's own logged tokens/s (median of {cfg.log_every}-step windows, median over repeats): "
        f"b {med(cmp.logged['b']):.0f}, c {med(cmp.logged['c']):.0f}"
    )

    g2, g4 = med(ceil[2048]), med(ceil[4096])
    print(
        f"\n== MFU: {cmp.fpt / 1e6:.2f} MFLOP/token; fp32 GEMM 2048² {g2 / 1e9:.1f} GFLOP/s "
        f"(range {min(ceil[2048]) / 1e9:.0f}-{max(ceil[2048]) / 1e9:.0f}), 4096² {g4 / 1e9:.1f} GFLOP/s "
        f"(range {min(ceil[4096]) / 1e9:.0f}-{max(ceil[4096]) / 1e9:.0f}) =="
    )
    print(f"{'variant':16s} {'tok/s':>8s} {'GFLOP/s':>8s} {'MFU 2048²':>10s} {'MFU 4096²':>10s}")
    for name, ts in times.items():
        achieved = cmp.fpt * tokens / med(ts)
        mfu = f"{achieved / g2:10.3f} {achieved / g4:10.3f}"
        print(f"{name:16s} {tokens / med(ts):8.0f} {achieved / 1e9:8.1f} {mfu}")
    cmp.devnull.close()


# --------------------------------------------------------------------------- exploration


class Steady:
    """A bare-loop trainer that persists across calls (steady state): call(steps) runs `steps` updates."""

    def __init__(
        self,
        model: nn.Module,
        train: torch.Tensor,
        batch: int,
        *,
        threads: int | None = None,
        adamw: dict[str, Any] | None = None,
        warmup: int = 2,
    ):
        self.model, self.train, self.batch, self.threads = model, train, batch, threads
        groups = param_groups(model, 0.1)
        self.opt = torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), **(adamw or {}))
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.block = train.shape[1]
        t0 = time.perf_counter()
        self(warmup)
        self.warmup_s = time.perf_counter() - t0

    def __call__(self, steps: int) -> None:
        with num_threads(self.threads):
            self.model.train()
            for _ in range(steps):
                x = self.train[torch.randint(self.train.shape[0], (self.batch,))].to(DEVICE)
                loss = self.model(input_ids=x, labels=x).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, 1.0)
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
            loss.item()


def steady_table(
    title: str,
    runs: dict[str, tuple[Steady, int, float]],
    repeats: int,
    ceiling: dict[str, list[float]] | None = None,
    ceiling_fns: dict[str, Callable[[], float]] | None = None,
) -> dict[str, float]:
    """runs: name -> (trainer, steps per call, flops/token). Prints tok/s, ratio to the first, MFU."""
    ceiling = ceiling if ceiling is not None else {}

    def measure_ceilings() -> None:
        for k, fn in (ceiling_fns or {}).items():
            ceiling.setdefault(k, []).append(fn())

    times = interleaved(
        {k: (lambda s=s, n=n: s(n)) for k, (s, n, _) in runs.items()}, repeats, on_repeat=measure_ceilings
    )
    first = next(iter(runs))
    tps = {k: runs[k][1] * runs[k][0].batch * runs[k][0].block / med(ts) for k, ts in times.items()}
    print(f"\n== {title} ==")
    cols = "".join(f" {'MFU ' + k:>12s}" for k in ceiling)
    print(f"{'variant':34s} {'tok/s':>8s} {'vs ' + first[:10]:>14s} {'GFLOP/s':>8s}{cols}")
    for k, (_, _, fpt) in runs.items():
        flops = fpt * tps[k]
        mfus = "".join(f" {flops / med(v):12.3f}" for v in ceiling.values())
        print(f"{k:34s} {tps[k]:8.0f} {tps[k] / tps[first]:14.3f} {flops / 1e9:8.1f}{mfus}")
    for k, v in ceiling.items():
        print(f"  ceiling {k}: {med(v) / 1e9:.1f} GFLOP/s (range {min(v) / 1e9:.0f}-{max(v) / 1e9:.0f})")
    return tps


def steps_for(tokens_per_step: int, budget: int) -> int:
    return max(3, math.ceil(budget / tokens_per_step))


def gemm_shapes_ceiling(model_cfg: ModelSettings, model: nn.Module, batch: int, block: int) -> None:
    """Time the model's own linear-layer GEMMs (forward, grad-input, grad-weight) and SDPA alone."""
    m = batch * block
    shapes: dict[tuple[int, int], int] = {}
    for mod in model.modules():
        if isinstance(mod, nn.Linear):
            key = (mod.in_features, mod.out_features)
            shapes[key] = shapes.get(key, 0) + 1

    def timed(fn: Callable[[], object], reps: int = 10) -> float:
        for _ in range(3):  # warm-up
            fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return med(ts)

    print(f"\n== the model's GEMMs alone (M = batch·block = {m}), fp32, {torch.get_num_threads()} threads ==")
    print(f"{'linear (K -> N) x count':26s} {'fwd GF/s':>9s} {'dX GF/s':>9s} {'dW GF/s':>9s} {'ms/step':>8s}")
    total_flops = total_s = 0.0
    for (k, n), count in sorted(shapes.items()):
        x, w, dy = torch.randn(m, k), torch.randn(n, k), torch.randn(m, n)
        fl = 2.0 * m * k * n
        t = [
            timed(lambda x=x, w=w: torch.nn.functional.linear(x, w)),
            timed(lambda dy=dy, w=w: dy @ w),
            timed(lambda dy=dy, x=x: dy.t() @ x),
        ]
        total_flops += 3 * fl * count
        total_s += sum(t) * count
        gf = [f"{fl / s / 1e9:9.1f}" for s in t]
        print(f"{f'{k} -> {n} x{count}':26s} {' '.join(gf)} {sum(t) * count * 1e3:8.1f}")
    h, q = model_cfg.n_heads, model_cfg.resolved_head_dim
    qkv = [torch.randn(batch, h, block, q, requires_grad=True) for _ in range(3)]

    def sdpa() -> None:
        out = torch.nn.functional.scaled_dot_product_attention(*qkv, is_causal=True)
        out.sum().backward()

    t_attn = timed(sdpa, 5) * model_cfg.n_layers
    attn_flops = 12.0 * model_cfg.n_layers * h * q * block * m  # the calculator's term, per step
    print(
        f"linear GEMMs: {total_flops / 1e9:.2f} GFLOP/step in {total_s * 1e3:.0f} ms -> "
        f"{total_flops / total_s / 1e9:.1f} GFLOP/s at these shapes"
    )
    print(
        f"SDPA causal fwd+bwd x{model_cfg.n_layers} layers (GQA expanded to {h} heads): {t_attn * 1e3:.0f} ms"
        f"/step for {attn_flops / 1e9:.2f} GFLOP counted -> {attn_flops / t_attn / 1e9:.1f} GFLOP/s"
    )
    print(
        f"=> matmul+attention floor {1e3 * (total_s + t_attn):.0f} ms/step = "
        f"{m / (total_s + t_attn):.0f} tok/s if nothing else ran"
    )


_CATEGORIES = [
    ("matmul", r"^aten::(mm|addmm|bmm|baddbmm|matmul|linear)$"),
    ("attention (SDPA)", r"scaled_dot_product|flash_attention"),
    ("loss (log-softmax/NLL)", r"log_softmax|nll_loss|cross_entropy"),
    ("embedding", r"embedding"),
    ("optimizer math", r"^aten::(_foreach_|addcdiv|addcmul|lerp|sqrt|_fused_adamw)"),
    ("grad-norm", r"linalg_vector_norm|^aten::norm$|_foreach_norm"),
    (
        "copy/alloc/view",
        r"^aten::(copy_|empty|empty_strided|zeros|zero_|fill_|clone|contiguous|to|_to_copy)$",
    ),
]


def profile_breakdown(trainer: Steady, steps: int) -> None:
    """torch.profiler over `steps` bare-loop steps: wall time per phase, self time per op category."""
    from torch.profiler import ProfilerActivity, profile, record_function

    phases = ["data", "forward", "backward", "clip_grad_norm", "optimizer.step", "zero_grad"]
    model, opt, train, b = trainer.model, trainer.opt, trainer.train, trainer.batch
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            with record_function("phase::data"):
                x = train[torch.randint(train.shape[0], (b,))]
            with record_function("phase::forward"):
                loss = model(input_ids=x, labels=x).loss
            with record_function("phase::backward"):
                loss.backward()
            with record_function("phase::clip_grad_norm"):
                torch.nn.utils.clip_grad_norm_(trainer.params, 1.0)
            with record_function("phase::optimizer.step"):
                opt.step()
            with record_function("phase::zero_grad"):
                opt.zero_grad(set_to_none=True)
    events = prof.key_averages()
    phase_us = {p: 0.0 for p in phases}
    for e in events:
        if e.key.startswith("phase::"):
            phase_us[e.key.removeprefix("phase::")] += e.cpu_time_total
    total = sum(phase_us.values())
    print(f"\n== torch.profiler, {steps} steps (profiler overhead inflates small ops) ==")
    print(f"{'phase':24s} {'ms/step':>8s} {'share':>6s}")
    for p in phases:
        print(f"{p:24s} {phase_us[p] / steps / 1e3:8.1f} {phase_us[p] / total:6.1%}")
    ops = [e for e in events if not e.key.startswith(("phase::", "ProfilerStep"))]
    self_total = sum(e.self_cpu_time_total for e in ops)
    cat_us: dict[str, float] = {}
    for e in ops:
        cat = next((c for c, rx in _CATEGORIES if re.search(rx, e.key)), "other elementwise/norm/rope")
        cat_us[cat] = cat_us.get(cat, 0.0) + e.self_cpu_time_total
    print(f"{'op category (self time)':24s} {'ms/step':>8s} {'share':>6s}")
    for cat, us in sorted(cat_us.items(), key=lambda kv: -kv[1]):
        print(f"{cat:24s} {us / steps / 1e3:8.1f} {us / self_total:6.1%}")
    print(f"{'top ops by self time':52s} {'calls/step':>10s} {'ms/step':>8s} {'share':>6s}")
    for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:14]:
        print(
            f"{e.key[:52]:52s} {e.count / steps:10.0f} {e.self_cpu_time_total / steps / 1e3:8.1f}"
            f" {e.self_cpu_time_total / self_total:6.1%}"
        )


def run_explore(tok: Any, docs: list[dict], params: dict[str, Any], args: argparse.Namespace) -> None:
    pre = params["pretraining"]
    seed = params["seed"]
    cfg = PretrainingSettings.model_validate(pre)
    model_cfg = cfg.model.for_tokenizer(tok)
    t_def, b_def = pre["train"]["block_size"], pre["train"]["batch_size"]
    blocks = {t: blocks_for(tok, docs, pre, t)["train"] for t in (128, 256, 512)}
    budget, reps = args.explore_tokens, args.explore_repeats
    n_def = steps_for(t_def * b_def, budget)
    fpt = {t: training_flops_per_token(model_cfg, t) for t in blocks}
    ncpu = os.cpu_count() or 1
    print(f"\n#### exploration: bare loop, steady state, ~{budget} tokens per call, {reps} repeats")

    def fresh(mcfg: ModelSettings = model_cfg) -> nn.Module:
        return build_model(mcfg, seed=seed).to(DEVICE)

    # 1. threads
    thread_counts = sorted({1, torch.get_num_threads(), ncpu})
    runs = {
        f"threads={n}": (Steady(fresh(), blocks[t_def], b_def, threads=n), n_def, fpt[t_def])
        for n in thread_counts
    }
    g: dict[str, Callable[[], float]] = {}
    for n in thread_counts:
        g[f"t{n}"] = lambda n=n: _gemm_at(n)
    steady_table(
        f"torch threads (block {t_def}, batch {b_def}); MFU vs 2048² GEMM at the same thread count",
        runs,
        reps,
        ceiling_fns=g,
    )
    print("  (MFU columns: each row's FLOP/s over the GEMM at that column's thread count)")

    # 2. block x batch
    ceiling: dict[str, list[float]] = {}
    runs = {}
    for t in (128, 256, 512):
        for b in (8, 16, 32):
            runs[f"block {t:3d} x batch {b:2d} ({t * b:5d} tok)"] = (
                Steady(fresh(), blocks[t], b),
                steps_for(t * b, budget),
                fpt[t],
            )
    default_key = f"block {t_def:3d} x batch {b_def:2d} ({t_def * b_def:5d} tok)"
    runs = {default_key: runs.pop(default_key), **runs}
    steady_table(
        "block size x batch (flops/token grows with block: attention term)",
        runs,
        reps,
        ceiling,
        {"2048²": lambda: gemm_flops(2048, 10)},
    )

    # 3. optimizer implementation
    runs = {
        f"AdamW {name}": (Steady(fresh(), blocks[t_def], b_def, adamw=kw), n_def, fpt[t_def])
        for name, kw in (
            ("default (CPU: for-loop)", {}),
            ("foreach=True", {"foreach": True}),
            ("fused=True", {"fused": True}),
        )
    }
    steady_table("AdamW implementation (block/batch default)", runs, reps, ceiling)

    # 4. model width: is it the small matrices?
    wide_cfg = model_cfg.model_copy(
        update={"hidden_size": 256, "intermediate_size": 768, "n_heads": 8, "n_kv_heads": 4}
    )
    wide_fpt = training_flops_per_token(wide_cfg, t_def)
    runs = {
        "default model (H=128)": (Steady(fresh(), blocks[t_def], b_def), n_def, fpt[t_def]),
        "2x wider (H=256, I=768, 8 heads)": (
            Steady(fresh(wide_cfg), blocks[t_def], b_def),
            max(3, n_def * fpt[t_def] // wide_fpt),
            wide_fpt,
        ),
    }
    steady_table("model width (not a config change proposal: shows what limits MFU)", runs, reps, ceiling)

    # 5. torch.compile
    if not args.no_compile:
        try:
            import torch._inductor.config as inductor_config

            compiled = torch.compile(fresh())
            # cold by default: inductor's on-disk caches (/tmp/torchinductor_*) would hide the real cost
            cold = (
                contextlib.nullcontext()
                if args.warm_compile_cache
                else inductor_config.patch(force_disable_caches=True)
            )
            t0 = time.perf_counter()
            with cold:
                trainer = Steady(compiled, blocks[t_def], b_def, warmup=2)
            compile_s = time.perf_counter() - t0
            runs = {
                "eager": (Steady(fresh(), blocks[t_def], b_def), n_def, fpt[t_def]),
                "torch.compile (inductor)": (trainer, n_def, fpt[t_def]),
            }
            tps = steady_table("torch.compile", runs, reps, ceiling)
            saved = 1 / tps["eager"] - 1 / tps["torch.compile (inductor)"]  # s per token
            default_tokens = pre["train"]["max_steps"] * t_def * b_def
            print(
                f"  compile ({'warm' if args.warm_compile_cache else 'cold'} cache) + first 2 steps: "
                f"{compile_s:.1f} s; break-even after "
                f"{compile_s / saved / (t_def * b_def) if saved > 0 else float('inf'):.0f} steps; "
                f"default run ({pre['train']['max_steps']} steps) would save "
                f"{saved * default_tokens - compile_s:+.1f} s net"
            )
        except Exception as exc:  # compile needs a C++ toolchain; report and go on
            print(f"\n== torch.compile failed: {type(exc).__name__}: {str(exc)[:300]} ==")

    # 6. GEMM shapes alone and 7. profiler
    model = fresh()
    gemm_shapes_ceiling(model_cfg, model, b_def, t_def)
    profile_breakdown(Steady(model, blocks[t_def], b_def), args.profile_steps)


def _gemm_at(n_threads: int) -> float:
    with num_threads(n_threads):
        return gemm_flops(2048, 10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["auto", "stored", "build"], default="auto")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps per timed call (a/b/c)")
    ap.add_argument("--explore", action="store_true", help="also run the MFU exploration")
    ap.add_argument("--explore-only", action="store_true", help="only the exploration")
    ap.add_argument("--explore-repeats", type=int, default=3)
    ap.add_argument("--explore-tokens", type=int, default=32768, help="tokens per timed call in exploration")
    ap.add_argument("--profile-steps", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    ap.add_argument(
        "--warm-compile-cache", action="store_true", help="reuse inductor's disk cache (default: cold)"
    )
    args = ap.parse_args()
    print(allocator_line())

    params = load_params()
    tok, docs, source = load_corpus(args.corpus, params)
    print(f"corpus: {len(docs)} documents, tokenizer of {len(tok)} tokens ({source})")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu capability "
        f"{torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} CPUs visible"
    )
    print(f"load average (1/5/15 min) at start: {load()} -- other processes share these cores")
    t0 = time.perf_counter()
    if not args.explore_only:
        run_compare(tok, docs, params, args)
    if args.explore or args.explore_only:
        run_explore(tok, docs, params, args)
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.0f} s; load average {load()}")


if __name__ == "__main__":
    main()
