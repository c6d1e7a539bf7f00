"""MLflow run tags: the commit and the dirty flag come from git; outside a repository they say unknown."""

from __future__ import annotations

import subprocess

from llm_lifecycle.hooks import run_tags


def _git(cwd, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_run_tags_name_pipeline_env_commit_and_dirtiness(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("one")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    head = _git(tmp_path, "rev-parse", "HEAD")
    params = {"project_path": str(tmp_path), "env": "tiny", "pipeline_names": ["sft", "dpo"]}
    assert run_tags(params, "toy") == {
        "pipeline": "sft,dpo",
        "partial": "false",
        "env": "tiny",
        "git_commit": head,
        "git_dirty": "false",
        "scale": "toy",
    }
    (tmp_path / "a.txt").write_text("two")  # a tracked file changed: the run is not reproducible from HEAD
    assert run_tags(params, "toy")["git_dirty"] == "true"


def test_run_tags_outside_a_repository(tmp_path):
    tags = run_tags({"project_path": str(tmp_path)}, "real")
    assert tags == {
        "pipeline": "__default__",
        "partial": "false",
        "env": "local",
        "git_commit": "unknown",
        "git_dirty": "unknown",
        "scale": "real",
    }


def test_a_filtered_run_is_tagged_partial(tmp_path):
    """`kedro run --nodes X` runs the default pipeline's X only: the tag says so, whichever filter it was;
    an empty filter (Kedro passes `[]` or None for options not given) is the whole pipeline."""
    whole = {
        "project_path": str(tmp_path),
        "node_names": [],
        "from_nodes": [],
        "tags": [],
        "to_outputs": None,
    }
    assert run_tags(whole, "toy")["partial"] == "false"
    for key, value in [
        ("node_names", ["pretraining.pretrain_base_model"]),
        ("from_nodes", ["sft.train_sft_model"]),
        ("to_nodes", ["dpo.train_dpo_model"]),
        ("from_inputs", ["sft_model"]),
        ("to_outputs", ["dpo_metrics"]),
        ("tags", ["training"]),
        ("namespaces", ["mt_bench"]),
    ]:
        tags = run_tags({**whole, key: value}, "toy")
        assert (tags["pipeline"], tags["partial"]) == ("__default__", "true"), key
