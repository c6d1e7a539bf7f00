"""MT-Bench nodes: thin wrappers over `llm_lifecycle.judging` (answers, judges, parsing, aggregation)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics

MODEL_INPUTS = ("base", "sft", "dpo", "rlhf")


class MTBenchSettings(BaseModel):
    """`conf/base/parameters_mt_bench.yml` (key `mt_bench`)."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(
        default_factory=lambda: list(MODEL_INPUTS), description="subset of base/sft/dpo/rlhf"
    )
    max_questions: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(16, ge=1)
    top_p: float = Field(1.0, gt=0, le=1)
    temperatures: dict[str, float] = Field(
        default_factory=dict, description="override MT-Bench's by category"
    )
    pairs: list[tuple[str, str]] = Field(default_factory=lambda: [("dpo", "sft")])
    reference_categories: list[str] = Field(default_factory=lambda: ["math", "reasoning", "coding"])
    judge_runs: int = Field(1, ge=1, description="> 1: median of several judge runs")
    judge_max_tokens: int = Field(1024, ge=1)
    n_boot: int = Field(2000, ge=100)

    @model_validator(mode="after")
    def _known_models(self) -> MTBenchSettings:
        unknown = sorted(set(self.models) - set(MODEL_INPUTS))
        if unknown:
            raise ValueError(f"mt_bench.models: unknown {unknown}; available {list(MODEL_INPUTS)}")
        for pair in self.pairs:
            missing = sorted(set(pair) - set(self.models))
            if missing:
                raise ValueError(
                    f"mt_bench.pairs: {pair} uses {missing}, not in mt_bench.models {self.models}"
                )
        return self


def _questions(mt_bench_questions: Sequence[Mapping[str, Any]], cfg: MTBenchSettings) -> list[dict]:
    from llm_lifecycle.judging.answers import validate_questions

    return validate_questions(mt_bench_questions)[: cfg.max_questions]


def answer_as_base_model(  # noqa: PLR0917 - Kedro passes node inputs positionally
    mt_bench_questions: Sequence[Mapping[str, Any]],
    base_model: Any,
    tokenizer: Any,
    force_saiga_template: bool,
    params: dict[str, Any],
    seed: int,
) -> list[dict]:
    """The base model's two-turn answers, asked through the chat template the post-trained models learnt.

    A hub base model's tokenizer ships without a chat template (LLaMA-3-8B); it gets the Saiga template
    exactly as the SFT node gave it (`sft.force_saiga_template`), so all four models see the same prompt."""
    from llm_lifecycle.tokenization.chat_template import ensure_chat_template

    ensure_chat_template(tokenizer, force=force_saiga_template)
    return answer_as_model("base", mt_bench_questions, (base_model, tokenizer), params, seed)


def answer_as_model(
    name: str,
    mt_bench_questions: Sequence[Mapping[str, Any]],
    model: tuple[Any, Any],
    params: dict[str, Any],
    seed: int,
) -> list[dict]:
    """Two-turn answers of one model `(model, tokenizer)` named `name` (base, sft, dpo or rlhf); none when
    `name` is not in `mt_bench.models`.

    One node per model: Kedro loads each model for its own node and drops it after, so one model is in
    memory at a time (four 8B models at once would need 64 GB)."""
    from llm_lifecycle.judging.answers import generate_answers
    from llm_lifecycle.llm_clients import GenerationSettings, HFChatBackend

    cfg = MTBenchSettings.model_validate(params)
    if name not in cfg.models:
        return []
    settings = GenerationSettings(
        max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, top_p=cfg.top_p, seed=seed
    )
    backend = HFChatBackend(*model, settings, name=name)
    questions = _questions(mt_bench_questions, cfg)
    return generate_answers(questions, backend, name, cfg.temperatures, cfg.max_new_tokens)


def _answer_as(name: str) -> Callable[..., list[dict]]:
    """`answer_as_model` for the model `name`, as a function named `answer_as_<name>_model`: Kedro's logs
    and kedro-viz show a node by its function's name (a `functools.partial` has none), and a module-level
    name is what pickle (Kedro's ParallelRunner) finds a function by."""

    def answer(
        mt_bench_questions: Sequence[Mapping[str, Any]],
        model: tuple[Any, Any],
        params: dict[str, Any],
        seed: int,
    ) -> list[dict]:
        return answer_as_model(name, mt_bench_questions, model, params, seed)

    answer.__name__ = answer.__qualname__ = f"answer_as_{name}_model"
    answer.__doc__ = f"The {name} model's two-turn answers (`answer_as_model` with name={name!r})."
    return answer


answer_as_sft_model = _answer_as("sft")
answer_as_dpo_model = _answer_as("dpo")
answer_as_rlhf_model = _answer_as("rlhf")


def collect_mt_bench_answers(
    base: list[dict], sft: list[dict], dpo: list[dict], rlhf: list[dict], params: dict[str, Any]
) -> list[dict]:
    """Every model's answers in one table, in the order of `mt_bench.models`."""
    cfg = MTBenchSettings.model_validate(params)
    by_model = {"base": base, "sft": sft, "dpo": dpo, "rlhf": rlhf}
    return [row for name in cfg.models for row in by_model[name]]


