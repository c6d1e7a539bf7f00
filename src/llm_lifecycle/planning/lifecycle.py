"""The lifecycle's stages as `planning.stages.Stage`s, from the plan's settings and each stage's own.

`PlanSettings` (`conf/<env>/parameters_plan.yml`, key `plan`) names the model, the stages, the device
setups, the efficiencies and prices, and the data estimates that no configuration holds (mean tokens of
a conversation, of a judge prompt). Every other number comes from the stage's validated settings, the
objects its node reads (`PretrainingSettings`, `SFTSettings`, ...), passed in by the plan node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.planning import devices
from llm_lifecycle.planning.compute import GenerationJob
from llm_lifecycle.planning.memory import ModelCounts, model_counts
from llm_lifecycle.planning.plan import ApiCalls, Efficiency, Setup, measured_efficiency
from llm_lifecycle.planning.stages import Stage, Training

StageName = Literal["pretraining", "sft", "preferences", "dpo", "reward_model", "rlhf", "mt_bench", "latency"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceSetup(_Strict):
    name: str = Field(..., description="this_machine or a known GPU (planning.devices.KNOWN_GPUS)")
    count: int = Field(1, ge=1)


class StatedEfficiency(_Strict):
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
    efficiency: StatedEfficiency = StatedEfficiency()
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


@dataclass
class _Env:
    """What every stage builder reads: the plan, the model, the stages' settings, the project root."""

    plan: PlanSettings
    cfg: ModelSettings
    settings: Mapping[str, Any]
    root: Path
    _counts: dict = field(default_factory=dict)

    def counts(self, lora: Any = None, task: str = "causal_lm") -> ModelCounts:
        """The model's counts with `lora` (None: as built), from the meta device, once per shape."""
        key = (None if lora is None else (lora.r, str(lora.target_modules)), task)
        if key not in self._counts:
            self._counts[key] = model_counts(self.cfg, lora, task)  # type: ignore[arg-type]
        return self._counts[key]

    def lora_stage(
        self,
        name: str,
        train: Any,
        key: str,
        note: str,
        *,
        generation: list[GenerationJob] | None = None,
        parallel: bool = False,
        reward_model: bool = False,
        **training: Any,
    ) -> Stage:
        """A LoRA stage trained by `train` (a TRL stage's settings); `training`: the other `Training`
        fields (sequences, seq_len, tokens, ...); `reward_model`: it scores with the merged reward model
        (RLOO)."""
        task = "reward_model" if name == "reward_model" else "causal_lm"
        work = Training(
            full=False,
            lora_r=train.lora.r,
            lora_dropout=train.lora.dropout > 0,
            checkpointing=train.gradient_checkpointing,
            grad_accum=train.grad_accum,
            **training,
        )
        return Stage(
            name,
            self.cfg,
            self.counts(train.lora, task),
            work,
            generation=generation or [],
            reward_cfg=self.cfg if reward_model else None,
            reward_counts=self.counts(None, "reward_model") if reward_model else None,
            key=key,
            parallel=parallel,
            note=note,
        )


def _examples(train: Any, ranks: int, available: float) -> float:
    """Examples (conversations, pairs, completions) one stage trains on: max_steps × global batch, or
    epochs × what the data holds."""
    if train.max_steps is not None:
        return train.max_steps * train.batch_size * train.grad_accum * ranks
    return train.epochs * available


Built = tuple[list[Stage], list[ApiCalls]]


def _pretraining(e: _Env) -> Built:
    p = e.settings["pretraining"]
    t = p.train
    ranks = p.distributed.num_processes
    training = Training(
        full=True,
        lora_r=None,
        lora_dropout=False,
        checkpointing=False,
        sequences=t.batch_size,
        seq_len=t.block_size,
        tokens=t.max_steps * t.batch_size * t.grad_accum_steps * ranks * t.block_size,
        context=t.block_size,
        sharded=sharded(p.distributed.accelerate_config, e.root),
        grad_accum=t.grad_accum_steps,
    )
    blocks = t.batch_size * t.grad_accum_steps * ranks
    note = f"{t.max_steps} steps x {blocks} blocks x {t.block_size} tokens"
    stage = Stage(
        "pretraining",
        e.cfg,
        e.counts(),
        training,
        key="pretraining",
        loop="pretraining",
        parallel=True,
        note=note,
    )
    return [stage], []


