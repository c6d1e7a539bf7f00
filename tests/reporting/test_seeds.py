"""The multi-seed table: runs found by their seed tag, pooled win rates with a stratified bootstrap."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import pytest

from llm_lifecycle.reporting.seeds import find_seed_runs, markdown, pooled_interval, seeds_plot, seeds_table
from tests.kedro_project import _empty_mlflow_db


def test_pooled_interval_by_hand():
    # 2 seeds: 3 wins, 1 loss, 0 ties and 1 win, 1 loss, 2 ties -> (4 + 1) / 8 = 0.625
    rate, low, high = pooled_interval([(3, 1, 0), (1, 1, 2)], n_boot=4000)
    assert rate == pytest.approx(0.625)
    assert low < rate < high and 0 <= low and high <= 1
    # all ties everywhere: no spread at all
    assert pooled_interval([(0, 0, 5), (0, 0, 3)]) == (0.5, 0.5, 0.5)
    # the interval narrows as seeds (games) are added, around the same rate
    one = pooled_interval([(30, 10, 40)], n_boot=4000)
    five = pooled_interval([(30, 10, 40)] * 5, n_boot=4000)
    assert five[0] == pytest.approx(one[0]) and five[2] - five[1] < (one[2] - one[1]) * 0.6
    assert np.isnan(pooled_interval([])[0])


def _log_run(seed: int, wins: int, env: str = "local", status: str = "FINISHED", prefix: str = "") -> str:
    with mlflow.start_run() as run:
        mlflow.set_tags({"seed": str(seed), "env": env})
        for model, score in (("base", 2.0), ("sft", 4.0 + seed / 100), ("dpo", 4.5), ("rlhf", 4.2)):
            mlflow.log_metric(f"{prefix}mt_bench/{model}/score", score)
        for pair in ("sft_vs_base", "dpo_vs_sft"):
            counts = {"wins": wins, "losses": 2, "ties": 8}
            for k, v in counts.items():
                mlflow.log_metric(f"{prefix}winrate/{pair}/{k}", v)
            rate = (wins + 4) / (wins + 10)
            for k, v in (("adjusted_win_rate", rate), ("ci_low", rate - 0.1), ("ci_high", rate + 0.1)):
                mlflow.log_metric(f"{prefix}winrate/{pair}/{k}", v)
    if status != "FINISHED":
        mlflow.MlflowClient().set_terminated(run.info.run_id, status)
    return run.info.run_id


def test_table_from_mlflow_runs_newest_finished_per_seed(tmp_path):
    shutil.copy(_empty_mlflow_db(), tmp_path / "mlflow.db")  # tables made once per session
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("llm_lifecycle")
    _log_run(1, wins=1)
    newest = _log_run(1, wins=6)  # the newest finished run of seed 1 is the one that counts
    _log_run(1, wins=0, status="KILLED")
    _log_run(2, wins=4)
    _log_run(3, wins=9, env="llama3_8b")  # another env: not a seed-3 run of this env
    _log_run(4, wins=5, prefix="validation/")  # validation numbers only
    runs = find_seed_runs(uri, "llm_lifecycle", [1, 2, 3, 4], "local")
    assert sorted(runs) == [1, 2] and runs[1]["run_id"] == newest
    assert sorted(find_seed_runs(uri, "llm_lifecycle", [4], "local", "validation")) == [4]
    assert find_seed_runs(uri, "missing", [1], "local") == {}
    table = seeds_table(runs, n_boot=500)
    assert list(table["seed"]) == ["1", "2", "pooled"]
    pooled = table.iloc[-1]
    assert pooled["sft_score"] == pytest.approx((4.01 + 4.02) / 2)
    assert pooled["dpo_vs_sft_wlt"] == "10/4/16"
    assert pooled["dpo_vs_sft"] == pytest.approx((10 + 8) / 30)
    assert pooled["dpo_vs_sft_low"] < pooled["dpo_vs_sft"] < pooled["dpo_vs_sft_high"]
    assert "rlhf_vs_sft" not in table  # a pair the runs did not judge
    text = markdown(table)
    assert "| **pooled** |" in text and "0.600 [" in text and "(10/4/16)" in text
    assert len(seeds_plot(table).axes) == 2
    with pytest.raises(ValueError, match="split"):
        seeds_table(runs, "train")
