"""Data-filtering nodes: thin wrappers over `llm_lifecycle.filtering` (imported when a node runs).

`raw_documents` may be the JSONL dataset's `Records`, whose `.skipped` lists bad input lines; their
count goes into the funnel's input row and the metrics as `bad_records_skipped`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics


def filter_documents(
    raw_documents: Sequence[Mapping[str, Any]], params: dict[str, Any]
) -> tuple[list[dict], list[dict], pd.DataFrame]:
    """Kept documents (with detected `lang`), rejected ones (with `rule`, `reason`), and the funnel."""
    from llm_lifecycle.filtering.chain import run_filters

    cfg = FilteringSettings.model_validate(params)
    result = run_filters(raw_documents, cfg)
    return result.kept, result.rejected, result.funnel


def evaluate_filter(
    rejected_documents: Sequence[Mapping[str, Any]],
    filtered_documents: Sequence[Mapping[str, Any]],
    noise_labels: Sequence[Mapping[str, Any]],
    filter_funnel: pd.DataFrame,
) -> tuple[MetricsDict, Any]:  # (metrics, matplotlib Figure): matplotlib loads at run time
    """Precision/recall of the rejections against the hidden labels (noise = positive) + funnel plot.

    Without labels (a real crawl nobody labelled) the funnel and counts are reported, precision/recall
    are not: they would be 1.0 by convention and say nothing."""
    import logging

    from llm_lifecycle.filtering.evaluation import funnel_plot, precision_recall

    chars_in = float(filter_funnel["chars_remaining"].iloc[0])
    chars_kept = sum(len(doc["text"]) for doc in filtered_documents)
    metrics: dict[str, float] = {}
    if noise_labels:
        scores = precision_recall(rejected_documents, noise_labels)
        metrics |= {"precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"]}
        metrics |= {f"recall.{kind}": r for kind, r in scores["recall_by_kind"].items()}
        metrics |= {f"rejected.{rule}": n for rule, n in scores.get("rejected_by_rule", {}).items()}
        wasted = scores.get("clean_rejected_by_rule", {})
        metrics |= {f"clean_rejected.{rule}": n for rule, n in wasted.items()}
    else:
        logging.getLogger(__name__).warning("no noise labels: precision/recall not computed")
    metrics |= {
        "docs_in": float(filter_funnel["docs_remaining"].iloc[0]),
        "docs_kept": len(filtered_documents),
        "docs_rejected": len(rejected_documents),
        "chars_kept_share": chars_kept / chars_in if chars_in else 0.0,
        "bad_records_skipped": float(filter_funnel["bad_records_skipped"].iloc[0]),
    }
    return as_mlflow_metrics(metrics), funnel_plot(filter_funnel)
