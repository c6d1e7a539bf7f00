"""SFT nodes: Saiga data checks, then LoRA SFT with assistant-only loss (`training.alignment.sft`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics, training_metrics
from llm_lifecycle.training.alignment.conversations import ConversationCheckSettings
from llm_lifecycle.training.alignment.distributed import DistributedSettings
from llm_lifecycle.training.alignment.sft import SFTTrainerSettings

logger = logging.getLogger(__name__)


class SFTSettings(BaseModel):
    """`conf/base/parameters_sft.yml` (key `sft`)."""

    model_config = ConfigDict(extra="forbid")

    data: ConversationCheckSettings = ConversationCheckSettings()
    val_fraction: float = Field(0.05, ge=0, lt=1)
    # Real Saiga data (IlyaGusev/saiga_scored) carries quality scores; keep records with field >= value.
    min_score: float | None = None
    score_field: str = "opus_score"
    max_conversations: int | None = Field(None, ge=1, description="None: all (after the score filter)")
    force_saiga_template: bool = Field(False, description="replace a tokenizer's own chat template")
    train: SFTTrainerSettings = SFTTrainerSettings()
    distributed: DistributedSettings = DistributedSettings()


def prepare_sft_data(
    raw_instructions: Sequence[Any],
    tokenizer: Any,
    params: dict[str, Any],
    seed: int,
    preference_holdout: dict[str, Any] | None = None,
) -> tuple[dict[str, list[dict]], MetricsDict]:
    """Check every conversation (empty, unknown roles, ending on a user turn, too long), split train/val.

    With `preference_holdout` (one pool of real conversations), the prompts held out for preference
    generation are left out first."""
    from llm_lifecycle.datasets.jsonl import keep
    from llm_lifecycle.splits import PromptHoldoutSettings
    from llm_lifecycle.tokenization.chat_template import ensure_chat_template
    from llm_lifecycle.training.alignment.conversations import check_conversations, split_train_val

    cfg = SFTSettings.model_validate(params)
    holdout = PromptHoldoutSettings.model_validate(preference_holdout) if preference_holdout else None
    ensure_chat_template(tokenizer, force=cfg.force_saiga_template)
    records = raw_instructions
    n_loaded = len(records)
    source = getattr(raw_instructions, "source", None) or "raw_instructions"
    if not n_loaded:
        raise ValueError(f"{source}: no conversations at all (empty file or split)")
    if holdout is not None:
        records = keep(records, lambda r: not holdout.holds_out(r))
    n_after_holdout = len(records)
    if cfg.min_score is not None:
        records = keep(records, lambda r: float(r.get(cfg.score_field) or 0) >= cfg.min_score)
    if cfg.max_conversations is not None:
        records = keep(records, limit=cfg.max_conversations)
    clean, report = check_conversations(records, tokenizer, cfg.data, max_length=cfg.train.max_length)
    if not clean:
        raise ValueError(f"{source}: no SFT conversation passed the checks: {report}")
    train, val = split_train_val(clean, cfg.val_fraction, seed)
    report |= {
        "n_loaded": n_loaded,
        "n_held_out_for_preferences": n_loaded - n_after_holdout,
        "n_after_score_filter": len(records),
        "n_train": len(train),
        "n_val": len(val),
    }
    return {"train": train, "val": val}, as_mlflow_metrics(report)


def train_sft_model(
    base_model: Any,
    tokenizer: Any,
    sft_conversations: dict[str, list[dict]],
    params: dict[str, Any],
    seed: int,
) -> tuple[tuple[Any, Any], MetricsDict]:
    """LoRA SFT of the base model. Returns (adapter, tokenizer) and the metrics; the next node merges."""
    from llm_lifecycle.tokenization.chat_template import ensure_chat_template
    from llm_lifecycle.training.alignment.distributed import train_adapter
    from llm_lifecycle.training.alignment.trl_common import TrainInputs

    cfg = SFTSettings.model_validate(params)
    ensure_chat_template(tokenizer, force=cfg.force_saiga_template)
    settings = cfg.train.model_copy(update={"seed": seed})
    inputs = TrainInputs(base_model, tokenizer, sft_conversations["train"], sft_conversations["val"])
    peft_model, history, summary = train_adapter("sft", inputs, settings.model_dump(), cfg.distributed)
    return (peft_model, tokenizer), training_metrics(history, summary)
