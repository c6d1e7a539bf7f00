"""The real-scale environment's code path (`--env llama3_8b`) end to end, on a tiny model saved in the test.

The test copies `conf/` and changes only what points outside this machine: the hub model id becomes a
local checkpoint (a tiny LLaMA whose tokenizer, like Meta-Llama-3's, has no chat template), the Saiga
hub dataset a local folder in the same format (with `opus_score`), the GPT-4 endpoint a local fake
OpenAI-compatible server that injects 429/500/garbage replies, and the step counts and generation
lengths shrink. Everything else is the environment's own: bf16 loading, gradient checkpointing, the score
filter, `strip_final_answer`, the teacher's cache, credentials from `conf/local/credentials.yml`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_tiny_llama
from tests.fake_openai import API_KEY, serve_fake_openai
from tests.kedro_project import ROOT, kedro

pytestmark = pytest.mark.slow

HUB_MODEL = "meta-llama/Meta-Llama-3-8B"
HUB_DATA = "IlyaGusev/saiga_scored"

QA = [
    ("Где живёт учитель?", "Учитель живёт в Москве."),
    ("Where does the pilot fly?", "The pilot flies to the river."),
    ("Сколько будет семь плюс пять?", "Семь плюс пять будет двенадцать."),
    ("Who has a cat?", "The teacher has a cat."),
    ("Что делает собака?", "Собака ждёт дома."),
    ("How many letters are in city?", "The word city has four letters."),
]


def _saiga_rows() -> list[dict]:
    rows = []
    for i, (q, a) in enumerate(QA * 4):
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Ты — Сайга, русскоязычный автоматический ассистент."},
                    {"role": "user", "content": f"{q} ({i})"},
                    {"role": "bot", "content": a},
                ],
                "opus_score": 9 if i % 4 else 5,  # every 4th is below min_score 8: filtered out
                "source": "test",
            }
        )
    return rows


def _update(path: Path, key: str, changes: dict) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    section = data[key]
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = section
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def real_scale_project(tmp_path, tiny_tokenizer):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
    (project / "src").mkdir()
    (project / "conf" / "local").mkdir()
    (project / "conf" / "local" / "credentials.yml").write_text(f"openai:\n  api_key: {API_KEY}\n")

    hub = tmp_path / "hub-model"  # stands in for meta-llama/Meta-Llama-3-8B: no chat template, no pad
    make_tiny_llama(tiny_tokenizer).save_pretrained(hub)
    template, pad = tiny_tokenizer.chat_template, tiny_tokenizer.pad_token
    try:
        tiny_tokenizer.chat_template = None
        tiny_tokenizer.save_pretrained(hub)
    finally:
        tiny_tokenizer.chat_template = template
    assert pad is not None
    data = tmp_path / "saiga"  # stands in for IlyaGusev/saiga_scored (load_dataset of a local folder)
    data.mkdir()
    (data / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _saiga_rows()), encoding="utf-8"
    )
    env = project / "conf" / "llama3_8b"
    return project, env, hub, data


def test_llama3_8b_environment_runs_sft_and_dpo_on_a_local_stand_in(real_scale_project):
    project, env, hub, data = real_scale_project
    _update(
        env / "parameters_sft.yml",
        "sft",
        {"train.max_steps": 3, "train.eval_steps": 3, "train.batch_size": 2},
    )
    _update(
        env / "parameters_preferences.yml",
        "preferences",
        {"student.max_new_tokens": 12, "hygiene.max_length_ratio": None},
    )
    _update(
        env / "parameters_dpo.yml", "dpo", {"train.max_steps": 2, "train.grad_accum": 1, "val_fraction": 0.2}
    )

    with serve_fake_openai() as fake:
        catalog = (env / "catalog.yml").read_text(encoding="utf-8")
        catalog = catalog.replace(HUB_MODEL, str(hub)).replace(HUB_DATA, str(data))
        catalog = catalog.replace("https://api.openai.com/v1", fake.base_url)
        (env / "catalog.yml").write_text(catalog, encoding="utf-8")
        fake.reply = lambda body: "A careful answer: " + body["messages"][-1]["content"]
        # Saiga conversations end on the bot: strip_final_answer asks the last user turn again
        prompts = [f"{q} ({i})" for i, (q, _) in enumerate(QA * 4)]
        fake.fail(prompts[1], {"status": 429, "headers": {"Retry-After": "0"}})
        fake.fail(prompts[2], {"status": 500}, {"garbage": "this is not json"})
        fake.fail(prompts[3], {"garbage": '{"choices": []}'})

        sft = kedro(["run", "--env", "llama3_8b", "--pipelines", "sft"], cwd=project)
        assert sft.returncode == 0, sft.stdout[-3000:] + sft.stderr[-3000:]
        dpo = kedro(["run", "--env", "llama3_8b", "--pipelines", "dpo"], cwd=project)
        assert dpo.returncode == 0, dpo.stdout[-3000:] + dpo.stderr[-3000:]
        paid = fake.calls
        rerun = kedro(["run", "--env", "llama3_8b", "--pipelines", "preferences"], cwd=project)
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]

    # every prompt answered once, the faults retried, and the rerun paid for nothing (cache)
    n_prompts = len(prompts)
    assert len({b["messages"][-1]["content"] for b in fake.bodies}) == n_prompts
    assert paid == n_prompts + 4 and fake.calls == paid
    assert all(a == f"Bearer {API_KEY}" for a in fake.auth)
    assert fake.bodies[0]["model"] == "gpt-4-0613" and fake.bodies[0]["temperature"] == 0.0
    assert fake.bodies[0]["messages"][0]["role"] == "system"  # Saiga's system prompt travels along

    # versioned outputs, one of each, loadable; pairs in TRL's conversational format
    models = project / "data" / "06_models"
    for name in ("sft_adapter", "sft_model", "dpo_adapter", "dpo_model"):
        assert len(list((models / name).iterdir())) == 1, name
    pair_files = sorted((project / "data/03_primary/preference_pairs.jsonl").rglob("*.jsonl"))
    assert len(pair_files) == 2  # the rerun wrote a new version, the first is kept
    pairs = [json.loads(line) for line in pair_files[0].read_text(encoding="utf-8").splitlines()]
    assert len(pairs) == n_prompts
    assert pairs[0]["chosen"][0]["role"] == "assistant"
    assert pairs[0]["chosen"][0]["content"].startswith("A careful answer: ")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sft_dir = next((models / "sft_model").iterdir()) / "sft_model"
    tok = AutoTokenizer.from_pretrained(sft_dir)
    assert "bot" in tok.chat_template  # the Saiga template the SFT node gave the template-less tokenizer
    merged = AutoModelForCausalLM.from_pretrained(sft_dir)
    assert str(merged.dtype) == "torch.bfloat16"  # the environment loads and trains the base in bf16

    # MLflow: the score filter, the SFT and DPO metrics; never the key
    db = sqlite3.connect(project / "mlflow.db")
    runs = [r for (r,) in db.execute("select run_uuid from runs order by start_time")]
    assert len(runs) == 3
    metrics = dict(db.execute("select key, value from metrics where run_uuid=?", (runs[0],)).fetchall())
    assert metrics["sft.data.n_loaded"] == 24 and metrics["sft.data.n_after_score_filter"] == 18
    assert metrics["sft.steps"] == 3
    dpo_metrics = dict(db.execute("select key, value from metrics where run_uuid=?", (runs[1],)).fetchall())
    assert dpo_metrics["preferences.kept"] == n_prompts and dpo_metrics["dpo.steps"] == 2
    assert "dpo.train/rewards/margins_last" in dpo_metrics
    everything = sft.stdout + sft.stderr + dpo.stdout + dpo.stderr + rerun.stdout + rerun.stderr
    everything += "".join(str(row) for row in db.execute("select * from params"))
    everything += "".join(
        p.read_text(errors="ignore") for p in (project / "mlruns").rglob("*") if p.is_file()
    )
    assert API_KEY not in everything
