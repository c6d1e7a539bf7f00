"""Memory that stays flat: the data path at 1x, 10x and 30x the toy world, peak RSS and documents/s.

    python benchmarks/bench_memory.py                       # scales 1,10,30; both paths; 300 steps
    python benchmarks/bench_memory.py --scales 1,10 --paths shards --steps 100

For each scale the toy world's documents (`toy_world.documents.n_clean` x scale, noise on top) are written
to a JSONL file (not measured), then a fresh process runs one path and its peak resident memory (the
largest process of its tree: `os.wait4`'s `ru_maxrss`, what `/usr/bin/time -v` reports) is read back:

- `shards` (issue #19's path): the streaming filter (`data_filtering.executor: local`, datatrove's MinHash
  stages for dedup: `near_dedup.engine: datatrove`) from the file to kept shards on disk; token shards
  with datatrove's `DocumentTokenizer`; `--steps` pretraining steps of the default model reading
  memory-mapped blocks, in a process of their own, as the ranks of `pretraining.distributed` train at
  scale (the data phases' process and the training's each have their own peak; the run's is the larger).
- `memory` (the embedded default's path): the file read into a list, the in-process filter, the corpus
  packed into one tensor, the same training steps.

Printed side by side, per path: documents in and kept, peak RSS, resident memory per added document
between the two largest scales (goal for `shards`: <= 0.2 KB) and phase by phase (live anonymous memory
after filtering and after tokenizing, read after `gc.collect()` and `malloc_trim(0)` so glibc's freed heap
does not count; the data phases' peak; training's own peak), documents per CPU-second of the data
phases (filter + tokenize) and its ratio to the smallest scale (goal: 0.8-1.25), precision/recall of the
filter (scored by the driver: the labels never enter the measured process), and the 100 M-document
extrapolation of the peak. Each run also pays a fixed start-up (imports, language-id models, executor
start), measured on a 1/20 corpus and taken out in the "without start-up" column. Both paths run the
same code the pipeline's nodes call; one process per (scale, path), one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_common import load_params

HERE = Path(__file__).resolve().parent


def _write_corpus(scale: float, folder: Path, seed: int) -> tuple[Path, Path, int]:
    from llm_lifecycle.toy_world.config import ToyWorldSettings, world_from_config
    from llm_lifecycle.toy_world.documents import generate_documents

    cfg = ToyWorldSettings.model_validate(load_params()["toy_world"])
    docs_cfg = cfg.documents.model_copy(update={"n_clean": round(cfg.documents.n_clean * scale)})
    docs, labels = generate_documents(world_from_config(seed, cfg), docs_cfg, seed)
    folder.mkdir(parents=True, exist_ok=True)
    raw, lab = folder / "documents.jsonl", folder / "labels.jsonl"
    for path, rows in ((raw, docs), (lab, labels)):
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return raw, lab, len(docs)


def _tokenizer(raw: Path, out: Path) -> Path:
    from llm_lifecycle.datasets.shards import DocumentShards
    from llm_lifecycle.tokenization.train import TokenizerSettings, train_bpe

    cfg = TokenizerSettings.model_validate(load_params()["tokenizer"])
    train_bpe((r["text"] for r in DocumentShards(raw)), cfg).save_pretrained(out)
    return out


# --------------------------------------------------------------------------- the measured process


def _live_mb() -> float:
    """Anonymous resident memory after a collection and `malloc_trim(0)`: what the process still holds,
    without the freed heap glibc keeps for later (which differs by up to ~100 MB from run to run)."""
    import ctypes
    import gc

    from llm_lifecycle.benchmarking.latency import proc_status_bytes

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return proc_status_bytes("RssAnon") / 1024**2


def child(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoTokenizer

    from llm_lifecycle.benchmarking.latency import peak_rss_bytes, reset_peak_rss
    from llm_lifecycle.datasets.shards import DocumentShards
    from llm_lifecycle.pipelines.data_filtering import nodes as filter_nodes

    torch.set_num_threads(1)
    params = load_params()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    block = params["pretraining"]["train"]["block_size"]
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    live_start = _live_mb()  # after imports
    clock, cpu = time.perf_counter(), time.process_time()
    filtering = dict(params["data_filtering"], progress=False)
    if args.path == "shards":
        filtering |= {
            "executor": "local",
            "datatrove": {"tasks": args.tasks, "workers": 1, "work_dir": str(work / "filter")},
            "near_dedup": dict(filtering["near_dedup"], engine="datatrove"),
        }
        kept, rejected, _ = filter_nodes.filter_documents(DocumentShards(args.raw), filtering)
    else:
        kept, rejected, _ = filter_nodes.filter_documents(list(DocumentShards(args.raw)), filtering)
    t_filter, c_filter = time.perf_counter() - clock, time.process_time() - cpu
    live_filter = _live_mb()
    n_kept = sum(1 for _ in kept)
    rejected_ids = work / "rejected_ids.txt"  # scored by the driver: the labels never enter this process
    with rejected_ids.open("w", encoding="utf-8") as fh:
        fh.writelines(f"{r['id']}\n" for r in rejected)
    clock, cpu = time.perf_counter(), time.process_time()
    if args.path == "shards":
        from llm_lifecycle.filtering.executors import ExecutorSettings
        from llm_lifecycle.training.pretraining.data import token_shards
        from llm_lifecycle.training.pretraining.shards import open_shard_blocks

        executor = ExecutorSettings(kind="local", tasks=args.tasks, workers=1)
        folder = token_shards(
            tokenizer, kept, work / "token_shards", val_fraction=0.05, salt="pretrain", executor=executor
        )
        blocks = open_shard_blocks(folder, block)
    else:
        from llm_lifecycle.training.pretraining.packing import pack_corpus

        packed = pack_corpus(tokenizer, kept, block, val_fraction=0.05)
        blocks = {"train": packed.train_blocks, "val": packed.val_blocks}
    t_tok, c_tok = time.perf_counter() - clock, time.process_time() - cpu
    live_tok = _live_mb()
    data_peak = peak_rss_bytes() / 1024**2
    if args.path == "shards":
        # At scale the ranks of `pretraining.distributed` train, in processes of their own that open the
        # shards: so here. The in-memory path's tensor lives in this process, so it trains here.
        del blocks
        cmd = [sys.executable, str(HERE / "bench_memory.py"), "--train-child", "--out", str(folder)]
        cmd += ["--tokenizer", args.tokenizer, "--steps", str(args.steps)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)  # OMP_NUM_THREADS=1 inherited
        trained = json.loads(done.stdout.strip().splitlines()[-1])
        t_train, train_peak = trained["train_s"], trained["train_peak_mb"]
    else:
        reset_peak_rss()  # the training phase's own peak from here
        t_train, train_peak = _train(params["pretraining"], tokenizer, blocks, args.steps)
    print(
        json.dumps(
            {
                "docs_kept": n_kept,
                "filter_s": t_filter,
                "filter_cpu_s": c_filter,
                "tokenize_s": t_tok,
                "tokenize_cpu_s": c_tok,
                "train_s": t_train,
                "live_start_mb": live_start,
                "live_filter_mb": live_filter,
                "live_tokenize_mb": live_tok,
                "train_peak_mb": train_peak,
                "data_peak_mb": data_peak,
                "rejected_ids": str(rejected_ids),
            }
        )
    )


def _train(pretraining: dict, tokenizer, blocks: dict, steps: int) -> tuple[float, float]:
    """`steps` pretraining steps of the model in `pretraining` (the parameters) on `blocks`: (seconds, peak
    RSS in MB since the last reset of the high-water mark)."""
    from llm_lifecycle.benchmarking.latency import peak_rss_bytes
    from llm_lifecycle.modeling.build import build_model
    from llm_lifecycle.modeling.config import ModelSettingsForTokenizer
    from llm_lifecycle.training.pretraining.loop import pretrain
    from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

    model_cfg = ModelSettingsForTokenizer.model_validate(pretraining["model"]).for_tokenizer(tokenizer)
    loop = PretrainLoopSettings.model_validate(
        {**pretraining["train"], "max_steps": steps, "eval_every": steps, "eval_batches": 4}
    )
    clock = time.perf_counter()
    pretrain(build_model(model_cfg, seed=0), blocks["train"], blocks["val"], loop, None, progress=False)
    return time.perf_counter() - clock, peak_rss_bytes() / 1024**2


def train_child(args: argparse.Namespace) -> None:
    """The shards path's training, in a process of its own (as a rank): its peak RSS as JSON."""
    import torch
    from transformers import AutoTokenizer

    from llm_lifecycle.training.pretraining.shards import open_shard_blocks

    torch.set_num_threads(1)
    pretraining = load_params()["pretraining"]
    blocks = open_shard_blocks(args.out, pretraining["train"]["block_size"])
    t_train, peak = _train(pretraining, AutoTokenizer.from_pretrained(args.tokenizer), blocks, args.steps)
    print(json.dumps({"train_s": t_train, "train_peak_mb": peak}))


