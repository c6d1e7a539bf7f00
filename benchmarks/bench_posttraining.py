"""Post-training throughput, measured side by side in one run: two ratios.

1. **SFT through the pipeline ÷ a bare TRL script** (target >= 0.97). Same base model (the latest
   `base_model` that `kedro run` wrote), same toy-world conversations, same LoRA and optimiser
   settings, same steps and seed; no evaluation in either. Each timed call starts from a fresh copy
   of the base model and ends with a trained adapter:

     bare   `SFTTrainer(model, SFTConfig(...), train_dataset, processing_class, peft_config=LoraConfig(...))`
            then `.train()`: what a user writes from the TRL docs (assistant-only loss on, no packing).
     node   `pipelines.sft.nodes.train_sft_model(...)`: the typed settings, the chat-template check, the
            LoRA wrapping and trainer through `training.alignment.sft` and the metrics history.

   Tokens/s = the same token count over each wall time, so the ratio is bare wall / node wall.
   Variants are interleaved (order rotates every repeat); medians and the median of paired ratios.

2. **DPO step time ÷ SFT step time at equal lengths** (expected ≈ 2–2.7×). The SFT rows are
   `prompt + chosen`; the DPO pairs are the same prompt with `chosen` and a `rejected` of the same
   token length (chosen's tokens reversed), batch size equal. Per step SFT runs forward + backward on
   B sequences (~3 forward-units); DPO runs them on 2B (chosen + rejected, ~6 units) plus, unless the
   reference log-probs are precomputed, a no-grad reference forward on 2B (~2 units): 8/3 ≈ 2.7×, or
   6/3 = 2× with `precompute_ref_log_probs`. Step time = train wall / steps after one warm-up run.

    python benchmarks/bench_posttraining.py [--repeats 3] [--steps 120]

Run `kedro run` (or `kedro run --pipelines toy_world,data_filtering,tokenizer,pretraining`) first.
Absolute times on a shared 2-core machine are noise; the ratios are the evidence.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars off in both variants (read at tqdm import)

ROOT = Path(__file__).resolve().parents[1]


def _latest(path: Path) -> Path:
    versions = sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    if not versions:
        raise SystemExit(f"nothing at {path}: run `kedro run` first")
    return versions[-1] / path.name


def load_inputs() -> tuple[Any, Any, list[dict], dict[str, Any]]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_lifecycle.datasets.jsonl import read_jsonl
    from llm_lifecycle.training.alignment.conversations import ConversationCheckSettings, check_conversations

    params = yaml.safe_load((ROOT / "conf/base/parameters_sft.yml").read_text())["sft"]
    model_dir = _latest(ROOT / "data/06_models/base_model")
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    raw = read_jsonl(_latest(ROOT / "data/01_raw/instructions.jsonl"))
    convs, _ = check_conversations(
        raw, tokenizer, ConversationCheckSettings(**params["data"]), max_length=params["train"]["max_length"]
    )
    return model, tokenizer, convs, params


def sft_settings(params: dict[str, Any], steps: int) -> dict[str, Any]:
    train = dict(params["train"])
    train.update(max_steps=steps, eval_on_start=False, logging_steps=max(1, steps // 5), seed=0)
    return train


def run_bare(model: Any, tokenizer: Any, convs: list[dict], train: dict[str, Any]) -> float:
    """The bare TRL script: only what the TRL quick start needs plus the same hyper-parameters."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    lora = train["lora"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(
                output_dir=out,
                per_device_train_batch_size=train["batch_size"],
                gradient_accumulation_steps=train["grad_accum"],
                learning_rate=train["lr"],
                max_steps=train["max_steps"],
                lr_scheduler_type=train["lr_scheduler_type"],
                warmup_steps=float(train["warmup_ratio"]),
                weight_decay=train["weight_decay"],
                max_grad_norm=train["max_grad_norm"],
                logging_steps=train["logging_steps"],
                save_strategy="no",
                report_to="none",
                seed=0,
                data_seed=0,
                bf16=False,
                activation_checkpointing=False,
                dataloader_pin_memory=False,
                max_length=train["max_length"],
                assistant_only_loss=True,
                packing=False,
            ),
            train_dataset=Dataset.from_list(convs),
            processing_class=tokenizer,
            peft_config=LoraConfig(
                task_type="CAUSAL_LM",
                r=lora["r"],
                lora_alpha=lora["alpha"],
                lora_dropout=lora["dropout"],
                target_modules=lora["target_modules"],
            ),
        )
        trainer.train()
    return time.perf_counter() - start


def run_node(model: Any, tokenizer: Any, convs: list[dict], params: dict[str, Any], train: dict) -> float:
    from llm_lifecycle.pipelines.sft.nodes import train_sft_model

    node_params = {k: v for k, v in params.items() if k != "train"} | {"train": train}
    start = time.perf_counter()
    train_sft_model(model, tokenizer, {"train": convs, "val": []}, node_params, seed=0)
    return time.perf_counter() - start


