"""RLHF nodes: a Bradley-Terry reward model on the preference pairs, then RLOO against it.

The library code is `training.alignment.reward` and `training.alignment.rloo`. Both nodes split the
pairs exactly as the DPO node does (same `val_fraction`, same seed), so the reward model is scored on
the pairs DPO held out and RLOO optimises on the prompts DPO trained on: the two methods see the same data.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.metrics import MetricsDict, training_metrics
from llm_lifecycle.training.alignment.reward import RewardTrainerSettings
from llm_lifecycle.training.alignment.rloo import RLOOTrainerSettings


class RewardModelSettings(BaseModel):
    """`rlhf.reward_model`."""

    model_config = ConfigDict(extra="forbid")

    train: RewardTrainerSettings = RewardTrainerSettings()
    off_topic_share: float = Field(
        0.0, ge=0, le=1, description="share of pairs that also teach: this answer beats another prompt's"
    )


class PolicySettings(BaseModel):
    """`rlhf.policy`."""

    model_config = ConfigDict(extra="forbid")

    train: RLOOTrainerSettings = RLOOTrainerSettings()


class RLHFSettings(BaseModel):
    """`conf/base/parameters_rlhf.yml` (key `rlhf`)."""

    model_config = ConfigDict(extra="forbid")

    val_fraction: float = Field(0.1, ge=0, lt=1, description="as dpo.val_fraction: the same held-out pairs")
    reward_model: RewardModelSettings = RewardModelSettings()
    policy: PolicySettings = PolicySettings()
    eval_prompts: int = Field(32, ge=0, description="held-out prompts for the reward/KL check (0: skip)")


def _split(pairs: Sequence[Mapping[str, Any]], val_fraction: float, seed: int) -> tuple[list, list]:
    from llm_lifecycle.training.alignment.conversations import split_train_val

    if not pairs:
        raise ValueError("no preference pairs to train on: see preference_metrics for what was dropped")
    return split_train_val([dict(p) for p in pairs], val_fraction, seed)


def train_reward_model(
    sft_model: tuple[Any, Any],
    preference_pairs: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    seed: int,
) -> tuple[tuple[Any, Any], Any, Any, MetricsDict]:
    """Reward model (merged, with its tokenizer), per-pair held-out rewards, margin histogram, metrics."""
    import pandas as pd

    from llm_lifecycle.training.alignment.reward import (
        margin_summary,
        off_topic_pairs,
        pair_report,
        reward_model_from_causal_lm,
    )
    from llm_lifecycle.training.alignment.reward import train_reward_model as train
    from llm_lifecycle.training.alignment.reward_plots import margin_histogram
    from llm_lifecycle.training.alignment.trl_common import TrainInputs, merge_adapter

    cfg = RLHFSettings.model_validate(params)
    settings = cfg.reward_model.train.model_copy(update={"seed": seed})
    train_pairs, val_pairs = _split(preference_pairs, cfg.val_fraction, seed)
    off_topic = off_topic_pairs(train_pairs, cfg.reward_model.off_topic_share, seed)
    model, tokenizer = sft_model
    rm = reward_model_from_causal_lm(model, tokenizer.pad_token_id, seed)
    with tempfile.TemporaryDirectory(prefix="reward-") as scratch:
        result = train(TrainInputs(rm, tokenizer, train_pairs + off_topic, val_pairs), settings, scratch)
    merged = merge_adapter(result.model)  # in place: the adapter itself is not an output
    rows = [{"split": "val", **r} for r in pair_report(merged, tokenizer, val_pairs)]
    rows += [{"split": "train", **r} for r in pair_report(merged, tokenizer, train_pairs)]
    # Does the score read the prompt? Each held-out answer against another prompt's answer (always measured).
    val_off_topic = off_topic_pairs(val_pairs, 1.0, seed, answers_from=val_pairs + train_pairs)
    rows += [{"split": "val_off_topic", **r} for r in pair_report(merged, tokenizer, val_off_topic)]
    table = pd.DataFrame(rows)
    summary = dict(result.summary) | {"n_off_topic_train": len(off_topic)}
    # `val/...` and `train_pairs/...`: TRL's own per-step history already uses `train/accuracy`
    for split, prefix in (("val", "val"), ("train", "train_pairs"), ("val_off_topic", "val_off_topic")):
        stats = margin_summary([r for r in rows if r["split"] == split])
        summary |= {f"{prefix}/{key}": value for key, value in stats.items()}
    return (merged, tokenizer), table, margin_histogram(table), training_metrics(result.history, summary)


def train_rlhf_policy(
    sft_model: tuple[Any, Any],
    reward_model: tuple[Any, Any],
    preference_pairs: Sequence[Mapping[str, Any]],
    params: dict[str, Any],
    seed: int,
) -> tuple[tuple[Any, Any], MetricsDict]:
    """RLOO from the SFT model with reward RM − β·KL; returns the adapter (with tokenizer) and metrics.

    After training, `eval/*` compares the policy with its reference (the SFT model) on held-out prompts:
    reward-model score of sampled answers, the sequence KL, and the penalised objective."""
    from llm_lifecycle.training.alignment.rloo import evaluate_policy, train_rloo
    from llm_lifecycle.training.alignment.trl_common import TrainInputs

    cfg = RLHFSettings.model_validate(params)
    settings = cfg.policy.train.model_copy(update={"seed": seed})
    train_pairs, val_pairs = _split(preference_pairs, cfg.val_fraction, seed)
    model, tokenizer = sft_model
    rm, _ = reward_model
    with tempfile.TemporaryDirectory(prefix="rloo-") as scratch:
        inputs = TrainInputs(model, tokenizer, [p["prompt"] for p in train_pairs])
        demonstrations = [list(p["prompt"]) + list(p["chosen"]) for p in train_pairs]
        result = train_rloo(inputs, rm, settings, scratch, demonstrations)
    held_out = [p["prompt"] for p in (val_pairs or train_pairs)][: cfg.eval_prompts]
    check = evaluate_policy(result.model, tokenizer, rm, held_out, settings)
    summary = dict(result.summary) | {f"eval/{key}": value for key, value in check.items()}
    return (result.model, tokenizer), training_metrics(result.history, summary)
