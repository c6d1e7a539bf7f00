"""Report card and run comparison: numbers come from the inputs, missing stages are named, plots embed."""

from __future__ import annotations

import io
import re

import mlflow
import pandas as pd
import pytest

from llm_lifecycle.pipelines.report.nodes import build_report_card
from llm_lifecycle.reporting.compare import comparison_plot, runs_table
from llm_lifecycle.reporting.report_card import last_values, overall_scores


def test_last_values_takes_the_latest_step():
    history = {
        "sft.train/loss": [{"step": 1, "value": 3.0}, {"step": 9, "value": 1.5}, {"step": 5, "value": 2.0}]
    }
    single = {"dpo.wall_s": {"step": 0, "value": 21.0}}
    assert last_values(history, single, None) == {"sft.train/loss": 1.5, "dpo.wall_s": 21.0}


def test_overall_score_weights_categories_by_their_count():
    scores = pd.DataFrame(
        [
            {"model": "sft", "category": "math", "turn": 1, "mean_score": 1.0, "n": 3},
            {"model": "sft", "category": "stem", "turn": 1, "mean_score": 5.0, "n": 1},
            {"model": "dpo", "category": "math", "turn": 1, "mean_score": None, "n": 0},
            {"model": "dpo", "category": "stem", "turn": 1, "mean_score": 4.0, "n": 2},
        ]
    )
    assert overall_scores(scores) == {"sft": 2.0, "dpo": 4.0}  # (3·1 + 5) / 4


def _metric(value: float) -> dict:
    return {"step": 0, "value": value}


def test_report_card_shows_the_numbers_it_was_given_and_names_missing_stages():
    funnel = pd.DataFrame(
        {
            "rule": ["input", "language_id"],
            "docs_remaining": [100, 90],
            "docs_removed": [0, 10],
            "docs_kept_share": [1.0, 0.9],
        }
    )
    winrates = pd.DataFrame(
        [
            {
                "pair": "dpo_vs_sft",
                "wins": 30,
                "losses": 10,
                "ties": 40,
                "adjusted_win_rate": 0.625,
                "ci_low": 0.55,
                "ci_high": 0.7,
            }
        ]
    )
    scores = pd.DataFrame(
        [
            {"model": m, "category": "math", "turn": 1, "mean_score": s, "n": 5}
            for m, s in (("sft", 3.0), ("dpo", 4.2))
        ]
    )
    page = build_report_card(
        funnel=funnel,
        mt_bench_scores=scores,
        mt_bench_winrates=winrates,
        filter_metrics={"data_filtering.precision": _metric(0.9731)},
        sft_metrics={
            "sft.wall_s": _metric(100.0),
            "sft.steps": _metric(800),
            "sft.tokens_seen": _metric(5e5),
        },
        dpo_metrics={"dpo.wall_s": _metric(20.0), "dpo.steps": _metric(100), "dpo.tokens_seen": _metric(1e5)},
    )
    assert page.startswith("<!doctype html>")
    assert re.search(r'title="data_filtering.precision">0.973<', page)
    assert "first better" in page  # CI above 0.5
    assert "pretraining log: not in this run" in page and "roofline table: not in this run" in page
    assert page.count("data:image/png;base64,") == 3  # funnel, categories, win rates
    # compute table: SFT and DPO, with their MT-Bench scores; RLHF is absent (no metrics)
    compute = pd.read_html(
        io.StringIO(page.split("Compute of each method")[1].split("</table>")[0] + "</table>")
    )[0]
    assert compute["method"].tolist() == ["SFT", "DPO"]
    assert compute["mt_bench_score"].tolist() == [3.0, 4.2]


@pytest.mark.slow
def test_runs_table_filters_by_tag_and_drops_runs_without_the_metrics(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("exp")
    for beta, score, scale in ((0.1, 2.0, "toy"), (0.5, 2.4, "toy"), (0.1, 7.0, "real")):
        with mlflow.start_run():
            mlflow.set_tags(
                {"scale": scale, "pipeline": "__default__", "env": "local", "git_commit": "abc123456789"}
            )
            mlflow.log_params({"dpo.train.beta": beta})
            mlflow.log_metric("mt_bench/dpo/score", score)
    with mlflow.start_run():  # a tokenizer-only run: none of the compared metrics
        mlflow.set_tags({"scale": "toy"})
        mlflow.log_metric("tokenizer.ru.bytes_per_token", 4.0)
    table = runs_table(uri, "exp", ["mt_bench/dpo/score"], ["dpo.train.beta"], "tags.scale = 'toy'", 10)
    assert table["mt_bench/dpo/score"].tolist() == [2.4, 2.0]  # newest first, real run filtered out
    assert table["dpo.train.beta"].tolist() == ["0.5", "0.1"] and set(table["git_commit"]) == {"abc12345"}
    fig = comparison_plot(table, ["mt_bench/dpo/score"])
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 2
    with pytest.raises(ValueError, match="no MLflow experiment 'nope'"):
        runs_table(uri, "nope")


def test_run_section_lists_node_times_largest_first_and_the_lineage():
    import pandas as pd

    from llm_lifecycle.reporting.report_card import run_section

    lineage = pd.DataFrame(
        [
            {
                "dataset": "sft_model",
                "version": "v1",
                "seed": 42,
                "env": "local",
                "pipeline": "sft",
                "mlflow_run_id": "r",
            }
        ]
    )
    metrics = {
        "sft.tokens_per_s": 9000.0,
        "pretraining.tokens_per_s_median": 10000.0,
        "pretraining.mfu_median": 0.4,
    }
    section = run_section({"sft.train_sft_model": 90.0, "toy_world.make_documents": 10.0}, lineage, metrics)
    times, targets, table = section.tables
    assert list(times["node"]) == ["sft.train_sft_model", "toy_world.make_documents"]
    assert list(times["share"]) == [0.9, 0.1] and "<b>100</b> s in 2 nodes" in section.lines[0]
    # each speed target beside this run's figure: 100 s <= 300 met, 9000/10000 = 0.9 >= 0.8 met, MFU 0.4 not
    assert list(targets["this run"]) == ["100", "0.9", "0.4"]
    assert list(targets["target"]) == ["≤ 300", "≥ 0.8", "≥ 0.5"] and list(targets["met"]) == [
        "yes",
        "yes",
        "no",
    ]
    assert table.equals(lineage)
    empty = run_section({}, None)
    (no_figures,) = empty.tables
    assert "No node ran" in empty.lines[0] and list(no_figures["met"]) == ["–", "–", "–"]
