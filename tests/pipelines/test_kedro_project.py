"""The Kedro project as a user meets it: registry, config merging, and a whole run on a tiny world."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys

import mlflow
import pytest

from tests.kedro_project import ROOT, TINY_DATA, cold_kedro, config_loader, kedro


def test_registry_lists_the_stage_pipelines():
    from kedro.framework.project import configure_project

    from llm_lifecycle.pipeline_registry import register_pipelines

    configure_project("llm_lifecycle")
    pipelines = register_pipelines()
    for name in ("toy_world", "data_filtering", "tokenizer", "__default__"):
        assert name in pipelines
    default_nodes = {n.name for n in pipelines["__default__"].nodes}
    assert {"toy_world.make_documents", "tokenizer.train_tokenizer"} <= default_nodes  # namespace.node


def test_pipeline_modules_do_not_import_torch():
    # The registry (kedro viz, kedro registry list) must stay fast: no heavy import at definition time.
    code = (
        "import sys; from kedro.framework.project import configure_project;"
        "configure_project('llm_lifecycle');"
        "from llm_lifecycle.pipeline_registry import register_pipelines; register_pipelines();"
        "heavy = ('torch', 'transformers', 'trl', 'peft', 'openai');"
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("env", "folder"), [(None, "data/toy"), ("tiny", "data/tiny"), ("llama3_8b", "data/llama3_8b")]
)
def test_each_environment_reads_and_writes_its_own_data_folder(project, env, folder):
    from kedro.config import MissingConfigException

    loader = config_loader(env, project / "conf")
    with contextlib.suppress(MissingConfigException):  # none in the toy world; Kedro allows that too
        loader["credentials"]  # a Kedro session reads them; for llama3_8b that also reads conf/local
    assert loader["catalog"]["sft_model"]["filepath"] == f"{folder}/06_models/sft_model"


def test_environment_overrides_one_key_and_keeps_its_siblings(project):
    loader = config_loader("tiny", project / "conf", runtime_params={"tokenizer": {"min_frequency": 3}})
    params = loader["parameters"]
    assert params["tokenizer"]["vocab_size"] == 600  # from the tiny env
    assert params["tokenizer"]["min_frequency"] == 3  # from --params
    assert params["tokenizer"]["eos_token"] == "</s>"  # sibling kept from base (soft merge)
    assert params["toy_world"]["world"]["n_people"] == 12


@pytest.mark.slow
def test_default_run_on_a_tiny_world_logs_one_mlflow_run_and_versions_outputs(tiny_run):
    project = tiny_run  # after a whole `kedro run --env tiny` (the session's shared run, copied)
    rejudge = kedro(["run", "--env", "tiny", "--pipelines", "mt_bench_judging"], cwd=project)
    assert rejudge.returncode == 0, rejudge.stdout[-3000:] + rejudge.stderr[-3000:]
    outputs = project / TINY_DATA / "07_model_output"
    assert len(list((outputs / "mt_bench_answers.jsonl").iterdir())) == 1  # answers reused, not regenerated
    assert len(list((outputs / "mt_bench_judgments.jsonl").iterdir())) == 2

    # Versioned outputs: one version per run that wrote it (judgments above), nothing overwritten.
    tok_versions = sorted(p.name for p in (project / TINY_DATA / "06_models/tokenizer").iterdir())
    assert len(tok_versions) == 1
    kept = next((project / TINY_DATA / "02_intermediate/filtered_documents.jsonl").iterdir())
    assert (kept / "filtered_documents.jsonl").stat().st_size > 0
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        str(project / TINY_DATA / "06_models/tokenizer" / tok_versions[-1] / "tokenizer")
    )
    assert tok.decode(tok("Москва")["input_ids"]) == "Москва"

    # MLflow: one run per kedro run, with params, stage metrics and plot artifacts.
    db = sqlite3.connect(project / "mlflow.db")
    runs = db.execute("select run_uuid from runs order by start_time").fetchall()
    assert len(runs) == 2
    first_run = runs[0][0]
    metrics = {k: v for k, v in db.execute("select key, value from metrics where run_uuid=?", (first_run,))}
    params = {k: v for k, v in db.execute("select key, value from params where run_uuid=?", (first_run,))}
    assert 0.0 <= metrics["data_filtering.precision"] <= 1.0
    assert 0.0 <= metrics["data_filtering.recall"] <= 1.0
    assert metrics["tokenizer.ru.bytes_per_token"] > 1.0
    assert params["tokenizer.vocab_size"] == "600"
    assert metrics["pretraining.val_loss"] < metrics["pretraining.data.uniform_cross_entropy"]
    assert 0.0 <= metrics["pretraining.eval.accuracy"] <= 1.0
    assert metrics["architecture.llama3_8b.params_total"] == 8_030_261_248
    # post-training: SFT eval loss, preference hygiene counts, DPO rewards
    assert metrics["sft.steps"] == 6 and metrics["sft.eval_loss_final"] > 0
    assert metrics["sft.data.n_train"] + metrics["sft.data.n_val"] == metrics["sft.data.n_kept"]
    assert metrics["preferences.prompts"] == 8
    dropped = sum(v for k, v in metrics.items() if k.startswith("preferences.dropped_"))
    assert metrics["preferences.kept"] + dropped == 8 and metrics["preferences.kept"] >= 4
    assert metrics["dpo.steps"] == 4
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
        assert f"dpo.train/{key}_last" in metrics and f"dpo.eval/{key}_last" in metrics
    history = db.execute(
        "select count(*) from metrics where run_uuid=? and key='dpo.train/rewards/margins'", (first_run,)
    ).fetchone()[0]
    assert history == 4  # one point per logged step, not only the last
    # RLHF: reward model scored on the held-out pairs, RLOO logs reward/KL/entropy/length at every step
    assert 0.0 <= metrics["reward_model.val/accuracy"] <= 1.0
    assert 0.0 <= metrics["reward_model.val_off_topic/accuracy"] <= 1.0  # does the score read the prompt?
    assert metrics["reward_model.n_off_topic_train"] >= 1  # the default share adds off-topic pairs
    assert metrics["reward_model.steps"] == 4
    for key in ("reward", "kl", "entropy", "completions/mean_length", "ptx_nll"):  # ptx_nll: PPO-ptx term
        n_points = db.execute(
            "select count(*) from metrics where run_uuid=? and key=?", (first_run, f"rlhf.train/{key}")
        ).fetchone()[0]
        assert n_points == 3, key
    assert metrics["rlhf.kl_first"] == 0.0  # the first samples come from the reference (SFT) policy
    assert metrics["rlhf.wall_s"] > 0 and metrics["rlhf.tokens_seen"] > 0
    for name in ("sft_adapter", "sft_model", "dpo_adapter", "dpo_model", "reward_model", "rlhf_model"):
        assert len(list((project / TINY_DATA / "06_models" / name).iterdir())) == 1
    # MT-Bench: every model scored (1-10), the DPO-vs-SFT win rate with its interval
    for model in ("base", "sft", "dpo", "rlhf"):
        assert 1.0 <= metrics[f"mt_bench/{model}/score"] <= 10.0
        assert f"mt_bench/{model}/turn2" in metrics
    assert metrics["mt_bench/parse_failure_rate"] == 0.0
    # the validation questions, where settings are chosen: the same numbers under validation/
    for model in ("base", "sft", "dpo", "rlhf"):
        assert 1.0 <= metrics[f"validation/mt_bench/{model}/score"] <= 10.0
    assert 0.0 <= metrics["validation/winrate/dpo_vs_sft/adjusted_win_rate"] <= 1.0
    low, rate, high = (metrics[f"winrate/dpo_vs_sft/{k}"] for k in ("ci_low", "adjusted_win_rate", "ci_high"))
    assert 0.0 <= low <= rate <= high <= 1.0
    for pair in ("rlhf_vs_sft", "rlhf_vs_dpo"):
        assert 0.0 <= metrics[f"winrate/{pair}/ci_low"] <= metrics[f"winrate/{pair}/ci_high"] <= 1.0
    assert metrics["winrate/dpo_vs_sft/position_inconsistency"] == 0.0  # the verifier has no position bias
    # latency: both models at both batch sizes, with a roofline regime and efficiency each; KV formula exact
    for model in ("dpo", "large"):
        for bs in (1, 4):
            assert metrics[f"latency/{model}/bs{bs}/tokens_per_s"] > 0
            assert metrics[f"latency/{model}/bs{bs}/measured_over_predicted"] > 0
            assert 0 <= metrics[f"latency/{model}/bs{bs}/overhead_share"] < 1
            assert metrics[f"latency/{model}/bs{bs}/intensity_over_ridge"] > 0
    assert metrics["ceiling.gflops"] > 0 and metrics["ceiling.bandwidth_gbs"] > 0
    kv = next((project / TINY_DATA / "08_reporting/kv_cache_check.csv").iterdir()) / "kv_cache_check.csv"
    assert set(kv.read_text().splitlines()[1:]) and all(
        line.endswith(",True") for line in kv.read_text().splitlines()[1:]
    )
    rejudged = {k: v for k, v in db.execute("select key, value from metrics where run_uuid=?", (runs[1][0],))}
    assert rejudged["mt_bench/sft/score"] == metrics["mt_bench/sft/score"]  # same answers, same judge
    # The experiment opens on the runs table in MLflow 3's UI (a model-training experiment), asked through
    # MLflow's own API
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("llm_lifecycle")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # Tags: every run says which pipeline, env and scale it was (filterable in the UI and search_runs)
    tags = dict(db.execute("select key, value from tags where run_uuid=?", (runs[1][0],)).fetchall())
    assert (tags["pipeline"], tags["env"], tags["scale"]) == ("mt_bench_judging", "tiny", "toy")
    assert tags["partial"] == "false"  # the whole named pipeline; `--nodes` and the like say "true"
    assert "git_commit" in tags and "git_dirty" in tags
    # Report card: one HTML page per default run with every stage's numbers, logged to MLflow
    (report,) = list((project / TINY_DATA / "08_reporting/report_card.html").iterdir())
    page = (report / "report_card.html").read_text()
    for heading in ("Data filtering", "Pretraining", "RLHF", "MT-Bench", "roofline regime"):
        assert heading in page, heading
    assert "not in this run" not in page and page.count("data:image/png;base64,") >= 6
    assert 'title="reward_model.val/accuracy">' in page
    # the run itself: seconds per node (MLflow time/<node>) and the lineage of what it stands on
    assert (
        "6. The run: time per node, speed targets and lineage" in page
        and "SFT useful tokens/s" in page
        and "pretraining.pretrain_base_model" in page
    )
    assert "<td>sft_model</td>" in page
    times = db.execute(
        "select count(*) from metrics where run_uuid=? and key like 'time/%'", (first_run,)
    ).fetchone()[0]
    assert times >= 30  # every node but the report itself
    # Comparing runs from the command line: the two runs that judged MT-Bench, side by side
    compare = kedro(["compare-runs", "--env", "tiny", "-m", "mt_bench/sft/score"], cwd=project)
    assert compare.returncode == 0, compare.stdout[-3000:] + compare.stderr[-3000:]
    (table,) = (project / TINY_DATA / "08_reporting/run_comparison").glob("*/runs.csv")
    assert len(table.read_text().strip().splitlines()) == 3  # header + the default and the rejudging run
    assert (table.parent / "runs.png").stat().st_size > 0
    # The multi-seed table from the runs already in MLflow (--no-run: nothing is trained here)
    by_seed = kedro(["seeds", "--env", "tiny", "--seeds", "42", "--no-run"], cwd=project)
    assert by_seed.returncode == 0, by_seed.stdout[-3000:] + by_seed.stderr[-3000:]
    (seeds_csv,) = (project / TINY_DATA / "08_reporting/seeds").glob("*/seeds.csv")
    assert [line.split(",")[0] for line in seeds_csv.read_text().splitlines()[1:]] == ["42", "pooled"]
    assert "| **pooled** |" in by_seed.stdout and (seeds_csv.parent / "seeds.png").stat().st_size > 0
    model_dir = next((project / TINY_DATA / "06_models/base_model").iterdir()) / "base_model"
    assert (model_dir / "model.safetensors").exists() and (model_dir / "tokenizer.json").exists()
    artifacts = [p.name for p in (project / "mlruns").rglob("*") if p.is_file()]
    assert {
        "filter_funnel.png",
        "tokenizer_stats.csv",
        "pretraining_loss.png",
        "architecture_report.csv",
        "mt_bench_categories.png",
        "mt_bench_winrates.png",
        "mt_bench_judgments.jsonl",
        "roofline.png",
        "latency_vs_batch.png",
        "roofline.csv",
        "reward_margins.png",
        "reward_model_pairs.csv",
        "report_card.html",
    } <= set(artifacts)


@pytest.mark.slow
def test_the_default_run_logs_no_python_warning(tiny_run_template):
    # Warnings meant for Kedro, kedro-mlflow, PEFT and TRL are filtered in settings.py; a warning left
    # in the log of a whole run is one the project can act on. The project's own warnings (logged by its
    # modules, e.g. dropped preference pairs) are not Python warnings and stay. (The run forks from the
    # tests' warm server: what a library warns at import shows in a new process, the next test.)
    log = (tiny_run_template.parent / "run.log").read_text(encoding="utf-8")
    assert "Kedro project llm_lifecycle" in log  # the console log was captured
    assert "warnings.py" not in log, log[log.index("warnings.py") - 200 :][:2000]


@pytest.mark.slow
def test_a_new_kedro_process_logs_no_deprecation(project):
    # What a library warns once, at import, shows in a new process only (the tests' `kedro` commands fork
    # from a server that has imported it): a session's command, run as a user runs it. MLflow's request
    # for type hints in kedro-mlflow's model class stays (llm_lifecycle.foreign_warnings says why).
    new = cold_kedro(["catalog", "describe-datasets", "--env", "tiny"], project, 120)
    out = new.stdout + new.stderr
    assert new.returncode == 0 and "filtered_documents" in out, out[-3000:]
    assert "deprecated" not in out, out[out.index("deprecated") - 600 :][:2000]


@pytest.mark.slow
def test_dpo_on_a_fresh_project_names_the_missing_sft_model(project):
    result = kedro(["run", "--env", "tiny", "--pipelines", "dpo"], cwd=project, timeout=120)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "'sft_model': produced by pipeline 'sft'" in out
    assert "'preference_prompts': produced by pipeline 'toy_world'" in out
    assert not (project / TINY_DATA / "06_models").exists() or not any(
        (project / TINY_DATA / "06_models").rglob("*.safetensors")
    )


@pytest.mark.slow
def test_a_stage_whose_inputs_do_not_exist_stops_before_any_work(project):
    result = kedro(["run", "--env", "tiny", "--pipelines", "pretraining"], cwd=project, timeout=120)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "'tokenizer': produced by pipeline 'tokenizer'" in out
    assert "'filtered_documents': produced by pipeline 'data_filtering'" in out
    assert not (project / TINY_DATA / "08_reporting").exists() or not any(
        (project / TINY_DATA / "08_reporting").iterdir()
    )
