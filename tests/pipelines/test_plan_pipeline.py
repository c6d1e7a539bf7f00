"""`kedro run --pipelines plan` as a user runs it: after a run it predicts that run's training times from
the ceilings and MFU it measured, writes a versioned table and its metrics, and the report card shows it;
the real-scale environment plans without a GPU, the hub or an API key."""

from __future__ import annotations

import json
import math

import pandas as pd

from tests.kedro_project import TINY_DATA, kedro


def newest(folder) -> object:
    return sorted(p for p in folder.iterdir())[-1] / folder.name


def test_plan_after_a_run_predicts_its_training_times_and_the_report_shows_it(tiny_run):
    project = tiny_run
    reports = project / TINY_DATA / "08_reporting"
    card = newest(reports / "report_card.html").read_text(encoding="utf-8")
    assert "No plan made yet" in card  # the default run does not plan

    run = kedro(["run", "--env", "tiny", "--pipelines", "plan"], cwd=project)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = pd.read_csv(newest(reports / "plan.csv"))
    here = table[table["device"] == "this_machine"].set_index("stage")
    for stage in ("pretraining", "sft", "dpo", "reward_model", "rlhf"):
        ratio = here.loc[stage, "predicted_over_measured"]
        assert math.isfinite(ratio) and ratio > 0, stage  # the tiny run's stages, timed and predicted
    assert here.loc["sft", "mfu"] != here.loc["pretraining", "mfu"]  # TRL's measured MFU, not the loop's
    assert table["fits"].all()
    record = json.loads(newest(project / TINY_DATA / "09_tracking/plan_metrics.json").read_text())
    assert record["mlflow_run_id"] and "plan.1xthis_machine/sft/hours" in record["metrics"]

    report = kedro(["run", "--env", "tiny", "--pipelines", "report"], cwd=project)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    card = newest(reports / "report_card.html").read_text(encoding="utf-8")
    assert "7. The plan" in card and "predicted_over_measured" in card and "17,179,869,184 bytes" in card


def test_the_real_scale_plan_runs_without_a_gpu_the_hub_or_a_key(project, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    run = kedro(["run", "--env", "llama3_8b", "--pipelines", "plan"], cwd=project)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    table = pd.read_csv(newest(project / "data/llama3_8b/08_reporting/plan.csv")).set_index(
        ["stage", "setup"]
    )
    assert table.loc[("sft", "1 x A100-80GB"), "weights_gb"] == 16.060522496
    assert table.loc[("mt_bench", "8 x H100-SXM"), "api_calls"] == 1920
