"""Post-training throughput, measured side by side in one run.

1. **Useful-token throughput of SFT, DPO and the reward model beside pretraining's** (target: SFT ÷
   pretraining >= 0.8). Each stage is built exactly as the pipeline builds it, from the settings in
   `conf/base` (`sft.train`, `dpo.train`, `rlhf.reward_model.train`, `pretraining.train`) through the
   library's own builders (`build_sft_trainer`, `build_dpo_trainer`, `build_reward_trainer`,
   `training.pretraining.loop.pretrain`), on the data a finished `kedro run` wrote (SFT: the base model and
   the `prepare_sft_data` train split; DPO and the reward model: the merged SFT model and the training
   split of the preference pairs; pretraining: the base model on the packed blocks of the filtered
   corpus). Only the run length is changed (`--tokens` per call), evaluation is off and nothing is saved.

   Useful tokens = non-padding tokens the model trained on, counted from each batch the trainer draws
   (`attention_mask.sum()`, or the one flattened row of a padding-free batch; DPO/RM count the chosen and
   the rejected rows). Pretraining's blocks are packed, so all its tokens are useful. Tokens/s is the
   steady state: SFT/DPO/RM from the 10th percentile step (at least the 2nd) to the last, timed at the
   trainer's step ends; pretraining from its own per-window tokens/s (`log_every`-step windows after the
   first). DPO's precomputed reference log-probs and the trainers' dataset preparation happen when the
   trainer is built: they are reported as `setup s`, apart from the throughput.

2. **SFT through the pipeline ÷ a bare TRL script** (target >= 0.97). Same base model, same
   conversations, same LoRA and optimiser settings, same steps and seed; no evaluation in either:

     bare   `SFTTrainer(model, SFTConfig(...), train_dataset, processing_class, peft_config=LoraConfig(...))`
            then `.train()`: what a user writes from the TRL docs (assistant-only loss on). With
            `sft.train.lm_head_loss: logits` the bare script uses the same one-method subclass
            (`training.alignment.logits_loss.LogitsLossSFTTrainer`), so the ratio measures the node.
     node   `pipelines.sft.nodes.train_sft_model(...)`: the typed settings, the chat-template check, the
            LoRA wrapping and trainer through `training.alignment.sft` and the metrics history.

   Tokens/s = the same token count over each wall time, so the ratio is bare wall / node wall.

3. **DPO step time ÷ SFT step time at equal lengths** (expected ≈ 2–2.7×). The SFT rows are
   `prompt + chosen`; the DPO pairs are the same prompt with `chosen` and a `rejected` of the same
   token length (chosen's tokens reversed), batch size equal. Per step SFT runs forward + backward on
   B sequences (~3 forward-units); DPO runs them on 2B (chosen + rejected, ~6 units) plus, unless the
   reference log-probs are precomputed, a no-grad reference forward on 2B (~2 units): 8/3 ≈ 2.7×, or
   6/3 = 2× with `precompute_ref_log_probs`. Step time = train wall / steps after one warm-up run.

Variants are interleaved (the order rotates every repeat); medians and the median of paired ratios.

    python benchmarks/bench_posttraining.py [--repeats 3] [--tokens 30000] [--steps 120]
        [--parts throughput,overhead,dpo] [--threads N] [--data-root DIR]
        [--override sft.train.lora.dropout=0 ...]

`--override KEY=VALUE` changes one parameter (dotted path into the merged `conf/base` parameters, the value
read as YAML) for every part, e.g. to measure a candidate setting before it goes into the YAML.
`--data-root` reads the versioned datasets of another run (default: this project's `data/toy/`).

Run `kedro run` first (the base model, the SFT model and the preference pairs). Absolute times on a shared
2-core machine are noise; the ratios are the evidence. When other jobs share the cores, `--threads 1`
keeps the ratios stable: two OpenMP threads on two busy cores wait on each other at every op.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars off in every variant (read at tqdm import)

from bench_common import DATA, allocator_line, latest_version, load_params  # noqa: E402 - after the environment

# --------------------------------------------------------------------------- inputs


def _latest(entry: Path, required: bool = True) -> Path | None:
    """The file or folder of `entry`'s newest version (`<entry>/<timestamp>/<entry name>`)."""
    version = latest_version(entry)
    if version is None:
        if required:
            raise SystemExit(f"nothing at {entry}: run `kedro run` first")
        return None
    return version / entry.name


