"""The README's Mixture-of-Experts variant survives post-training, run the way the README runs it."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.kedro_project import TINY_DATA, kedro

pytestmark = pytest.mark.slow

MOE = "pretraining.model.moe.n_experts=4,pretraining.model.moe.top_k=2,pretraining.train.max_steps=4"


def test_a_tiny_moe_base_goes_through_sft_dpo_rlhf_and_mt_bench(tiny_run):
    # On a finished tiny run (its corpus and tokenizer): a MoE base model, then every stage after it.
    project = tiny_run
    stages = "pretraining,sft,dpo,rlhf,mt_bench"
    post = kedro(["run", "--env", "tiny", "--pipelines", stages, "--params", MOE], cwd=project)
    assert post.returncode == 0, post.stderr[-3000:]
    # peft adapts the 3-D expert tensors without dropout (DPO asks for 0.05): said in the log, not a failure
    assert "LoRA dropout 0.05 -> 0" in post.stdout + post.stderr

    models = project / TINY_DATA / "06_models"
    for name in ("sft_model", "dpo_model", "rlhf_model", "reward_model"):
        version = max((models / name).iterdir())  # the newest (timestamped) version: this run's
        config = json.loads((version / name / "config.json").read_text())
        assert config["model_type"] == "mixtral" and config["num_local_experts"] == 4, name
    adapter = max((models / "dpo_adapter").iterdir())
    lora = json.loads((adapter / "dpo_adapter" / "adapter_config.json").read_text())
    assert lora["lora_dropout"] == 0.0 and lora["target_parameters"], lora  # the experts are adapted

    answers = max((project / TINY_DATA / "07_model_output/mt_bench_answers.jsonl").iterdir())
    rows = [json.loads(line) for line in (answers / "mt_bench_answers.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"base", "sft", "dpo", "rlhf"}
    db = sqlite3.connect(project / "mlflow.db")
    (run,) = db.execute("select run_uuid from runs order by start_time desc limit 1").fetchone()
    metrics = dict(db.execute("select key, value from metrics where run_uuid=?", (run,)).fetchall())
    assert metrics["sft.steps"] > 0 and metrics["dpo.steps"] > 0 and metrics["rlhf.steps"] > 0
    assert 1.0 <= metrics["mt_bench/dpo/score"] <= 10.0
