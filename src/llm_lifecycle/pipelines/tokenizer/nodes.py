"""Tokenizer nodes: thin wrappers over `llm_lifecycle.tokenization`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics
from llm_lifecycle.splits import split_records
from llm_lifecycle.tokenization.report import language_stats, report_metrics, word_splits
from llm_lifecycle.tokenization.train import TokenizerSettings, train_bpe


def train_tokenizer(filtered_documents: Sequence[Mapping[str, Any]], params: dict[str, Any]):
    """Train byte-level BPE on the filtered corpus minus the held-out documents."""
    cfg = TokenizerSettings.model_validate(params)
    train, _ = split_records(filtered_documents, cfg.heldout_fraction, salt=cfg.split_salt)
    return train_bpe((doc["text"] for doc in train), cfg)


def report_tokenizer(
    tokenizer, filtered_documents: Sequence[Mapping[str, Any]], params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, MetricsDict]:
    """Per-language compression on held-out documents, example word splits, and their metrics."""
    cfg = TokenizerSettings.model_validate(params)
    _, heldout = split_records(filtered_documents, cfg.heldout_fraction, salt=cfg.split_salt)
    if not heldout:
        raise ValueError(
            f"no held-out documents for the tokenizer report (heldout_fraction={cfg.heldout_fraction}, "
            f"{len(filtered_documents)} documents): raise tokenizer.heldout_fraction"
        )
    stats = language_stats(tokenizer, heldout)
    splits = word_splits(tokenizer, cfg.example_words)
    metrics = report_metrics(stats, splits, vocab_size=len(tokenizer))
    return stats, splits, as_mlflow_metrics(metrics)
