"""Plan node: validates the environment's parameters and hands them to `llm_lifecycle.planning`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)
STAGE_KEYS = ("pretraining", "sft", "preferences", "dpo", "rlhf", "mt_bench", "latency")


def make_plan(
    parameters: dict[str, Any],
    architecture_configs: Mapping[str, Callable[[], dict[str, Any]]],
    plan_measurements: dict[str, float],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(plan table, the article's numbers recomputed, metrics `plan.<setup>/<stage>/...`)."""
    from llm_lifecycle.metrics import as_mlflow_metrics
    from llm_lifecycle.modeling.config import ModelSettings
    from llm_lifecycle.parameters import schemas
    from llm_lifecycle.planning import article, devices, lifecycle, plan

    settings = {key: schemas()[key].validate_python(parameters.get(key, {})) for key in STAGE_KEYS}
    cfg_plan = lifecycle.PlanSettings.model_validate(parameters["plan"])
    archs = {name: ModelSettings(**load()) for name, load in architecture_configs.items()}
    cfg = model_for_plan(cfg_plan, settings["pretraining"].model, archs, plan_measurements, parameters)
    stages, calls = lifecycle.lifecycle_stages(cfg_plan, cfg, settings, Path.cwd())
    setups, measured = lifecycle.device_setups(cfg_plan, plan_measurements, stages)
    prices = {k: plan.ApiPrice(v.input_per_mtok, v.output_per_mtok) for k, v in cfg_plan.prices.api.items()}
    api = plan.api_rows(calls, prices, plan.cache_census(cfg_plan.api.cache_dir))
    table = plan.plan_table(stages, setups, api, cfg_plan.headroom)
    table = plan.versus_measured(table, measured, devices.THIS_MACHINE)
    for _, row in table.dropna(subset=["predicted_over_measured"]).iterrows():
        logger.info(
            "plan: %s predicted %.1f s, the last run took %.1f s (x%.2f)",
            row["stage"],
            row["hours"] * 3600,
            row["measured_hours"] * 3600,
            row["predicted_over_measured"],
        )
    metrics = plan.plan_metrics(table)
    art = article.article_table(
        archs,
        decode_context=cfg_plan.article.decode_context,
        mfu=cfg_plan.article.mfu,
        gpu_hour_usd=cfg_plan.prices.gpu_hour,
    )
    return table, art, as_mlflow_metrics(metrics)


def model_for_plan(
    plan: Any,
    pretraining_model: Any,
    archs: Mapping[str, Any],
    measured: Mapping[str, float],
    parameters: Mapping,
) -> Any:
    """The model the stages train: an architecture file by name, or `pretraining.model` with its
    vocabulary from `plan.vocab_size`, the last run's tokenizer, or the tokenizer's target size."""
    from llm_lifecycle.modeling.config import ModelSettings
    from llm_lifecycle.parameters import schemas

    if plan.model != "pretraining":
        if plan.model not in archs:
            raise ValueError(f"plan.model {plan.model!r}: no conf/base/architectures/{plan.model}.yml")
        return archs[plan.model]
    vocab = plan.vocab_size or pretraining_model.vocab_size
    if vocab is None and "tokenizer.vocab_size" in measured:
        vocab = int(measured["tokenizer.vocab_size"])
    if vocab is None:  # the tokenizer's target size, its settings' default included
        vocab = schemas()["tokenizer"].validate_python(parameters.get("tokenizer", {})).vocab_size
    return ModelSettings(**{**pretraining_model.model_dump(exclude_unset=True), "vocab_size": vocab})
