"""Never train twice, never mix seeds, never leave a run RUNNING: resuming and stopping the Kedro way."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import time

import pytest

from tests.kedro_project import TINY_DATA, kedro, start_kedro

pytestmark = pytest.mark.slow


def _last_run(project) -> tuple[str, str, dict[str, float], dict[str, str]]:
    """(run id, status, last value of every metric, tags) of the newest MLflow run."""
    db = sqlite3.connect(project / "mlflow.db")
    run_id, status = db.execute(
        "select run_uuid, status from runs order by start_time desc limit 1"
    ).fetchone()
    metrics = dict(db.execute("select key, value from latest_metrics where run_uuid=?", (run_id,)).fetchall())
    tags = dict(db.execute("select key, value from tags where run_uuid=?", (run_id,)).fetchall())
    return run_id, status, metrics, tags


def test_a_finished_run_is_not_redone_and_the_report_rebuilds_from_the_stored_metrics(tiny_run):
    first_id, _, first, _ = _last_run(tiny_run)
    again = kedro(["run", "--env", "tiny", "--only-missing-outputs"], cwd=tiny_run)
    assert again.returncode == 0, again.stderr[-3000:]
    log = " ".join((again.stdout + again.stderr).split())
    assert "Skipping all" in log and "Running node" not in log

    report = kedro(["run", "--env", "tiny", "--pipelines", "report"], cwd=tiny_run)
    assert report.returncode == 0, report.stderr[-3000:]
    assert len(list((tiny_run / TINY_DATA / "08_reporting/report_card.html").iterdir())) == 2
    run_id, status, metrics, tags = _last_run(tiny_run)
    assert status == "FINISHED" and run_id != first_id
    for key in (
        "pretraining.val_loss",
        "sft.eval_loss_final",
        "dpo.steps",
        "rlhf.steps",
        "data_filtering.recall",
    ):
        assert metrics[key] == first[key], key  # shown again in the new run, from the files
    assert tags["metrics_from.pretraining"] == tags["metrics_from.sft"] == first_id
    (_, card) = sorted((tiny_run / TINY_DATA / "08_reporting/report_card.html").glob("*/report_card.html"))
    page = card.read_text()
    assert "No node ran before this report" in page and f"<td>{first_id}</td>" in page  # lineage table


def test_a_run_killed_during_judging_resumes_from_there_and_still_shows_every_stage(tiny_run):
    first_id, _, first, _ = _last_run(tiny_run)
    # What a run killed inside MT-Bench judging leaves behind: every output up to the answers, none after.
    for name in ("mt_bench_judgments.jsonl", "mt_bench_pairwise.jsonl", "mt_bench_scores.csv"):
        shutil.rmtree(next((tiny_run / TINY_DATA).glob(f"*/{name}")))
    shutil.rmtree(tiny_run / TINY_DATA / "09_tracking/mt_bench_metrics.json")
    shutil.rmtree(tiny_run / TINY_DATA / "08_reporting/report_card.html")

    resumed = kedro(["run", "--env", "tiny", "--only-missing-outputs"], cwd=tiny_run)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, status, metrics, tags = _last_run(tiny_run)
    ran = {key.removeprefix("time/") for key in metrics if key.startswith("time/")}
    assert "mt_bench.grade_single_answers" in ran and "report.build_report_card" in ran
    assert not {n for n in ran if n.split(".")[0] in ("pretraining", "sft", "dpo", "rlhf", "tokenizer")}, ran
    assert status == "FINISHED" and metrics["mt_bench/dpo/score"] == first["mt_bench/dpo/score"]
    assert metrics["pretraining.val_loss"] == first["pretraining.val_loss"]
    assert tags["metrics_from.rlhf"] == first_id and "metrics_from.mt_bench" not in tags
    (card,) = (tiny_run / TINY_DATA / "08_reporting/report_card.html").glob("*/report_card.html")
    assert "not in this run" not in card.read_text()


def test_a_run_never_reads_what_another_seed_made(tiny_run):
    rejudge = kedro(
        ["run", "--env", "tiny", "--pipelines", "mt_bench_judging", "--params", "seed=5"], cwd=tiny_run
    )
    out = " ".join((rejudge.stdout + rejudge.stderr).split())
    assert rejudge.returncode != 0
    assert re.search(
        r"LineageMismatchError: input '\w+' version \S+ was made under seed 42, this run has seed 5", out
    )
    assert "--load-versions" in out


def test_sigterm_ends_the_mlflow_run_as_killed(project):
    log = project / "run.log"
    run = start_kedro(["run", "--env", "tiny"], cwd=project, output=log)
    deadline = time.monotonic() + 120
    while "Running node:" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=120) != 0
    assert "interrupted by SIGTERM" in log.read_text()
    _, status, _, _ = _last_run(project)
    assert status == "KILLED"
