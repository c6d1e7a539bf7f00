"""The real-scale environment as a user runs it: `--env llama3_8b`, unmodified (`tests/rehearsal.py`).

The dress rehearsal runs the README's six commands against loopback stand-ins for the hub and GPT-4 and
checks every stage's outputs and metrics, that nothing was asked or downloaded twice, and that neither
secret appears anywhere. A second test starts the same commands on a fresh clone with the hub out of
reach, as on a machine that has not been granted the model yet: each must get as far as its first hub
download and fail there, naming the repository and the token.
"""

from __future__ import annotations

import collections
import json
import math
import sqlite3
import subprocess
import sys

import pytest

from tests.fake_hub import TOKEN, serve_fake_hub
from tests.kedro_project import kedro, make_project
from tests.rehearsal import API_KEY, FINEWEB_ID, MODEL_ID, SAIGA_ID, TIMEOUT_S, rehearse

pytestmark = pytest.mark.slow


def _metrics(db: sqlite3.Connection, pipeline: str) -> dict[str, float]:
    (run,) = db.execute(
        "select r.run_uuid from runs r join tags t on r.run_uuid = t.run_uuid "
        "where t.key = 'pipeline' and t.value = ?",
        (pipeline,),
    ).fetchone()
    return dict(db.execute("select key, value from metrics where run_uuid = ?", (run,)).fetchall())