def _sft(e: _Env) -> Built:
    s, d = e.settings["sft"], e.plan.data
    t = s.train
    convs = _examples(
        t, s.distributed.num_processes, min(d.sft_conversations, s.max_conversations or math.inf)
    )
    note = f"{convs:,.0f} conversations x {d.sft_tokens:g} tokens; memory at max_length {t.max_length}"
    stage = e.lora_stage(
        "sft",
        t,
        "sft",
        note,
        sequences=t.batch_size,
        seq_len=t.max_length,
        tokens=convs * d.sft_tokens,
        context=d.sft_tokens,
        sharded=sharded(s.distributed.accelerate_config, e.root),
        parallel=True,
    )
    return [stage], []


def _preferences(e: _Env) -> Built:
    p, d = e.settings["preferences"], e.plan.data
    prompts = min(d.preference_prompts, p.max_prompts or d.preference_prompts)
    job = GenerationJob(prompts, p.student.batch_size, math.ceil(d.prompt_tokens), p.student.max_new_tokens)
    stage = Stage(
        "preferences",
        e.cfg,
        e.counts(),
        generation=[job],
        key="preferences",
        note=f"{prompts} prompts; SFT samples rejected",
    )
    return [stage], [
        ApiCalls("preferences", e.plan.api.teacher, prompts, d.prompt_tokens, d.teacher_answer_tokens)
    ]


def _dpo(e: _Env) -> Built:
    s, d = e.settings["dpo"], e.plan.data
    t = s.train
    pairs_train = d.preference_pairs * (1 - s.val_fraction)
    pairs = _examples(t, s.distributed.num_processes, pairs_train)
    tokens = 2 * pairs * d.pair_tokens
    kl = GenerationJob(s.kl_samples, min(s.kl_samples, 16), math.ceil(d.prompt_tokens), s.kl_max_new_tokens)
    stage = e.lora_stage(
        "dpo",
        t,
        "dpo",
        f"{pairs:,.0f} pairs x 2 x {d.pair_tokens:g} tokens + reference forward",
        sequences=2 * t.batch_size,
        seq_len=t.max_length,
        tokens=tokens,
        context=d.pair_tokens,
        # the reference: once per pair when its log-probs are precomputed, else with every step
        reference_tokens=2 * pairs_train * d.pair_tokens if t.precompute_ref_log_probs else tokens,
        sharded=sharded(s.distributed.accelerate_config, e.root),
        parallel=True,
        generation=[kl] if s.kl_samples else [],
    )
    return [stage], []


def _reward_model(e: _Env) -> Built:
    r, d = e.settings["rlhf"], e.plan.data
    t = r.reward_model.train
    pairs = _examples(t, 1, d.preference_pairs * (1 - r.val_fraction))
    stage = e.lora_stage(
        "reward_model",
        t,
        "rlhf.reward_model",
        f"{pairs:,.0f} pairs x 2 x {d.pair_tokens:g} tokens",
        sequences=2 * t.batch_size,
        seq_len=t.max_length,
        tokens=2 * pairs * d.pair_tokens,
        context=d.pair_tokens,
        lm_head=False,
    )
    return [stage], []


def _rlhf(e: _Env) -> Built:
    r, d = e.settings["rlhf"], e.plan.data
    t = r.policy.train
    prompt = math.ceil(d.prompt_tokens)
    completions = _examples(t, 1, t.num_generations * d.preference_pairs * (1 - r.val_fraction))
    seq = prompt + t.max_completion_length
    tokens = completions * seq
    note = f"{completions:,.0f} completions of {t.max_completion_length} tokens, trained on + RM + reference"
    # PPO-ptx: each micro-batch also trains on ptx_batch_size chosen answers (no reference or RM forward)
    demos = completions / t.batch_size * t.ptx_batch_size if t.ptx_coef else 0.0
    if demos:
        note += f" + {demos:,.0f} chosen answers (ptx)"
    stage = e.lora_stage(
        "rlhf",
        t,
        "rlhf.policy",
        note,
        sequences=t.batch_size,
        seq_len=seq,
        tokens=tokens + demos * d.pair_tokens,
        context=seq,
        reference_tokens=tokens,
        reward_tokens=tokens,
        generation=[GenerationJob(int(completions), t.batch_size, prompt, t.max_completion_length)],
        reward_model=True,
    )
    return [stage], []


