"""Data-filtering nodes: thin wrappers over `llm_lifecycle.filtering` (imported when a node runs).

`filter_documents` takes its path from `data_filtering.executor`:
- `in_process` (the default): the documents as a list, filtered in this process (`chain.run_filters`);
  the outputs are lists, saved as one JSONL file each.
- `local`, `slurm`, `ray`: datatrove streams the documents from a reader to shards on disk
  (`filtering.streaming`); the node returns the staged folders (`ShardFolder`), which the catalog's
  `DocumentShardsDataset` moves into its versions, so no document passes through a list here.

`raw_documents` may be the lazily read `DocumentShards` (or the JSONL dataset's `Records`), whose
`.skipped` lists bad input lines; their count goes into the funnel's input row and the metrics as
`bad_records_skipped`. `evaluate_filter` reads its inputs in one pass each, as they stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.metrics import MetricsDict, as_mlflow_metrics


def filter_documents(
    raw_documents: Iterable[Mapping[str, Any]], params: dict[str, Any]
) -> tuple[Iterable[dict], Iterable[dict], pd.DataFrame]:
    """Kept documents (with detected `lang`), rejected ones (with `rule`, `reason`), and the funnel."""
    cfg = FilteringSettings.model_validate(params)
    if cfg.executor == "in_process":
        from llm_lifecycle.filtering.chain import run_filters

        result = run_filters(raw_documents, cfg)
        return result.kept, result.rejected, result.funnel
    from llm_lifecycle.filtering.streaming import stream_filter

    out = stream_filter(raw_documents, cfg)
    return out.kept, out.rejected, out.funnel


class _Counted:
    """Iterates `items` once, counting them (`n`)."""

    def __init__(self, items: Iterable[Any]):
        self.items, self.n = items, 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.n += 1
            yield item


def evaluate_filter(
    rejected_documents: Iterable[Mapping[str, Any]],
    filtered_documents: Iterable[Mapping[str, Any]],
    noise_labels: Iterable[Mapping[str, Any]],
    filter_funnel: pd.DataFrame,
) -> tuple[MetricsDict, Any]:  # (metrics, matplotlib Figure): matplotlib loads at run time
    """Precision/recall of the rejections against the hidden labels (noise = positive) + funnel plot.

    Without labels (a real crawl nobody labelled) the funnel and counts are reported, precision/recall
    are not: they would be 1.0 by convention and say nothing."""
    import logging

    from llm_lifecycle.filtering.evaluation import funnel_plot, precision_recall

    chars_in = float(filter_funnel["chars_remaining"].iloc[0])
    docs_kept = chars_kept = 0
    for doc in filtered_documents:
        docs_kept += 1
        chars_kept += len(doc["text"])
    rejected = _Counted(rejected_documents)
    metrics: dict[str, float] = {}
    if noise_labels:
        scores = precision_recall(rejected, noise_labels)
        metrics |= {"precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"]}
        metrics |= {f"recall.{kind}": r for kind, r in scores["recall_by_kind"].items()}
        metrics |= {f"rejected.{rule}": n for rule, n in scores.get("rejected_by_rule", {}).items()}
        wasted = scores.get("clean_rejected_by_rule", {})
        metrics |= {f"clean_rejected.{rule}": n for rule, n in wasted.items()}
    else:
        logging.getLogger(__name__).warning("no noise labels: precision/recall not computed")
        for _ in rejected:
            pass
    metrics |= {
        "docs_in": float(filter_funnel["docs_remaining"].iloc[0]),
        "docs_kept": docs_kept,
        "docs_rejected": rejected.n,
        "chars_kept_share": chars_kept / chars_in if chars_in else 0.0,
        "bad_records_skipped": float(filter_funnel["bad_records_skipped"].iloc[0]),
    }
    return as_mlflow_metrics(metrics), funnel_plot(filter_funnel)