# --------------------------------------------------------------------------- the driver


def run_one(path: str, raw: Path, labels: Path, tokenizer: Path, out: Path, steps: int, tasks: int) -> dict:
    cmd = [sys.executable, str(HERE / "bench_memory.py"), "--child", "--path", path, "--raw", str(raw)]
    cmd += ["--labels", str(labels), "--tokenizer", str(tokenizer), "--out", str(out), "--steps", str(steps)]
    cmd += ["--tasks", str(tasks)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{path} run failed (exit {proc.returncode}): {' '.join(cmd)}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB; the largest process of the tree
    from llm_lifecycle.datasets.shards import DocumentShards
    from llm_lifecycle.filtering.evaluation import precision_recall

    rejected = Path(result["rejected_ids"]).read_text(encoding="utf-8").split()
    result |= {k: precision_recall(rejected, DocumentShards(labels))[k] for k in ("precision", "recall")}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1,10,30")
    ap.add_argument("--paths", default="shards,memory")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--tasks", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default="/tmp/bench_memory")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--train-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    for name in ("raw", "labels", "tokenizer", "out"):
        ap.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.train_child:
        train_child(args)
        return

    work = Path(args.work)
    scales = [int(s) for s in args.scales.split(",")]
    paths = args.paths.split(",")
    rows = []
    tokenizer = _tokenizer(_write_corpus(1, work / "x1" / "raw", args.seed)[0], work / "tokenizer")
    # The fixed cost of a run (imports, language models, executor start): a 1/20 corpus, one step.
    raw, labels, n_small = _write_corpus(0.05, work / "x0.05" / "raw", args.seed)
    fixed = {}
    for path in paths:
        r = run_one(path, raw, labels, tokenizer, work / "x0.05" / path, 1, args.tasks)
        fixed[path] = (n_small, r["filter_cpu_s"] + r["tokenize_cpu_s"])
    for scale in scales:
        raw, labels, n_docs = _write_corpus(scale, work / f"x{scale}" / "raw", args.seed)
        for path in paths:
            out = work / f"x{scale}" / path
            import shutil

            shutil.rmtree(out, ignore_errors=True)
            r = run_one(path, raw, labels, tokenizer, out, args.steps, args.tasks)
            data_cpu = r["filter_cpu_s"] + r["tokenize_cpu_s"]
            n0, cpu0 = fixed[path]  # the rate without the run's fixed start-up cost
            steady = (n_docs - n0) / (data_cpu - cpu0)
            rows.append(
                {"scale": scale, "path": path, "docs_in": n_docs, **r, "docs_per_cpu_s": n_docs / data_cpu}
                | {"steady_docs_per_cpu_s": steady}
            )
            print(
                f"x{scale:<3} {path:7s} docs {n_docs:6d} kept {r['docs_kept']:6d}  "
                f"peak RSS {r['peak_rss_mb']:7.1f} MB  filter {r['filter_s']:6.1f} s  "
                f"tokenize {r['tokenize_s']:5.1f} s  train {r['train_s']:5.1f} s  "
                f"live MB: start {r['live_start_mb']:.0f} filter {r['live_filter_mb']:.0f} "
                f"tokenize {r['live_tokenize_mb']:.0f}; peak MB: data {r['data_peak_mb']:.0f} "
                f"training {r['train_peak_mb']:.0f}  "
                f"{n_docs / data_cpu:6.1f} docs/CPU-s  P {r['precision']:.3f} R {r['recall']:.3f}",
                flush=True,
            )
    print()
    print(
        "| path | scale | documents | kept | peak RSS (MB) | docs per CPU-second (filter + tokenize) "
        "| vs 1st scale | without start-up | vs 1st scale | precision | recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        mine = [r for r in rows if r["path"] == path]
        base, steady0 = mine[0]["docs_per_cpu_s"], mine[0]["steady_docs_per_cpu_s"]
        for r in mine:
            print(
                f"| {path} | {r['scale']}x | {r['docs_in']} | {r['docs_kept']} | {r['peak_rss_mb']:.0f} | "
                f"{r['docs_per_cpu_s']:.0f} | {r['docs_per_cpu_s'] / base:.2f} | "
                f"{r['steady_docs_per_cpu_s']:.0f} | {r['steady_docs_per_cpu_s'] / steady0:.2f} | "
                f"{r['precision']:.3f} | {r['recall']:.3f} |"
            )
    print()
    for path in paths:
        mine = [r for r in rows if r["path"] == path]
        if len(mine) < 2:
            continue
        a, b = mine[-2], mine[-1]
        per_doc_kb = (b["peak_rss_mb"] - a["peak_rss_mb"]) * 1024 / (b["docs_in"] - a["docs_in"])
        at_100m = b["peak_rss_mb"] / 1024 + per_doc_kb * (100e6 - b["docs_in"]) / 1024**2
        speed = b["steady_docs_per_cpu_s"] / mine[0]["steady_docs_per_cpu_s"]
        phases = ", ".join(
            f"{key[:-3]} {(b[key] - a[key]) * 1024 / (b['docs_in'] - a['docs_in']):+.3f}"
            for key in ("live_filter_mb", "live_tokenize_mb", "data_peak_mb", "train_peak_mb")
        )
        print(
            f"{path}: {per_doc_kb:+.3f} KB resident per added document between {a['scale']}x and "
            f"{b['scale']}x (goal <= 0.2 for shards); 100 M documents extrapolate to {at_100m:.1f} GB "
            f"peak; docs/CPU-s without start-up at {b['scale']}x = {speed:.2f} x {mine[0]['scale']}x"
        )
        print(f"{path}: KB per added document, phase by phase (live after gc + malloc_trim; peaks): {phases}")


if __name__ == "__main__":
    main()