def _judge(judge_backend: Any, cfg: MTBenchSettings) -> Any:
    from llm_lifecycle.judging.judges import LLMJudge, VerifierJudge

    if judge_backend == "verifier":
        return VerifierJudge(n_runs=cfg.judge_runs)
    if isinstance(judge_backend, str):
        raise ValueError(
            f"judge_backend {judge_backend!r} cannot judge; use 'verifier', 'openai' or 'transformers'"
        )
    return LLMJudge(judge_backend, n_runs=cfg.judge_runs, max_tokens=cfg.judge_max_tokens)


def grade_single_answers(
    mt_bench_questions: Sequence[Mapping[str, Any]],
    mt_bench_answers: Sequence[Mapping[str, Any]],
    judge_backend: Any,
    params: dict[str, Any],
) -> list[dict]:
    """One row per judge reply: model, question, turn, judge, run, raw verdict text, parsed score."""
    from llm_lifecycle.judging.evaluate import judge_single

    cfg = MTBenchSettings.model_validate(params)
    return judge_single(
        _questions(mt_bench_questions, cfg),
        mt_bench_answers,
        _judge(judge_backend, cfg),
        cfg.models,
        cfg.reference_categories,
    )


def judge_pairs(
    mt_bench_questions: Sequence[Mapping[str, Any]],
    mt_bench_answers: Sequence[Mapping[str, Any]],
    judge_backend: Any,
    params: dict[str, Any],
) -> list[dict]:
    """Every pair of `mt_bench.pairs`, every (question, turn), judged in both orders."""
    from llm_lifecycle.judging.evaluate import judge_pairwise

    cfg = MTBenchSettings.model_validate(params)
    questions = _questions(mt_bench_questions, cfg)
    judge = _judge(judge_backend, cfg)
    rows = []
    for pair in cfg.pairs:
        rows += judge_pairwise(questions, mt_bench_answers, judge, tuple(pair), cfg.reference_categories)
    return rows


def _summaries(
    mt_bench_judgments: Sequence[Mapping[str, Any]],
    mt_bench_pairwise: Sequence[Mapping[str, Any]],
    cfg: MTBenchSettings,
    seed: int,
) -> tuple[list[dict], dict[str, dict[str, float]], dict[str, float]]:
    """(score table, win-rate summary per pair, metrics) from the judgment rows."""
    from llm_lifecycle.judging.aggregate import pairwise_summary, single_summary
    from llm_lifecycle.judging.evaluate import pair_outcomes

    table, metrics = single_summary(list(mt_bench_judgments))
    summaries: dict[str, dict[str, float]] = {}
    for x, y in cfg.pairs:
        outcomes, n_unparsed = pair_outcomes(list(mt_bench_pairwise), (x, y))
        summary = pairwise_summary(outcomes, x, y, n_unparsed=n_unparsed, n_boot=cfg.n_boot, seed=seed)
        name = f"{x}_vs_{y}"
        summaries[name] = summary
        metrics[f"winrate/{name}"] = summary["win_rate"]
        for key in (
            "adjusted_win_rate",
            "ci_low",
            "ci_high",
            "position_inconsistency",
            "wins",
            "losses",
            "ties",
        ):
            metrics[f"winrate/{name}/{key}"] = summary[key]
    finite = {k: v for k, v in metrics.items() if math.isfinite(v)}  # NaN (no pairs) is not a metric
    return table, summaries, finite


def summarize_mt_bench(
    mt_bench_judgments: Sequence[Mapping[str, Any]],
    mt_bench_pairwise: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    seed: int,
) -> tuple[Any, Any, Any, Any, MetricsDict]:
    """Score and win-rate tables, both plots, the metrics (`mt_bench/sft/score`, `winrate/dpo_vs_sft`)."""
    import pandas as pd

    from llm_lifecycle.judging.plots import category_plot, winrate_plot

    table, summaries, metrics = _summaries(
        mt_bench_judgments, mt_bench_pairwise, MTBenchSettings.model_validate(params), seed
    )
    winrates = pd.DataFrame([{"pair": k, **v} for k, v in summaries.items()])
    return (
        pd.DataFrame(table),
        winrates,
        category_plot(table),
        winrate_plot(summaries),
        as_mlflow_metrics(metrics),
    )


def summarize_validation(
    judgments: Sequence[Mapping[str, Any]],
    pairwise: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    seed: int,
) -> tuple[Any, Any, MetricsDict]:
    """The validation split's score and win-rate tables and metrics, named `validation/...`
    (`validation/mt_bench/sft/score`, `validation/winrate/dpo_vs_sft`): what settings are chosen on."""
    import pandas as pd

    table, summaries, metrics = _summaries(judgments, pairwise, MTBenchSettings.model_validate(params), seed)
    winrates = pd.DataFrame([{"pair": k, **v} for k, v in summaries.items()])
    return (
        pd.DataFrame(table),
        winrates,
        as_mlflow_metrics({f"validation/{k}": v for k, v in metrics.items()}),
    )
