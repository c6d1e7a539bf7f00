"""Preference nodes: teacher (chosen) vs SFT model (rejected) answers, with pair hygiene."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.llm_clients.local_hf import GenerationSettings
from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics
from llm_lifecycle.training.alignment.preferences import PairHygieneSettings


class PreferencesSettings(BaseModel):
    """`conf/base/parameters_preferences.yml` (key `preferences`)."""

    model_config = ConfigDict(extra="forbid")

    max_prompts: int | None = Field(None, ge=1, description="None: every prompt")
    # Real data: a Saiga conversation ending on the bot's answer becomes a prompt without that answer.
    strip_final_answer: bool = False
    student: GenerationSettings = GenerationSettings()
    # {category: temperature} for prompts with a `category` (the toy world's); others use the student's.
    student_temperatures: dict[str, float] = Field(default_factory=dict)
    hygiene: PairHygieneSettings = PairHygieneSettings()


def generate_preference_pairs(  # noqa: PLR0917 - Kedro passes node inputs positionally
    preference_prompts: Sequence[Mapping[str, Any]],
    sft_model: tuple[Any, Any],
    teacher_backend: Any,
    params: dict[str, Any],
    seed: int,
    preference_holdout: dict[str, Any] | None = None,
) -> tuple[list[dict], MetricsDict]:
    """Chosen from the teacher (`teacher_backend`: "reference" or an OpenAI-compatible client), rejected
    sampled from the SFT model (`(model, tokenizer)` as saved together); returns TRL-format pairs and the
    hygiene counts. With `preference_holdout`, only the held-out share of the prompts is used (SFT
    never trained on them)."""
    from llm_lifecycle.llm_clients import HFChatBackend
    from llm_lifecycle.splits import PromptHoldoutSettings
    from llm_lifecycle.training.alignment.preferences import ReferenceTeacher, generate_pairs

    cfg = PreferencesSettings.model_validate(params)
    prompts = list(preference_prompts)
    if preference_holdout:
        holdout = PromptHoldoutSettings.model_validate(preference_holdout)
        prompts = [p for p in prompts if holdout.holds_out(p)]
    prompts = prompts[: cfg.max_prompts]
    if cfg.strip_final_answer:
        prompts = [_without_final_answer(p) for p in prompts]
    teacher = ReferenceTeacher(prompts) if teacher_backend == "reference" else teacher_backend
    if isinstance(teacher, str):
        raise ValueError(
            f"teacher_backend {teacher!r} cannot write chosen answers; use 'reference' or 'openai'"
        )
    model, tokenizer = sft_model
    settings = cfg.student.model_copy(update={"seed": seed})
    student = HFChatBackend(model, tokenizer, settings, name="sft")
    # The teacher gets the student's token budget: both answers capped alike (length-ratio hygiene).
    pairs, report = generate_pairs(
        prompts,
        teacher,
        student,
        cfg.hygiene,
        max_tokens=settings.max_new_tokens,
        temperatures=cfg.student_temperatures,
    )
    metrics = dict(report)
    for key, value in (getattr(teacher, "stats", None) or {}).items():  # OpenAI client: cache hits, retries
        if isinstance(value, int | float):
            metrics[f"teacher.{key}"] = value
    return pairs, as_mlflow_metrics(metrics)


def _without_final_answer(prompt: Mapping[str, Any]) -> dict:
    messages = list(prompt.get("messages") or [])
    while messages and messages[-1].get("role") in ("bot", "assistant"):
        messages.pop()
    return {**prompt, "messages": messages}