class Inputs:
    """What a finished `kedro run` wrote, loaded as the pipeline's nodes receive it."""

    def __init__(self, params: dict[str, Any], data: Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from llm_lifecycle.datasets.jsonl import read_jsonl
        from llm_lifecycle.pipelines.sft.nodes import prepare_sft_data
        from llm_lifecycle.training.alignment.conversations import split_train_val

        self.params = params
        seed = params["seed"]
        self.tokenizer = AutoTokenizer.from_pretrained(_latest(data / "06_models/tokenizer"))
        self.base = AutoModelForCausalLM.from_pretrained(_latest(data / "06_models/base_model"))
        raw = read_jsonl(_latest(data / "01_raw/instructions.jsonl"))
        convs, _ = prepare_sft_data(
            raw, self.tokenizer, params["sft"], seed, params.get("preference_holdout")
        )
        self.sft_train: list[dict] = convs["train"]

        self.sft_model = self.pairs_dpo = self.pairs_rm = None
        sft_dir = _latest(data / "06_models/sft_model", required=False)
        pairs_file = _latest(data / "03_primary/preference_pairs.jsonl", required=False)
        if sft_dir is not None and pairs_file is not None:
            self.sft_model = AutoModelForCausalLM.from_pretrained(sft_dir)
            self.sft_tokenizer = AutoTokenizer.from_pretrained(sft_dir)
            pairs = [dict(p) for p in read_jsonl(pairs_file)]
            self.pairs_dpo, _ = split_train_val(pairs, params["dpo"]["val_fraction"], seed)
            self.pairs_rm, _ = split_train_val(pairs, params["rlhf"]["val_fraction"], seed)

        self.docs_file = _latest(data / "02_intermediate/filtered_documents.jsonl", required=False)
        self.mean_sft_len = statistics.fmean(
            len(
                self.tokenizer.apply_chat_template(c["messages"], tokenize=True, return_dict=True)[
                    "input_ids"
                ]
            )
            for c in self.sft_train
        )


# --------------------------------------------------------------------------- part 1: useful tokens/s


def useful_tokens(batch: dict[str, Any]) -> int:
    """Non-padding tokens of a collated batch (TRL's own `num_tokens` rule)."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    if "position_ids" in batch:  # padding-free: every sequence of the batch in one row, no padding
        return int(batch["position_ids"].shape[-1])
    return int(batch["input_ids"].numel())


class CountingCollator:
    """Wraps the trainer's collator; counts the useful tokens of every training batch it builds."""

    def __init__(self, collator: Callable[[list], dict]):
        self.collator, self.tokens = collator, 0

    def __call__(self, features: list) -> dict:
        batch = self.collator(features)
        self.tokens += useful_tokens(batch)
        return batch


def timed_train(trainer: Any) -> tuple[float, float, float]:
    """Train; (useful tokens/s, useful tokens/step, s/step) over the steady-state steps."""
    from transformers import TrainerCallback

    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    marks: list[tuple[int, float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ARG002 - the callback signature
            marks.append((state.global_step, time.perf_counter(), counter.tokens))

    trainer.add_callback(Clock())
    trainer.train()
    first = max(2, len(marks) // 10)
    s0, t0, n0 = marks[first - 1]
    s1, t1, n1 = marks[-1]
    return (n1 - n0) / (t1 - t0), (n1 - n0) / (s1 - s0), (t1 - t0) / (s1 - s0)


def _steps(budget: int, per_step: float) -> int:
    return max(12, math.ceil(budget / per_step))


class Throughput:
    """One callable per stage; each returns (tokens/s, tokens/step, s/step, setup s)."""

    def __init__(self, inputs: Inputs, tokens: int):
        self.inp, self.tokens = inputs, tokens
        p = inputs.params
        self.sft = dict(p["sft"]["train"])
        self.dpo = dict(p["dpo"]["train"])
        self.rm = dict(p["rlhf"]["reward_model"]["train"])
        self.pre = p["pretraining"]
        self._blocks = None

    def _rows_per_step(self, train: dict[str, Any], mean_len: float) -> float:
        rows = train.get("batch_size", 4) * train.get("grad_accum", 1)
        return rows * (train.get("max_length", 512) if train.get("packing") else mean_len)

    def sft_call(self) -> tuple[float, float, float, float]:
        from llm_lifecycle.training.alignment.sft import SFTTrainerSettings, build_sft_trainer
        from llm_lifecycle.training.alignment.trl_common import TrainInputs

        steps = _steps(self.tokens, self._rows_per_step(self.sft, self.inp.mean_sft_len))
        cfg = SFTTrainerSettings.model_validate(
            self.sft | {"max_steps": steps, "logging_steps": self.sft.get("logging_steps", 10)}
        )
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            inputs = TrainInputs(copy.deepcopy(self.inp.base), self.inp.tokenizer, self.inp.sft_train, [])
            trainer = build_sft_trainer(inputs, cfg, out)
            setup = time.perf_counter() - start
            return (*timed_train(trainer), setup)

    def dpo_call(self) -> tuple[float, float, float, float]:
        from llm_lifecycle.training.alignment.dpo import DPOTrainerSettings, build_dpo_trainer
        from llm_lifecycle.training.alignment.trl_common import TrainInputs

        pairs_len = 2 * self.inp.mean_sft_len  # chosen + rejected rows per pair, about an SFT row each
        steps = _steps(self.tokens, self.dpo.get("batch_size", 4) * self.dpo.get("grad_accum", 1) * pairs_len)
        cfg = DPOTrainerSettings.model_validate(self.dpo | {"max_steps": steps})
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            inputs = TrainInputs(
                copy.deepcopy(self.inp.sft_model), self.inp.sft_tokenizer, self.inp.pairs_dpo, []
            )
            trainer = build_dpo_trainer(inputs, cfg, out)
            setup = time.perf_counter() - start
            return (*timed_train(trainer), setup)

    def rm_call(self) -> tuple[float, float, float, float]:
        from llm_lifecycle.training.alignment.reward import (
            RewardTrainerSettings,
            build_reward_trainer,
            reward_model_from_causal_lm,
        )
        from llm_lifecycle.training.alignment.trl_common import TrainInputs

        pairs_len = 2 * self.inp.mean_sft_len
        steps = _steps(self.tokens, self.rm.get("batch_size", 4) * self.rm.get("grad_accum", 1) * pairs_len)
        cfg = RewardTrainerSettings.model_validate(self.rm | {"max_steps": steps})
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            tok = self.inp.sft_tokenizer
            rm = reward_model_from_causal_lm(self.inp.sft_model, tok.pad_token_id, self.inp.params["seed"])
            trainer = build_reward_trainer(TrainInputs(rm, tok, self.inp.pairs_rm, []), cfg, out)
            setup = time.perf_counter() - start
            return (*timed_train(trainer), setup)

    def pretrain_call(self) -> tuple[float, float, float, float]:
        from llm_lifecycle.datasets.jsonl import read_jsonl
        from llm_lifecycle.pipelines.pretraining.nodes import pack_pretraining_data
        from llm_lifecycle.training.pretraining.loop import PretrainLoopSettings, pretrain

        start = time.perf_counter()
        if self._blocks is None:
            docs = list(read_jsonl(self.inp.docs_file, {"text": "str"}))
            self._blocks, _ = pack_pretraining_data(self.inp.tokenizer, docs, self.pre)
        train = dict(self.pre["train"])
        per_step = train["batch_size"] * train.get("grad_accum_steps", 1) * train["block_size"]
        log_every = 5
        steps = log_every * (1 + max(2, math.ceil(self.tokens / per_step / log_every)))
        train |= {"max_steps": steps, "eval_every": 10**9, "checkpoint_every": 10**9, "log_every": log_every}
        cfg = PretrainLoopSettings.model_validate({"seed": self.inp.params["seed"], **train})
        model = copy.deepcopy(self.inp.base)
        setup = time.perf_counter() - start
        res = pretrain(model, self._blocks["train"], None, cfg, None, progress=False)
        windows = [e["value"] for e in res.history["tokens_per_s"][1:]]  # the first window holds the warm-up
        window_tokens = log_every * cfg.tokens_per_step
        secs = sum(window_tokens / v for v in windows)
        return (
            len(windows) * window_tokens / secs,
            cfg.tokens_per_step,
            secs / (len(windows) * log_every),
            setup,
        )


def interleaved(variants: dict[str, Callable[[], tuple]], repeats: int) -> dict[str, list[tuple]]:
    names = list(variants)
    out: dict[str, list[tuple]] = {k: [] for k in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            out[name].append(variants[name]())
    return out


def part_throughput(inp: Inputs, args: argparse.Namespace) -> None:
    th = Throughput(inp, args.tokens)
    variants: dict[str, Callable[[], tuple]] = {}
    if inp.docs_file is not None:
        variants["pretraining"] = th.pretrain_call
    variants["sft"] = th.sft_call
    if inp.sft_model is not None:
        variants["dpo"] = th.dpo_call
        variants["reward model"] = th.rm_call
    s = th.sft
    print(
        f"\n1. useful (non-padding) tokens/s, steady state, settings from conf/base; {args.repeats} repeats, "
        f"~{args.tokens} tokens per call, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"   sft: batch {s.get('batch_size')} x accum {s.get('grad_accum', 1)}, "
        f"max_length {s.get('max_length')}, sampling {s.get('sampling', 'random')}, "
        f"packing {s.get('packing', False)}, loss head {s.get('lm_head_loss', 'fused')}, "
        f"LoRA r={s['lora']['r']} dropout {s['lora']['dropout']}, "
        f"{len(inp.sft_train)} conversations (mean {inp.mean_sft_len:.0f} tokens)"
    )
    th.sft_call()  # warm-up: imports, allocator, kernels
    res = interleaved(variants, args.repeats)
    med = {k: [statistics.median(x[i] for x in v) for i in range(4)] for k, v in res.items()}
    print(f"   {'stage':14s} {'tok/s':>8s} {'tok/step':>9s} {'ms/step':>8s} {'setup s':>8s}  runs (tok/s)")
    for name, (tps, per_step, sec, setup) in med.items():
        runs = ", ".join(f"{x[0]:.0f}" for x in res[name])
        print(f"   {name:14s} {tps:8.0f} {per_step:9.0f} {1000 * sec:8.1f} {setup:8.1f}  {runs}")
    if "pretraining" not in res:
        print("   (no filtered_documents under data/: pretraining not measured, no ratios)")
        return
    pre = [x[0] for x in res["pretraining"]]
    for name in [k for k in res if k != "pretraining"]:
        paired = statistics.median(x[0] / p for x, p in zip(res[name], pre, strict=True))
        target = "  (target >= 0.8)" if name == "sft" else ""
        print(
            f"   {name} ÷ pretraining: ratio of medians {med[name][0] / statistics.median(pre):.3f}, "
            f"median paired {paired:.3f}{target}"
        )
    if "dpo" in res:
        print(
            f"   DPO step ÷ SFT step as configured: {med['dpo'][2] / med['sft'][2]:.2f} "
            f"(DPO trains {med['dpo'][1] / med['sft'][1]:.2f}x the useful tokens per step)"
        )


# --------------------------------------------------------------------------- part 2: pipeline vs bare TRL


def sft_settings(params: dict[str, Any], steps: int) -> dict[str, Any]:
    train = dict(params["train"])
    train.update(max_steps=steps, eval_on_start=False, logging_steps=max(1, steps // 5), seed=0)
    return train


def run_bare(model: Any, tokenizer: Any, convs: list[dict], train: dict[str, Any]) -> float:
    """The bare TRL script: only what the TRL quick start needs plus the same hyper-parameters."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig

    from llm_lifecycle.training.alignment.sft import sft_trainer_class

    # the same loss head as the node, so only the wrapping differs
    trainer_class = sft_trainer_class(train.get("lm_head_loss", "fused"))

    lora = train["lora"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = trainer_class(
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
                packing=train.get("packing", False),
                train_sampling_strategy=train.get("sampling", "random"),  # e.g. length-grouped batches
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


def part_overhead(inp: Inputs, args: argparse.Namespace) -> None:
    params = inp.params["sft"]
    train = sft_settings(params, args.steps)
    base, tokenizer, convs = inp.base, inp.tokenizer, inp.sft_train
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
    print(f"\n2. SFT, tokens/s through the pipeline ÷ bare TRL script, {args.steps} steps (target >= 0.97)")
    print(f"   bare TRL wall  {med['bare']:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls['bare'])})")
    print(f"   node wall      {med['node']:.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls['node'])})")
    print(
        f"   ratio of medians {med['bare'] / med['node']:.3f}; "
        f"median paired ratio {statistics.median(paired):.3f}"
    )


# --------------------------------------------------------------------------- part 3: DPO step / SFT step


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


def part_dpo_ratio(inp: Inputs, args: argparse.Namespace) -> None:
    from llm_lifecycle.training.alignment.dpo import DPOTrainerSettings

    train = sft_settings(inp.params["sft"], args.steps)
    base, tokenizer = inp.base, inp.tokenizer
    sft_rows, pairs = equal_length_data(tokenizer, inp.sft_train, n=train["batch_size"] * 8)
    common = dict(train, eval_on_start=False, logging_steps=args.steps)
    dpo_fields = set(DPOTrainerSettings.model_fields)
    dpo_common = {k: v for k, v in common.items() if k in dpo_fields} | {
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
        f"\n3. DPO step ÷ SFT step, {len(pairs)} equal-length examples, batch {train['batch_size']} "
        "(expected 2.0 with precomputed reference, ~2.7 with a reference forward per step)"
    )
    for name, t in med_t.items():
        print(f"   {name:<20} {t * 1000:7.1f} ms/step   ratio to sft {t / med_t['sft']:.2f}")


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=30000, help="part 1: useful tokens per timed call")
    ap.add_argument("--steps", type=int, default=120, help="parts 2 and 3: optimizer steps per call")
    ap.add_argument(
        "--parts", default="throughput,overhead,dpo", help="comma list of throughput,overhead,dpo"
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--data-root", type=Path, default=None, help="the `data/` folder of a finished run")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    print(allocator_line())
    logging.basicConfig(level=logging.WARNING)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = DATA if args.data_root is None else args.data_root.resolve()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    inp = Inputs(load_params(args.override), data)
    print(
        f"base model {sum(p.numel() for p in inp.base.parameters()):,} params; {len(inp.sft_train)} SFT "
        f"conversations; threads {torch.get_num_threads()}; data {data}"
        + (f"; overrides {', '.join(args.override)}" if args.override else "")
    )
    if "throughput" in parts:
        part_throughput(inp, args)
    if "overhead" in parts:
        part_overhead(inp, args)
    if "dpo" in parts:
        part_dpo_ratio(inp, args)


if __name__ == "__main__":
    main()
