"""The lifecycle's stages as `planning.stages.Stage`s, from the plan's settings and each stage's own.

`PlanSettings` (`conf/<env>/parameters_plan.yml`, key `plan`) names the model, the stages, the device
setups, the efficiencies and prices, and the data estimates that no configuration holds (mean tokens of
a conversation, of a judge prompt). Every other number comes from the stage's validated settings, the
objects its node reads (`PretrainingSettings`, `SFTSettings`, ...), passed in by the plan node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.planning.compute import GenerationJob
from llm_lifecycle.planning.memory import model_counts
from llm_lifecycle.planning.plan import ApiCalls
from llm_lifecycle.planning.stages import Stage, Training

StageName = Literal["pretraining", "sft", "preferences", "dpo", "reward_model", "rlhf", "mt_bench", "latency"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceSetup(_Strict):
    name: str = Field(..., description="this_machine or a known GPU (planning.devices.KNOWN_GPUS)")
    count: int = Field(1, ge=1)


class Efficiency(_Strict):
    mfu: float = Field(0.4, gt=0, le=1, description="share of peak FLOP/s in training and prefill")
    mbu: float = Field(0.6, gt=0, le=1, description="share of peak bandwidth in decoding")


class ApiPriceSettings(_Strict):
    input_per_mtok: float = Field(..., ge=0, description="USD per million input tokens")
    output_per_mtok: float = Field(..., ge=0, description="USD per million output tokens")


class Prices(_Strict):
    gpu_hour: dict[str, float] = Field(default_factory=dict, description="USD per device-hour, by device")
    api: dict[str, ApiPriceSettings] = Field(default_factory=dict, description="by model name")


class ApiModels(_Strict):
    teacher: str = Field("reference", description="the model that writes chosen answers")
    judge: str = Field("verifier", description="the MT-Bench judge")
    cache_dir: str | None = Field(None, description="the response cache the backends share")


class DataEstimates(_Strict):
    """Sizes no configuration holds, in tokens of the environment's tokenizer (means per item)."""

    sft_conversations: int = Field(570, ge=1, description="training conversations (epoch-based runs)")
    sft_tokens: float = Field(73, gt=0, description="tokens per conversation with the chat template")
    preference_prompts: int = Field(400, ge=1)
    prompt_tokens: float = Field(20, gt=0, description="tokens of a preference / RLOO prompt")
    teacher_answer_tokens: float = Field(15, gt=0)
    preference_pairs: int = Field(298, ge=1, description="pairs kept by the hygiene filter")
    pair_tokens: float = Field(43, gt=0, description="prompt + one answer")
    mt_bench_questions: int = Field(80, ge=1, description="two-turn questions")
    mt_bench_prompt_tokens: float = Field(40, gt=0, description="prompt of a turn, history included")
    judge_single_tokens: float = Field(0, ge=0, description="judge input per single grading")
    judge_pairwise_tokens: float = Field(0, ge=0, description="judge input per pairwise comparison")
    judge_output_tokens: float = Field(0, ge=0)


class ArticleSettings(_Strict):
    decode_context: int = Field(512, ge=1, description="tokens of context for the 50 tokens/s check")
    mfu: float = Field(0.4, gt=0, le=1, description="MFU stated for the 2048-A100 estimate")


class PlanSettings(_Strict):
    """`plan` in parameters."""

    model: str = Field("pretraining", description="pretraining: pretraining.model; or an architecture file")
    vocab_size: int | None = Field(None, ge=1, description="None: the last run's tokenizer, else tokenizer's")
    stages: list[StageName] = Field(
        default_factory=lambda: [
            "pretraining",
            "sft",
            "preferences",
            "dpo",
            "reward_model",
            "rlhf",
            "mt_bench",
            "latency",
        ]
    )
    devices: list[DeviceSetup] = Field(default_factory=lambda: [DeviceSetup(name="this_machine")])
    efficiency: Efficiency = Efficiency()
    headroom: float = Field(0.1, ge=0, lt=1, description="share of device memory kept free")
    four_bit: bool = Field(False, description="the base model is loaded in 4 bit (QLoRA)")
    api: ApiModels = ApiModels()
    prices: Prices = Prices()
    data: DataEstimates = DataEstimates()
    article: ArticleSettings = ArticleSettings()


