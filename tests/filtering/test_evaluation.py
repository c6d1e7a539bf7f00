"""Precision/recall against noise labels, the funnel plot, and the target on the default toy world."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from matplotlib.figure import Figure

from llm_lifecycle.filtering.chain import run_filters
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.evaluation import funnel_plot, precision_recall
from llm_lifecycle.toy_world.config import NOISE_KINDS
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world

LABELS = [
    {"id": "c1", "label": "clean", "kind": "clean"},
    {"id": "c2", "label": "clean", "kind": "clean"},
    {"id": "n1", "label": "noise", "kind": "gibberish"},
    {"id": "n2", "label": "noise", "kind": "gibberish"},
    {"id": "n3", "label": "noise", "kind": "boilerplate"},
]


def test_precision_recall_by_hand():
    rejected = [
        {"id": "n1", "rule": "gopher_quality"},
        {"id": "n3", "rule": "boilerplate"},
        {"id": "c1", "rule": "gopher_quality"},
    ]
    s = precision_recall(rejected, LABELS)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["recall_by_kind"] == {"boilerplate": 1.0, "gibberish": 0.5}
    assert s["rejected_by_rule"] == {"gopher_quality": 2, "boilerplate": 1}
    assert s["clean_rejected_by_rule"] == {"gopher_quality": 1}
    assert (s["true_positives"], s["false_positives"], s["false_negatives"]) == (2, 1, 1)


def test_precision_recall_edge_cases():
    assert precision_recall([], LABELS)["precision"] == 1.0  # nothing rejected: nothing clean wasted
    assert precision_recall(["c1"], LABELS[:2])["recall"] == 1.0  # no noise at all
    assert precision_recall(["n1", "n2", "n3"], LABELS)["f1"] == 1.0


def test_funnel_plot_is_a_figure_that_renders():
    funnel = pd.DataFrame(
        {
            "rule": ["input", "language_id", "near_dedup"],
            "docs_remaining": [10, 8, 7],
            "docs_removed": [0, 2, 1],
        }
    )
    fig = funnel_plot(funnel)
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 3
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def default_world_result():
    docs, labels = generate_documents(make_world(42), DocumentsSettings(), seed=42)
    return run_filters(docs, FilteringSettings(progress=False)), labels


@pytest.mark.slow
def test_default_world_precision_and_recall(default_world_result):
    result, labels = default_world_result
    s = precision_recall(result.rejected, labels)
    assert s["precision"] >= 0.98 and s["recall"] >= 0.98, s
    assert min(s["recall_by_kind"].values()) >= 0.9, s["recall_by_kind"]
    assert set(s["recall_by_kind"]) == set(NOISE_KINDS)  # every kind of noise is found and measured
    kept_langs = {d["lang"] for d in result.kept}
    assert kept_langs == {"en", "ru"}


def test_partial_labels_score_only_the_labelled_documents():
    # A real crawl has labels for a sample only; unlabelled rejections are reported, not counted as clean.
    labels = [{"id": "a", "label": "noise", "kind": "gibberish"}, {"id": "b", "label": "clean"}]
    scores = precision_recall(["a", "x", "y"], labels)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    assert scores["n_unlabelled_rejected"] == 2
