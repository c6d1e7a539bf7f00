"""Every parameters file validates against its settings classes, and a typo stops a run before any node."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from llm_lifecycle.parameters import (
    ParameterError,
    parameter_files,
    schemas,
    unvalidated_keys,
    validate_parameters,
    where_set,
)
from tests.kedro_project import ROOT, TINY_DATA, TINY_PARAMS, config_loader, kedro


@pytest.mark.parametrize(
    "env", sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name != "local")
)
def test_every_environments_parameters_validate(env):
    params = config_loader(env)["parameters"]
    assert params and unvalidated_keys(params) == []  # no block that nothing would check
    validate_parameters(params, params, parameter_files(ROOT / "conf", env), root=ROOT)


def test_the_tests_tiny_configuration_validates():
    params = {key: value for key, value in TINY_PARAMS.items()}
    for key, value in params.items():
        schemas()[key].validate_python(value)


def test_a_misspelt_key_is_named_with_its_file_and_a_runtime_one_as_params(tmp_path):
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "parameters_rlhf.yml").write_text(
        yaml.safe_dump({"rlhf": {"policy": {"train": {"lrr": 0.1, "beta": -1}}}})
    )
    files = parameter_files(conf, "local")
    params = yaml.safe_load((conf / "base" / "parameters_rlhf.yml").read_text())
    with pytest.raises(ParameterError) as info:
        validate_parameters(params, ["rlhf"], files, root=tmp_path)
    message = str(info.value)
    assert "rlhf.policy.train.lrr: Extra inputs are not permitted (conf/base/parameters_rlhf.yml)" in message
    assert "rlhf.policy.train.beta: Input should be greater than or equal to 0" in message
    runtime = {"rlhf": {"policy": {"train": {"lrr": 0.1}}}}
    assert where_set("rlhf.policy.train.lrr", files, runtime, tmp_path) == "--params"


@pytest.mark.slow
def test_a_typo_in_any_pipeline_stops_the_run_before_the_first_node(project):
    tiny = project / "conf" / "tiny" / "parameters.yml"
    params = yaml.safe_load(tiny.read_text())
    params["rlhf"]["policy"]["train"]["lrr"] = 0.001  # the last stage of the default run
    tiny.write_text(yaml.safe_dump(params, allow_unicode=True))
    run = kedro(["run", "--env", "tiny"], cwd=project, timeout=300)
    out = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    assert "rlhf.policy.train.lrr: Extra inputs are not permitted (conf/tiny/parameters.yml)" in out
    assert not (project / TINY_DATA / "01_raw").exists() or not any(
        (project / TINY_DATA / "01_raw").rglob("*.jsonl")
    )
    # checked before kedro-mlflow opens a run: no MLflow run that never ran a node (it ended FINISHED)
    with sqlite3.connect(project / "mlflow.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 0


def test_a_rule_across_keys_is_checked_at_start_up_too(tmp_path):
    # MT-Bench pairs may only name judged models: caught with the other problems, not in the last node
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base" / "parameters_mt_bench.yml").write_text(
        yaml.safe_dump({"mt_bench": {"models": ["sft", "dpo"], "pairs": [["rlhf", "sft"]]}})
    )
    params = yaml.safe_load((conf / "base" / "parameters_mt_bench.yml").read_text())
    with pytest.raises(ParameterError, match=r"mt_bench\.pairs: \('rlhf', 'sft'\) uses \['rlhf'\]"):
        validate_parameters(params, ["mt_bench"], parameter_files(conf, "base"), root=tmp_path)


def test_the_slow_modules_that_make_test_starts_first_exist():
    from tests.conftest import SLOW_MODULES

    assert SLOW_MODULES and all((ROOT / m).is_file() for m in SLOW_MODULES), SLOW_MODULES