def sharded(accelerate_config: str | None, root: Path = Path(".")) -> bool:
    """True when the stage's accelerate config file asks for FSDP."""
    if not accelerate_config:
        return False
    path = Path(accelerate_config)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise ValueError(f"plan: accelerate config {accelerate_config!r} not found (from {root})")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return str(data.get("distributed_type", "")).upper() == "FSDP"


def _lora_training(train: Any, **fields: Any) -> Training:
    return Training(
        full=False,
        lora_r=train.lora.r,
        lora_dropout=train.lora.dropout > 0,
        checkpointing=train.gradient_checkpointing,
        grad_accum=train.grad_accum,
        **fields,
    )


def _examples(train: Any, ranks: int, available: float) -> float:
    """Examples (conversations, pairs, completions) one stage trains on: max_steps × global batch, or
    epochs × what the data holds."""
    if train.max_steps is not None:
        return train.max_steps * train.batch_size * train.grad_accum * ranks
    return train.epochs * available


def lifecycle_stages(
    plan: PlanSettings, cfg: ModelSettings, settings: Mapping[str, Any], root: Path = Path(".")
) -> tuple[list[Stage], list[ApiCalls]]:
    """The stages `plan.stages` names, and their API calls. `settings`: validated blocks by key
    (pretraining, sft, preferences, dpo, rlhf, mt_bench, latency)."""
    d = plan.data
    lora_counts = {}

    def counts_for(lora: Any, task: str = "causal_lm") -> Any:
        key = (None if lora is None else (lora.r, str(lora.target_modules)), task)
        if key not in lora_counts:
            lora_counts[key] = model_counts(cfg, lora, task)  # type: ignore[arg-type]
        return lora_counts[key]

    stages: list[Stage] = []
    calls: list[ApiCalls] = []
    merged = counts_for(None)
    for name in plan.stages:
        if name == "pretraining":
            p = settings["pretraining"]
            t = p.train
            ranks = p.distributed.num_processes
            tokens = t.max_steps * t.batch_size * t.grad_accum_steps * ranks * t.block_size
            stages.append(
                Stage(
                    name,
                    cfg,
                    merged,
                    Training(
                        full=True,
                        lora_r=None,
                        lora_dropout=False,
                        checkpointing=False,
                        sequences=t.batch_size,
                        seq_len=t.block_size,
                        tokens=tokens,
                        context=t.block_size,
                        sharded=sharded(p.distributed.accelerate_config, root),
                        batch_key="pretraining.train.batch_size",
                        grad_accum=t.grad_accum_steps,
                    ),
                    key="pretraining",
                    loop="pretraining",
                    parallel=True,
                    note=f"{t.max_steps} steps x {t.batch_size * t.grad_accum_steps * ranks} blocks "
                    f"x {t.block_size} tokens",
                )
            )
        elif name == "sft":
            s = settings["sft"]
            t = s.train
            convs = _examples(
                t, s.distributed.num_processes, min(d.sft_conversations, s.max_conversations or math.inf)
            )
            stages.append(
                Stage(
                    name,
                    cfg,
                    counts_for(t.lora),
                    _lora_training(
                        t,
                        sequences=t.batch_size,
                        seq_len=t.max_length,
                        tokens=convs * d.sft_tokens,
                        context=d.sft_tokens,
                        sharded=sharded(s.distributed.accelerate_config, root),
                        batch_key="sft.train.batch_size",
                    ),
                    key="sft",
                    parallel=True,
                    note=f"{convs:,.0f} conversations x {d.sft_tokens:g} tokens; "
                    f"memory at max_length {t.max_length}",
                )
            )
        elif name == "preferences":
            p = settings["preferences"]
            prompts = min(d.preference_prompts, p.max_prompts or d.preference_prompts)
            job = GenerationJob(
                prompts, p.student.batch_size, math.ceil(d.prompt_tokens), p.student.max_new_tokens
            )
            stages.append(
                Stage(
                    name,
                    cfg,
                    merged,
                    generation=[job],
                    key="preferences",
                    note=f"{prompts} prompts; SFT samples rejected",
                )
            )
            calls.append(ApiCalls(name, plan.api.teacher, prompts, d.prompt_tokens, d.teacher_answer_tokens))
        elif name == "dpo":
            s = settings["dpo"]
            t = s.train
            pairs_train = d.preference_pairs * (1 - s.val_fraction)
            pairs = _examples(t, s.distributed.num_processes, pairs_train)
            tokens = 2 * pairs * d.pair_tokens
            reference = 2 * pairs_train * d.pair_tokens if t.precompute_ref_log_probs else tokens
            jobs = [
                GenerationJob(
                    s.kl_samples, min(s.kl_samples, 16), math.ceil(d.prompt_tokens), s.kl_max_new_tokens
                )
            ]
            stages.append(
                Stage(
                    name,
                    cfg,
                    counts_for(t.lora),
                    _lora_training(
                        t,
                        sequences=2 * t.batch_size,
                        seq_len=t.max_length,
                        tokens=tokens,
                        context=d.pair_tokens,
                        reference_tokens=reference,
                        sharded=sharded(s.distributed.accelerate_config, root),
                        batch_key="dpo.train.batch_size",
                    ),
                    generation=jobs if s.kl_samples else [],
                    key="dpo",
                    parallel=True,
                    note=f"{pairs:,.0f} pairs x 2 x {d.pair_tokens:g} tokens + reference forward",
                )
            )
        elif name == "reward_model":
            r = settings["rlhf"]
            t = r.reward_model.train
            pairs = _examples(t, 1, d.preference_pairs * (1 - r.val_fraction))
            stages.append(
                Stage(
                    name,
                    cfg,
                    counts_for(t.lora, "reward_model"),
                    _lora_training(
                        t,
                        sequences=2 * t.batch_size,
                        seq_len=t.max_length,
                        tokens=2 * pairs * d.pair_tokens,
                        context=d.pair_tokens,
                        lm_head=False,
                        batch_key="rlhf.reward_model.train.batch_size",
                    ),
                    key="rlhf.reward_model",
                    note=f"{pairs:,.0f} pairs x 2 x {d.pair_tokens:g} tokens",
                )
            )
        elif name == "rlhf":
            r = settings["rlhf"]
            t = r.policy.train
            prompt = math.ceil(d.prompt_tokens)
            completions = _examples(t, 1, t.num_generations * d.preference_pairs * (1 - r.val_fraction))
            seq = prompt + t.max_completion_length
            tokens = completions * seq
            stages.append(
                Stage(
                    name,
                    cfg,
                    counts_for(t.lora),
                    _lora_training(
                        t,
                        sequences=t.batch_size,
                        seq_len=seq,
                        tokens=tokens,
                        context=seq,
                        reference_tokens=tokens,
                        reward_tokens=tokens,
                        batch_key="rlhf.policy.train.batch_size",
                    ),
                    generation=[
                        GenerationJob(int(completions), t.batch_size, prompt, t.max_completion_length)
                    ],
                    reward_cfg=cfg,
                    reward_counts=counts_for(None, "reward_model"),
                    key="rlhf.policy",
                    note=f"{completions:,.0f} completions of {t.max_completion_length} tokens, "
                    "trained on + RM + reference",
                )
            )
        elif name == "mt_bench":
            m = settings["mt_bench"]
            q = min(d.mt_bench_questions, m.max_questions or d.mt_bench_questions)
            answers = len(m.models) * q * 2
            job = GenerationJob(answers, m.batch_size, math.ceil(d.mt_bench_prompt_tokens), m.max_new_tokens)
            stages.append(
                Stage(
                    name,
                    cfg,
                    merged,
                    generation=[job],
                    key="mt_bench",
                    note=f"{len(m.models)} models x {q} questions x 2 turns",
                )
            )
            runs = m.judge_runs
            calls.append(
                ApiCalls(name, plan.api.judge, answers * runs, d.judge_single_tokens, d.judge_output_tokens)
            )
            pairwise = len(m.pairs) * q * 2 * 2 * runs
            calls.append(
                ApiCalls(name, plan.api.judge, pairwise, d.judge_pairwise_tokens, d.judge_output_tokens)
            )
        elif name == "latency":
            lat = settings["latency"]
            h = lat.harness
            for model in lat.models:
                model_cfg = lat.large_model if model == "large" else cfg
                jobs = [
                    GenerationJob(b * (h.warmup + h.min_repeats), b, h.prompt_tokens, h.new_tokens)
                    for b in h.batch_sizes
                ]
                stages.append(
                    Stage(
                        f"latency:{model}",
                        model_cfg,
                        merged if model != "large" else model_counts(model_cfg),
                        generation=jobs,
                        key="latency",
                        note=f"batch {h.batch_sizes} x {h.warmup + h.min_repeats} repeats "
                        "(min_time_s not counted)",
                    )
                )
    return stages, calls
