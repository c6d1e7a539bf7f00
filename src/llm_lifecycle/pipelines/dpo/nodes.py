"""DPO node: LoRA DPO on the merged SFT model, reference = adapter disabled (`llm_lifecycle.training.dpo`)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics


class DPOParams(BaseModel):
    """`conf/base/parameters_dpo.yml` (key `dpo`); `train` is `llm_lifecycle.training.dpo.DPOSettings`."""

    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.1, ge=0, lt=1)
    train: dict[str, Any] = Field(default_factory=dict)


def train_dpo_model(
    sft_model: Any,
    tokenizer: Any,
    preference_pairs: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    seed: int,
) -> tuple[tuple[Any, Any], tuple[Any, Any], MetricsDict]:
    """Returns (adapter, tokenizer), (merged DPO model, tokenizer) and rewards/margins/accuracy metrics."""
    from llm_lifecycle.training.conversations import split_train_val
    from llm_lifecycle.training.dpo import DPOSettings, train_dpo
    from llm_lifecycle.training.sft import merge_adapter

    cfg = DPOParams.model_validate(params)
    settings = DPOSettings.model_validate({"seed": seed, **cfg.train})
    if not preference_pairs:
        raise ValueError("no preference pairs to train on: see preference_metrics for what was dropped")
    train, val = split_train_val([dict(p) for p in preference_pairs], cfg.val_fraction, seed)
    with tempfile.TemporaryDirectory(prefix="dpo-") as out:
        result = train_dpo(sft_model, tokenizer, train, val, settings, out)
    merged = merge_adapter(result.model)
    metrics: MetricsDict = dict(result.history)
    numbers = {k: float(v) for k, v in result.summary.items() if isinstance(v, int | float) and v is not None}
    metrics |= as_mlflow_metrics(numbers)
    return (result.model, tokenizer), (merged, tokenizer), metrics