def _latest(project, name: str) -> list[dict]:
    (version,) = (project / "data/llama3_8b").glob(f"*/{name}/*")
    return [json.loads(line) for line in (version / name).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    with rehearse(tmp_path_factory.mktemp("rehearsal")) as result:
        yield result


def test_every_command_of_the_environment_runs_unmodified(rehearsal):
    for stage, run in rehearsal.runs.items():
        assert run.returncode == 0, f"{stage}:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    assert list(rehearsal.runs) == ["from_raw_data", "sft", "dpo", "rlhf", "mt_bench", "latency"]
    models = rehearsal.project / "data/llama3_8b/06_models"
    for name in ("sft_adapter", "sft_model", "dpo_adapter", "dpo_model", "reward_model", "rlhf_model"):
        assert len(list((models / name).iterdir())) == 1, name  # one versioned output each


def test_data_stage_streams_fineweb_and_reports_without_made_up_precision(rehearsal):
    m = _metrics(sqlite3.connect(rehearsal.project / "mlflow.db"), "from_raw_data")
    assert m["data_filtering.docs_in"] == len(rehearsal.fineweb_rows)
    assert 0 < m["data_filtering.docs_kept"] < m["data_filtering.docs_in"]
    assert "data_filtering.precision" not in m  # FineWeb-2 has no noise labels
    assert m["tokenizer.ru.bytes_per_token"] > 1  # the hub tokenizer measured on what survived
    streamed = [p for p in rehearsal.hub.paths("GET") if "fineweb" in p]
    assert rehearsal.hub.ranges and streamed  # read by ranges, not downloaded whole


def test_sft_trains_the_hub_model_on_saiga_without_the_preference_prompts(rehearsal):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_lifecycle.splits import PromptHoldoutSettings

    m = _metrics(sqlite3.connect(rehearsal.project / "mlflow.db"), "sft")
    holdout = PromptHoldoutSettings(fraction=0.05, salt="preferences")
    held = [r for r in rehearsal.saiga_rows if holdout.holds_out(r)]
    kept = [r for r in rehearsal.saiga_rows if not holdout.holds_out(r)]
    assert m["sft.data.n_loaded"] == len(rehearsal.saiga_rows)
    assert m["sft.data.n_held_out_for_preferences"] == len(held) > 0
    assert m["sft.data.n_after_score_filter"] == sum(r["opus_score"] >= 8 for r in kept)
    assert m["sft.steps"] == 2
    # the preference prompts (whole conversations up to the last user turn) are prompts SFT never saw
    sft_prompts = {tuple(m["content"] for m in r["messages"][:-1]) for r in kept}
    pairs = _latest(rehearsal.project, "preference_pairs.jsonl")
    asked = {tuple(m["content"] for m in p["prompt"]) for p in pairs}
    assert pairs and not asked & sft_prompts

    (version,) = (rehearsal.project / "data/llama3_8b/06_models/sft_model").iterdir()
    tokenizer = AutoTokenizer.from_pretrained(version / "sft_model")
    assert (
        "bot" in tokenizer.chat_template and tokenizer.pad_token == tokenizer.eos_token == "<|end_of_text|>"
    )
    assert str(AutoModelForCausalLM.from_pretrained(version / "sft_model").dtype) == "torch.bfloat16"
    (adapter,) = (rehearsal.project / "data/llama3_8b/06_models/sft_adapter").iterdir()
    config = json.loads((adapter / "sft_adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == MODEL_ID and config["r"] == 16


def test_preferences_survive_every_fault_and_drop_what_cannot_be_a_pair(rehearsal):
    m = _metrics(sqlite3.connect(rehearsal.project / "mlflow.db"), "dpo")
    assert m["preferences.dropped_prompt_too_long"] == 1 and m["preferences.dropped_chosen_cut_off"] == 1
    dropped = sum(v for k, v in m.items() if k.startswith("preferences.dropped_"))
    assert m["preferences.kept"] + dropped == m["preferences.prompts"] > 0
    assert m["preferences.teacher.timeouts"] == 1 and m["preferences.teacher.retries"] == 4
    assert m["preferences.teacher.errors"] == 0
    # one epoch of what survived: the trainer counted the steps from the pairs (2 x 8 pairs a step)
    assert m["dpo.steps"] == math.ceil(m["dpo.n_train"] / 16) and "dpo.kl/kl_seq" in m
    pairs = _latest(rehearsal.project, "preference_pairs.jsonl")
    assert all(p["chosen"][0]["content"].startswith("Ответ учителя") for p in pairs)
    assert all(p["teacher"] == "openai:gpt-4-0613" and p["student"] == "sft" for p in pairs)


def test_rlhf_mt_bench_and_latency_produce_their_numbers(rehearsal):
    db = sqlite3.connect(rehearsal.project / "mlflow.db")
    rlhf = _metrics(db, "rlhf")
    assert rlhf["reward_model.steps"] >= 1 and rlhf["rlhf.steps"] >= 1 and "reward_model.val/accuracy" in rlhf
    bench = _metrics(db, "mt_bench")
    for model in ("base", "sft", "dpo", "rlhf"):
        assert 1 <= bench[f"mt_bench/{model}/score"] <= 10
    answers = _latest(rehearsal.project, "mt_bench_answers.jsonl")
    assert collections.Counter(a["model"] for a in answers) == {
        m: 2 * len(rehearsal.questions) for m in ("base", "sft", "dpo", "rlhf")
    }
    # the judge refused one prompt as too long (models that wrote the same answer share that prompt):
    # counted as unjudged, not a failed run
    judgments = _latest(rehearsal.project, "mt_bench_judgments.jsonl")
    refused = [j for j in judgments if j["raw"].startswith("Not judged")]
    assert len({(j["question_id"], j["turn"]) for j in refused}) == 1
    assert all(j["score"] is None for j in refused)
    assert bench["mt_bench/parse_failure_rate"] == pytest.approx(len(refused) / len(judgments))
    latency = _metrics(db, "latency")
    for bs in (1, 4, 16):
        assert latency[f"latency/dpo/bs{bs}/tokens_per_s"] > 0
    assert not any(k.startswith("latency/large/") for k in latency)  # the real model, not the toy's stand-in


def test_nothing_is_asked_or_downloaded_twice_and_no_secret_leaks(rehearsal):
    openai, hub = rehearsal.openai, rehearsal.hub
    asked = collections.Counter(openai.answered)
    assert asked and max(asked.values()) == 1  # across six runs: the cache answered every repeat
    assert set(openai.auth) == {f"Bearer {API_KEY}"}
    # every file downloaded once, HF_HOME's cache served the rest (FineWeb is streamed: read by ranges)
    downloads = collections.Counter(d for d in hub.downloads if d[0] != FINEWEB_ID)
    assert {repo for repo, _ in downloads} == {MODEL_ID, SAIGA_ID}
    assert max(downloads.values()) == 1, downloads.most_common(3)
    assert all(r.auth == f"Bearer {TOKEN}" for r in hub.requests if not r.path.startswith("/lfs/"))
    assert all(b["model"] == "gpt-4-0613" for b in openai.bodies)
    assert any(b["max_tokens"] == 12 for b in openai.bodies)  # the teacher got the student's budget

    text = "".join(r.stdout + r.stderr for r in rehearsal.runs.values())
    db = sqlite3.connect(rehearsal.project / "mlflow.db")
    for table in ("params", "tags", "metrics"):
        text += "".join(str(row) for row in db.execute(f"select * from {table}"))
    for path in rehearsal.project.rglob("*"):
        if path.is_file() and path.suffix in (
            ".json",
            ".jsonl",
            ".csv",
            ".yml",
            ".yaml",
            ".txt",
            ".html",
            "",
        ):
            text += path.read_text(errors="ignore")
    assert API_KEY not in text and TOKEN not in text


def test_the_hub_cache_is_laid_out_as_huggingface_hub_lays_it_out(rehearsal):
    # What the runs downloaded loads offline by its hub id, as from any user's cache.
    code = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer;"
        f"m = AutoModelForCausalLM.from_pretrained('{MODEL_ID}');"
        f"t = AutoTokenizer.from_pretrained('{MODEL_ID}');"
        "print(m.config.model_type, t.bos_token, t.chat_template is None)"
    )
    env = rehearsal.hub.env(rehearsal.project.parent / "hf_home", HF_HUB_OFFLINE="1")
    n_before = len(rehearsal.hub.requests)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["llama", "<|begin_of_text|>", "True"]
    assert len(rehearsal.hub.requests) == n_before
    assert TIMEOUT_S < 60  # the rehearsal's timeout fault is a few seconds, not the default minutes


def test_on_a_fresh_clone_each_command_starts_and_stops_at_its_first_hub_download(tmp_path):
    # A hub that has none of the repositories (as for an account without access). With no network at
    # all the message is the same, after huggingface_hub's five retries (about 25 s per command).
    project = make_project(tmp_path / "project")
    with serve_fake_hub() as empty_hub:
        env = empty_hub.env(tmp_path / "hf_home", token="hf_user_token_0000", OPENAI_API_KEY="sk-user-0000")
        expected = {"from_raw_data": "HuggingFaceFW/fineweb-2", "sft": "IlyaGusev/saiga_scored"}
        for stage, repo in expected.items():
            run = kedro(
                ["run", "--env", "llama3_8b", "--pipelines", stage], cwd=project, env=env, timeout=300
            )
            out = " ".join((run.stdout + run.stderr).split())
            assert run.returncode != 0 and f"cannot load dataset (split 'train') '{repo}'" in out, out[-3000:]
            assert "HF_TOKEN is set" in out and "hf_user_token_0000" not in out
            assert "Unable to find credentials" not in out and "pretraining" not in out
        dpo = kedro(["run", "--env", "llama3_8b", "--pipelines", "dpo"], cwd=project, env=env, timeout=300)
        out = dpo.stdout + dpo.stderr
        assert "'sft_model': produced by pipeline 'sft'" in out and "base_model" not in out
        # MT-Bench's questions are a file the user downloads: the message says how
        bench = kedro(
            ["run", "--env", "llama3_8b", "--pipelines", "mt_bench"], cwd=project, env=env, timeout=300
        )
        out = " ".join((bench.stdout + bench.stderr).split())
        assert (
            "'mt_bench_questions': download it: mkdir -p data/llama3_8b/01_raw/mt_bench && curl -L" in out
        ), out[-2000:]