def _mt_bench(e: _Env) -> Built:
    m, d = e.settings["mt_bench"], e.plan.data
    q = min(d.mt_bench_questions, m.max_questions or d.mt_bench_questions)
    answers = len(m.models) * q * 2
    job = GenerationJob(answers, m.batch_size, math.ceil(d.mt_bench_prompt_tokens), m.max_new_tokens)
    stage = Stage(
        "mt_bench",
        e.cfg,
        e.counts(),
        generation=[job],
        key="mt_bench",
        note=f"{len(m.models)} models x {q} questions x 2 turns",
    )
    judge, runs = e.plan.api.judge, m.judge_runs
    single = ApiCalls("mt_bench", judge, answers * runs, d.judge_single_tokens, d.judge_output_tokens)
    pairwise = len(m.pairs) * q * 2 * 2 * runs  # both answer orders
    return [stage], [
        single,
        ApiCalls("mt_bench", judge, pairwise, d.judge_pairwise_tokens, d.judge_output_tokens),
    ]


def _latency(e: _Env) -> Built:
    lat = e.settings["latency"]
    h = lat.harness
    stages = []
    for model in lat.models:
        cfg = lat.large_model if model == "large" else e.cfg
        jobs = [
            GenerationJob(b * (h.warmup + h.min_repeats), b, h.prompt_tokens, h.new_tokens)
            for b in h.batch_sizes
        ]
        note = f"batch {h.batch_sizes} x {h.warmup + h.min_repeats} repeats (min_time_s not counted)"
        counts = model_counts(cfg) if model == "large" else e.counts()
        stages.append(Stage(f"latency:{model}", cfg, counts, generation=jobs, key="latency", note=note))
    return stages, []


BUILDERS = {
    "pretraining": _pretraining,
    "sft": _sft,
    "preferences": _preferences,
    "dpo": _dpo,
    "reward_model": _reward_model,
    "rlhf": _rlhf,
    "mt_bench": _mt_bench,
    "latency": _latency,
}


def device_setups(
    plan: PlanSettings, measured: Mapping[str, float], stages: list[Stage]
) -> tuple[list[Setup], dict[str, float]]:
    """`plan.devices` as priced setups, each at its efficiency: measured by the last run for this
    machine, else stated (`plan.efficiency`). Before any run this machine's ceilings are measured now,
    briefly; they are returned with the other measurements."""
    measured = dict(measured)
    setups = []
    for wanted in plan.devices:
        if wanted.name == devices.THIS_MACHINE and devices.this_machine(measured) is None:
            from llm_lifecycle.benchmarking.ceilings import measured_ceilings

            ceilings = measured_ceilings(repeats=5)
            measured["ceiling.gflops"] = ceilings["flops"] / 1e9
            measured["ceiling.bandwidth_gbs"] = ceilings["bandwidth"] / 1e9
        device = devices.resolve_device(wanted.name, measured)
        efficiency = measured_efficiency(measured, device, stages) if device.is_cpu else None
        if efficiency is None:
            stated = plan.efficiency
            efficiency = Efficiency(stated.mfu, {1: stated.mbu}, "stated (plan.efficiency)")
        setups.append(Setup(device, wanted.count, efficiency, plan.prices.gpu_hour.get(wanted.name)))
    return setups, measured


def lifecycle_stages(
    plan: PlanSettings, cfg: ModelSettings, settings: Mapping[str, Any], root: Path = Path(".")
) -> Built:
    """The stages `plan.stages` names, and their API calls. `settings`: validated blocks by key
    (pretraining, sft, preferences, dpo, rlhf, mt_bench, latency)."""
    env = _Env(plan, cfg, settings, root)
    stages: list[Stage] = []
    calls: list[ApiCalls] = []
    for name in plan.stages:
        built_stages, built_calls = BUILDERS[name](env)
        stages += built_stages
        calls += built_calls
    return stages, calls
