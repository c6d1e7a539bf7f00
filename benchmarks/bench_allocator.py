"""glibc's default malloc thresholds vs `llm_lifecycle.allocator.keep_freed_memory`, side by side in one run.

Each measurement is a fresh Python process (malloc's thresholds are set once per process; glibc's
defaults cannot be restored in one that changed them), the two variants alternating, the order rotating
every repeat:

  default  `LLM_LIFECYCLE_MALLOC=default`: glibc's adaptive thresholds, as before the project set them
  kept     `keep_freed_memory()`, what `kedro run` does before its first node (`hooks.AllocatorHooks`)

and each runs, after a warm-up:

  pretraining  the bare nanoGPT loop of `bench_pretraining.py` (`bare_loop`) on the default model and the
               stored packed blocks (`--steps` steps of 16 x 256 tokens)
  sft, dpo, rm the SFT, DPO and reward-model trainers exactly as `bench_posttraining.py` builds them
               (`Throughput.<stage>_call`, ~`--tokens` useful tokens), on what a finished run wrote

Printed per stage: tokens/s, minor page faults per step and the share of the process's CPU time spent in
the kernel, medians over repeats, and kept ÷ default (ratio of medians and median of paired ratios). The
losses of the two variants are compared too: the allocator changes where tensors live, not the numbers.

Needs a finished `kedro run` (the tokenizer, filtered documents and base model under data/toy/).

    python benchmarks/bench_allocator.py [--repeats 3] [--steps 30] [--tokens 30000]
        [--stages pretraining,sft,dpo,rm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("default", "kept")


def _usage() -> tuple[int, float, float]:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_minflt, u.ru_utime, u.ru_stime


def child(stage: str, steps: int, tokens: int) -> dict:
    """One measurement in this process (`--child`): the stage's tokens/s, faults/step, kernel share, loss."""
    from llm_lifecycle.allocator import keep_freed_memory

    kept = keep_freed_memory()  # as the hook does; `LLM_LIFECYCLE_MALLOC=default` leaves glibc's defaults
    import torch
    from bench_common import load_params

    params = load_params()
    if stage == "pretraining":
        import bench_pretraining as bp

        tok, docs, _ = bp.load_corpus("stored", params)
        pre = params["pretraining"]
        blocks = bp.blocks_for(tok, docs, pre, pre["train"]["block_size"])
        cmp = bp.Compare(tok, blocks, pre, params["seed"], steps)

        def run() -> tuple[float, float, int]:
            torch.manual_seed(cmp.cfg.seed)
            t0 = time.perf_counter()
            loss = bp.bare_loop(cmp.model(), cmp.blocks["train"], cmp.cfg, steps)
            return steps * cmp.cfg.batch_size * cmp.cfg.block_size / (time.perf_counter() - t0), loss, steps

        run_short = lambda: bp.bare_loop(cmp.model(), cmp.blocks["train"], cmp.cfg, 3)  # noqa: E731
    else:
        import bench_posttraining as bpt
        from bench_common import DATA
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        call = getattr(bpt.Throughput(bpt.Inputs(params, DATA), tokens), f"{stage}_call")

        def run() -> tuple[float, float, int]:
            torch.manual_seed(0)
            tps, per_step, _, _ = call()
            return tps, float("nan"), round(tokens / per_step)

        run_short = call
    run_short()  # warm-up: imports, thread pool, the first step's allocations
    f0, u0, s0 = _usage()
    tps, loss, n_steps = run()
    f1, u1, s1 = _usage()
    return {
        "kept": kept,
        "tokens_per_s": tps,
        "faults_per_step": (f1 - f0) / n_steps,
        "kernel_share": (s1 - s0) / max((u1 - u0) + (s1 - s0), 1e-9),
        "loss": loss,
    }


def measure(stage: str, variant: str, args: argparse.Namespace) -> dict:
    from llm_lifecycle.allocator import ENV_VARS, OPT_OUT

    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env[OPT_OUT] = "default" if variant == "default" else ""
    cmd = [sys.executable, __file__, "--child", stage, "--steps", str(args.steps)]
    cmd += ["--tokens", str(args.tokens)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{stage}/{variant} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["kept"] != (variant == "kept"):
        raise SystemExit(f"{stage}/{variant}: the child's allocator was not the variant's ({out})")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30, help="pretraining: optimizer steps per measurement")
    ap.add_argument("--tokens", type=int, default=30000, help="sft/dpo/rm: useful tokens per measurement")
    ap.add_argument("--stages", default="pretraining,sft,dpo,rm")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.tokens)))
        return
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for r in range(args.repeats):
            for variant in VARIANTS[r % 2 :] + VARIANTS[: r % 2]:
                runs[variant].append(measure(stage, variant, args))
        print(f"\n== {stage} ({args.repeats} repeats, a fresh process each) ==")
        print(f"   {'variant':<9}{'tok/s':>8}{'faults/step':>13}{'kernel share':>14}   runs (tok/s)")
        for variant, rs in runs.items():
            med = lambda key: statistics.median(r[key] for r in rs)  # noqa: B023, E731
            print(
                f"   {variant:<9}{med('tokens_per_s'):>8.0f}{med('faults_per_step'):>13.0f}"
                f"{med('kernel_share'):>14.3f}   " + ", ".join(f"{r['tokens_per_s']:.0f}" for r in rs)
            )
        tps = {v: [r["tokens_per_s"] for r in rs] for v, rs in runs.items()}
        paired = statistics.median(k / d for k, d in zip(tps["kept"], tps["default"], strict=True))
        ratio = statistics.median(tps["kept"]) / statistics.median(tps["default"])
        print(f"   kept ÷ default: ratio of medians {ratio:.3f}, median paired {paired:.3f}")
        if stage == "pretraining":
            losses = {r["loss"] for rs in runs.values() for r in rs}
            print(
                f"   final loss of every run, both variants: {sorted(losses)} (one value: the same numbers)"
            )


if __name__ == "__main__":
    main()
