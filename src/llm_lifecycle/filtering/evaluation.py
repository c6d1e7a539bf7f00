"""How good is the filter? Precision/recall against the generator's hidden noise labels, and a funnel plot.

"Noise" is the positive class: precision = rejected pages that are noise / rejected pages (how much
clean text the filter wastes); recall = noise pages rejected / all noise pages (how much junk gets
through). Per-kind recall says which kind of junk gets through; per-rule counts say which rule did the
work, and which rule wasted clean pages. Conventions: with nothing rejected precision is 1.0 (nothing
clean was wasted); with no noise recall is 1.0. Ids without a label count as clean.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)


def precision_recall(
    rejected: Iterable[str | Mapping[str, Any]], noise_labels: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Scores of a rejection set. `rejected` holds ids, or rejected documents (then per-rule counts too).

    Returns precision, recall, f1, counts, `recall_by_kind` {kind: recall}, `noise_by_kind` {kind: n},
    and, for documents with a "rule", `rejected_by_rule` and `clean_rejected_by_rule` {rule: n}.
    """
    labels = {str(lab["id"]): lab for lab in noise_labels}
    rejected_ids: list[str] = []
    rules: dict[str, str] = {}
    for item in rejected:
        doc_id = str(item["id"]) if isinstance(item, Mapping) else str(item)
        rejected_ids.append(doc_id)
        if isinstance(item, Mapping) and "rule" in item:
            rules[doc_id] = str(item["rule"])
    # Real crawls carry labels for a sample only (conf/llama3_8b): score on the labelled documents and
    # report how many rejections could not be scored rather than counting them as clean.
    unlabelled = {i for i in rejected_ids if i not in labels}
    if unlabelled:
        logger.warning(
            "%d rejected ids have no label (not scored), e.g. %s", len(unlabelled), sorted(unlabelled)[:3]
        )
    is_noise = {i: lab.get("label") == "noise" for i, lab in labels.items()}
    rejected_set = set(rejected_ids) - unlabelled
    tp = sum(1 for i in rejected_set if is_noise[i])  # noise rejected
    n_noise = sum(is_noise.values())
    precision = tp / len(rejected_set) if rejected_set else 1.0
    recall = tp / n_noise if n_noise else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    caught = [i for i in rejected_set if is_noise.get(i, False)]
    noise_by_kind = Counter(str(lab.get("kind", "noise")) for i, lab in labels.items() if is_noise[i])
    caught_by_kind = Counter(str(labels[i].get("kind", "noise")) for i in caught)
    out: dict[str, Any] = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_rejected": len(rejected_set),
        "n_unlabelled_rejected": len(unlabelled),
        "n_noise": n_noise,
        "true_positives": tp,
        "false_positives": len(rejected_set) - tp,
        "false_negatives": n_noise - tp,
        "recall_by_kind": {k: caught_by_kind[k] / n for k, n in sorted(noise_by_kind.items())},
        "noise_by_kind": dict(sorted(noise_by_kind.items())),
    }
    if rules:
        out["rejected_by_rule"] = dict(Counter(rules.values()))
        wasted = Counter(rule for i, rule in rules.items() if i in labels and not is_noise[i])
        out["clean_rejected_by_rule"] = dict(wasted)
    return out


def funnel_plot(funnel: pd.DataFrame) -> Figure:
    """Horizontal bars: documents left after each rule, annotated with how many the rule removed.

    Built on a bare `Figure` with the Agg canvas (no pyplot, no global backend state), so it renders in
    a headless worker and the caller (Kedro's MatplotlibWriter) owns saving it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(7, 0.45 * len(funnel) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    stages = list(funnel["rule"])[::-1]
    left = list(funnel["docs_remaining"])[::-1]
    removed = list(funnel["docs_removed"])[::-1]
    ax.barh(stages, left, color="#4C72B0")
    n_in = max(funnel["docs_remaining"].iloc[0], 1)
    for y, (n, r) in enumerate(zip(left, removed, strict=True)):
        ax.text(n, y, f" {n} ({100 * n / n_in:.0f}%)" + (f"  -{r}" if r else ""), va="center", fontsize=8)
    ax.set_xlim(0, n_in * 1.3)
    ax.set_xlabel("documents remaining")
    ax.set_title("Data filtering funnel")
    fig.tight_layout()
    return fig