def equal_length_data(tokenizer: Any, convs: list[dict], n: int) -> tuple[list[dict], list[dict]]:
    """SFT rows `prompt + chosen` and DPO pairs whose rejected answer has chosen's token count."""
    from llm_lifecycle.training.alignment.preferences import preference_pair

    sft_rows, pairs = [], []
    for conv in convs:
        if len(pairs) == n:
            break
        messages = conv["messages"]
        if messages[-1]["role"] != "assistant" or messages[-2]["role"] != "user":
            continue
        chosen = messages[-1]["content"]
        ids = tokenizer(chosen, add_special_tokens=False)["input_ids"]
        rejected = tokenizer.decode(ids[::-1])
        if len(tokenizer(rejected, add_special_tokens=False)["input_ids"]) != len(ids) or rejected == chosen:
            continue  # re-tokenisation changed the length: not an equal-length pair
        sft_rows.append({"messages": messages})
        pairs.append(preference_pair(messages[:-1], chosen, rejected))
    return sft_rows, pairs


def step_time(kind: str, model: Any, tokenizer: Any, data: list[dict], train: dict[str, Any]) -> float:
    from llm_lifecycle.training.alignment.distributed import train_here
    from llm_lifecycle.training.alignment.trl_common import TrainInputs

    with tempfile.TemporaryDirectory() as out:
        result = train_here(kind, TrainInputs(model, tokenizer, data), train, str(out))
    return result.summary["wall_s"] / result.summary["steps"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=120)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    torch.set_num_threads(torch.get_num_threads())
    base, tokenizer, convs, params = load_inputs()
    train = sft_settings(params, args.steps)
    print(
        f"base model {sum(p.numel() for p in base.parameters()):,} params; {len(convs)} conversations; "
        f"{args.steps} steps × batch {train['batch_size']}; threads {torch.get_num_threads()}"
    )

    # 1. pipeline vs bare TRL --------------------------------------------------------------------------
    run_bare(copy.deepcopy(base), tokenizer, convs, train)  # warm-up: imports, allocator, kernels
    walls: dict[str, list[float]] = {"bare": [], "node": []}
    for r in range(args.repeats):
        order = ["bare", "node"] if r % 2 == 0 else ["node", "bare"]
        for name in order:
            fresh = copy.deepcopy(base)
            if name == "bare":
                walls[name].append(run_bare(fresh, tokenizer, convs, train))
            else:
                walls[name].append(run_node(fresh, tokenizer, convs, params, train))
    paired = [b / n for b, n in zip(walls["bare"], walls["node"], strict=True)]
    med = {k: statistics.median(v) for k, v in walls.items()}
    print("\nSFT, tokens/s through the pipeline ÷ bare TRL script (target >= 0.97)")
    print(f"  bare TRL wall  {med['bare']:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls['bare'])})")
    print(f"  node wall      {med['node']:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls['node'])})")
    print(
        f"  ratio of medians {med['bare'] / med['node']:.3f}; "
        f"median paired ratio {statistics.median(paired):.3f}"
    )

    # 2. DPO step / SFT step at equal lengths -----------------------------------------------------------
    sft_rows, pairs = equal_length_data(tokenizer, convs, n=train["batch_size"] * 8)
    common = dict(train, eval_on_start=False, logging_steps=args.steps)
    dpo_common = {k: v for k, v in common.items() if k != "packing"} | {
        "beta": 0.1,
        "loss_type": "sigmoid",
        "loss_weights": None,
        "lr": 1e-4,
    }
    variants = {
        "sft": ("sft", sft_rows, common),
        "dpo": ("dpo", pairs, dpo_common | {"precompute_ref_log_probs": False}),
        "dpo_precomputed_ref": ("dpo", pairs, dpo_common | {"precompute_ref_log_probs": True}),
    }
    step_time("sft", copy.deepcopy(base), tokenizer, sft_rows, common)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.repeats):
        names = list(variants)[r % 3 :] + list(variants)[: r % 3]
        for name in names:
            kind, data, cfg = variants[name]
            times[name].append(step_time(kind, copy.deepcopy(base), tokenizer, data, cfg))
    med_t = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"\nDPO step ÷ SFT step, {len(pairs)} equal-length examples, batch {train['batch_size']} "
        "(expected 2.0 with precomputed reference, ~2.7 with a reference forward per step)"
    )
    for name, t in med_t.items():
        print(f"  {name:<20} {t * 1000:7.1f} ms/step   ratio to sft {t / med_t['sft']:.2f}")


if __name__ == "__main__":
    main()
