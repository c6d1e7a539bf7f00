"""Training speed at the real environments' sizes on one GPU: LoRA SFT of a LLaMA-3-8B-shaped model and
pretraining of the 124 M model (with `latency_llama3_8b.py`, the GPU check of issue #19).

Both parts train for a few steps through the project's own code at the environment's own settings, on
random weights and synthetic data made on the spot (no download: shapes and settings decide the speed,
not the values):

- `sft8b`: a LLaMA-3-8B-shaped model (`conf/base/architectures/llama3_8b.yml`) built in bf16 on the
  device, wrapped and trained by `training.alignment.sft.build_sft_trainer` with `conf/llama3_8b`'s
  `sft.train` (LoRA r=16 on every linear layer, batch 4, 2048 tokens, gradient checkpointing, bf16, TRL's
  fused LM head). Every conversation is longer than `max_length` and is cut there, so a step trains
  batch × max_length tokens, all of them real. MFU = tokens/s × FLOPs per token ÷ the device's bf16 peak
  (`benchmarking.ceilings.device_ceiling`: nominal for a known GPU), FLOPs per token counted as the
  planner counts a LoRA step (`planning.compute`: the frozen model's forward × (2 + 1 recomputed under
  checkpointing), plus 6 per adapter weight). Peak memory: `torch.cuda.max_memory_allocated`.
- `pretrain124m`: `conf/pretrain_124m`'s model and `pretraining.train` (16 blocks of 1024 tokens, 4
  accumulation steps, bf16 autocast) through `train_base_model`, what each rank of the distributed job
  runs, here in one process on one device: the loop's own tokens/s and MFU (median over its logging
  windows, the first one dropped).

SFT's steady state is the steps after `--warmup` (the first ones pay for cuBLAS and allocator start-up).

    python benchmarks/gpu_train_steps.py                         # on a GPU: both parts
    python benchmarks/gpu_train_steps.py --json out.json         # the same, also written as JSON
    python benchmarks/gpu_train_steps.py --device cpu --dry-run  # tiny shapes on a CPU: the code path only

Without CUDA it stops at once (exit 2) unless `--device cpu` says so; `--dry-run` keeps every setting but
the model's size, the sequence length and the batch (a 2-layer model, 64 tokens).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from llm_lifecycle.benchmarking.ceilings import device_ceiling
from llm_lifecycle.config_loader import project_config_loader
from llm_lifecycle.modeling import load_architecture
from llm_lifecycle.modeling.config import ModelSettings

ROOT = Path(__file__).resolve().parents[1]
DRY_RUN_SHAPE = dict(hidden_size=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=128)


def _params(env: str) -> dict[str, Any]:
    return project_config_loader(ROOT, env)["parameters"]


def _words(n: int, seed: int) -> str:
    """`n` pseudo-words of 2-7 letters (Latin and Cyrillic, as Saiga has both)."""
    rng = torch.Generator().manual_seed(seed)
    letters = "abcdefghijklmnopqrstuvwxyzабвгдежзиклмнопрстуфхцчшэюя"
    sizes = torch.randint(2, 8, (n,), generator=rng).tolist()
    picks = torch.randint(0, len(letters), (sum(sizes),), generator=rng).tolist()
    out, i = [], 0
    for size in sizes:
        out.append("".join(letters[j] for j in picks[i : i + size]))
        i += size
    return " ".join(out)


def _tokenizer(max_length: int) -> Any:
    """A byte-level BPE with the Saiga chat template (the SFT node forces Saiga's on a hub tokenizer)."""
    from llm_lifecycle.tokenization.train import TokenizerSettings, train_bpe

    cfg = TokenizerSettings(vocab_size=1024, model_max_length=max_length, heldout_fraction=0.0)
    return train_bpe((_words(400, seed) for seed in range(50)), cfg)


def _peak_memory_gib() -> float | None:
    """The most GPU memory torch held since its last reset (None without CUDA)."""
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def _flops_per_token(cfg: ModelSettings, seq_len: int, trainable: int, checkpointing: bool) -> float:
    from llm_lifecycle.planning.compute import backward_multiple, forward_flops_per_token

    forward = forward_flops_per_token(cfg, seq_len)
    return forward * backward_multiple(full=False, checkpointing=checkpointing) + 6 * trainable


def sft_8b(device: str, steps: int, warmup: int, dry_run: bool, peak: float) -> dict[str, Any]:
    """LoRA SFT steps of the LLaMA-3-8B shape at `conf/llama3_8b`'s `sft.train` (see the docstring)."""
    from transformers import AutoModelForCausalLM, TrainerCallback

    from llm_lifecycle.modeling.build import to_hf_config
    from llm_lifecycle.training.alignment.conversations import check_conversations
    from llm_lifecycle.training.alignment.sft import SFTTrainerSettings, build_sft_trainer
    from llm_lifecycle.training.alignment.trl_common import TrainInputs, count_parameters

    train = dict(_params("llama3_8b")["sft"]["train"])
    train |= {"max_steps": steps, "logging_steps": 1, "warmup_ratio": 0.0}
    if dry_run:
        train |= {"max_length": 64, "batch_size": 2}
    cfg = SFTTrainerSettings.model_validate(train)
    arch = load_architecture(ROOT / "conf/base/architectures/llama3_8b.yml")
    tokenizer = _tokenizer(cfg.max_length)
    arch = arch.model_copy(update={"vocab_size": len(tokenizer), **DRY_RUN_SHAPE} if dry_run else {})
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):  # weights made on the device: no 16 GB host copy
        model = AutoModelForCausalLM.from_config(to_hf_config(arch, experts_implementation=None), dtype=dtype)
    # A short question and an answer of 1.5x max_length words (a word is >= 1 token): every row is cut
    # at max_length inside the answer, so each keeps tokens to train on (rows without any are dropped).
    records = [
        {
            "messages": [
                {"role": "user", "content": _words(max(4, cfg.max_length // 64), 1000 + i)},
                {"role": "bot", "content": _words(cfg.max_length * 3 // 2, 2000 + i)},
            ]
        }
        for i in range(cfg.batch_size * cfg.grad_accum * steps)
    ]
    conversations, _ = check_conversations(records, tokenizer)

    step_ends: list[float] = []

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            step_ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="gpu_train_steps_") as out:
        trainer = build_sft_trainer(TrainInputs(model, tokenizer, conversations), cfg, out)
        lengths = {len(ids) for ids in trainer.train_dataset["input_ids"]}
        if lengths != {cfg.max_length}:
            raise RuntimeError(f"rows of {sorted(lengths)} tokens: every row should fill {cfg.max_length}")
        trainer.add_callback(StepClock())
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        trainer.train()
    times = [b - a for a, b in zip([start, *step_ends], step_ends, strict=False)][warmup:]
    trainable = count_parameters(trainer.model)["trainable_params"]
    tokens_per_step = cfg.batch_size * cfg.grad_accum * cfg.max_length
    tokens_per_s = tokens_per_step / statistics.median(times)
    flops = _flops_per_token(arch, cfg.max_length, trainable, cfg.gradient_checkpointing)
    return {
        "part": "sft8b",
        "model": "llama3_8b" + (" (dry-run shape)" if dry_run else ""),
        "batch_size": cfg.batch_size,
        "max_length": cfg.max_length,
        "gradient_checkpointing": cfg.gradient_checkpointing,
        "bf16": bool(trainer.args.bf16),
        "lm_head_loss": cfg.lm_head_loss,
        "vocab_size": arch.vocab_size,
        "trainable_params": trainable,
        "steps_timed": len(times),
        "step_s_median": statistics.median(times),
        "tokens_per_s": tokens_per_s,
        "flops_per_token": flops,
        "mfu": tokens_per_s * flops / peak,
        "peak_flops": peak,
        "peak_memory_gib": _peak_memory_gib(),
    }


def pretrain_124m(steps: int, dry_run: bool) -> dict[str, Any]:
    """Pretraining steps of `conf/pretrain_124m`'s model and loop settings on random blocks, on the device
    `train_base_model` picks (CUDA when there is one)."""
    from llm_lifecycle.training.pretraining.base_model import train_base_model
    from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

    params = _params("pretrain_124m")["pretraining"]
    model = dict(params["model"]) | {"vocab_size": params["model"]["vocab_size"] or 50257}  # GPT-2's
    loop = dict(params["train"]) | {
        "max_steps": steps,
        "warmup_steps": min(params["train"]["warmup_steps"], steps // 2),
        "eval_every": steps,  # the loop evaluates at step 0 and the last step; nothing in between
        "eval_batches": 1,
        "log_every": max(1, steps // 5),
    }
    if dry_run:
        model |= DRY_RUN_SHAPE | {"vocab_size": 512, "max_position_embeddings": 64}
        loop |= {"block_size": 64, "batch_size": 2, "grad_accum_steps": 2}
    model_cfg, cfg = ModelSettings.model_validate(model), PretrainLoopSettings.model_validate(loop)
    n_train = steps * cfg.batch_size * cfg.grad_accum_steps
    rng = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, model_cfg.vocab_size, (n_train + cfg.batch_size, cfg.block_size), generator=rng)
    uniform = math.log(model_cfg.vocab_size)  # random tokens: the unigram baseline is the uniform one
    data = {
        "train": blocks[:n_train],
        "val": blocks[n_train:],
        "stats": {"unigram_val_cross_entropy": uniform, "uniform_cross_entropy": uniform},
    }
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    run = train_base_model(model_cfg, data, cfg, None, measure_ceiling=True)
    windows = [p["value"] for p in run.history["tokens_per_s"]][1:]  # the first window pays start-up
    mfus = [p["value"] for p in run.history["mfu"]][1:]
    return {
        "part": "pretrain124m",
        "model": "pretrain_124m" + (" (dry-run shape)" if dry_run else ""),
        "params_total": run.summary["params_total"],
        "tokens_per_step": cfg.tokens_per_step,
        "precision": cfg.precision,
        "windows_timed": len(windows),
        "tokens_per_s": statistics.median(windows),
        "mfu": statistics.median(mfus),
        "peak_flops": run.summary["peak_flops"],
        "peak_memory_gib": _peak_memory_gib(),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="sft8b,pretrain124m")
    ap.add_argument(
        "--device",
        default="cuda",
        help="where SFT runs: cuda (default) or cpu (explicitly); pretraining goes where train_base_model "
        "puts it (CUDA when there is one)",
    )
    ap.add_argument("--sft-steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2, help="SFT steps left out of the timing")
    ap.add_argument("--pretrain-steps", type=int, default=30)
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes: check the code path on a CPU")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.exit(
            2,
            f"{ap.prog}: needs a CUDA GPU (torch sees none): an 8B model trains for hours on a CPU. Run it "
            "on a GPU machine, or pass --device cpu explicitly (with --dry-run for tiny shapes).\n",
        )
    if args.sft_steps <= args.warmup:
        ap.error(f"--sft-steps ({args.sft_steps}) must exceed --warmup ({args.warmup})")
    parts = args.parts.split(",")
    results = []
    if "sft8b" in parts:
        peak = device_ceiling(args.device, repeats=3 if args.dry_run else 10).flops
        results.append(sft_8b(args.device, args.sft_steps, args.warmup, args.dry_run, peak))
    if "pretrain124m" in parts:
        gc.collect()  # the SFT part's model and trainer, before the next peak is measured
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        results.append(pretrain_124m(args.pretrain_steps, args.dry_run))
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"\ndevice: {device}")
    for r in results:
        memory = f"{r['peak_memory_gib']:.1f} GiB" if r["peak_memory_gib"] is not None else "n/a"
        print(
            f"{r['part']:>13}: {r['tokens_per_s']:,.0f} tokens/s, MFU {r['mfu']:.2f} of "
            f"{r['peak_flops'] / 1e12:.3g} TFLOP/s, peak memory {memory}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"device": device, "results": results}, indent=2))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
