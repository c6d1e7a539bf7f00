"""Every name `kedro registry list` prints is a pipeline a user can describe and run by that name."""

from __future__ import annotations

import pytest
import yaml

from tests.kedro_project import ROOT, kedro


@pytest.fixture(scope="module")
def registered_names() -> list[str]:
    listed = kedro(["registry", "list"], cwd=ROOT, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = yaml.safe_load(listed.stdout[listed.stdout.index("- ") :])
    assert {"__default__", "from_raw_data", "mt_bench_judging", "dpo"} <= set(names)
    return names


@pytest.mark.slow
def test_every_listed_name_resolves_the_way_kedro_run_and_describe_resolve_it(registered_names):
    # `kedro run --pipelines X` and `kedro registry describe X` ask the registry for X alone (Kedro
    # then imports only `llm_lifecycle.pipelines.X`); a name that exists only in the full registry fails.
    from kedro.framework.project import configure_project, pipelines

    configure_project("llm_lifecycle")
    try:
        for name in registered_names:
            pipelines.set_requested([name])
            pipeline = pipelines.get(name)
            assert pipeline is not None and pipeline.nodes, name
    finally:
        pipelines.set_requested(None)


@pytest.mark.slow
def test_from_raw_data_describes_and_runs_by_name(project):
    described = kedro(["registry", "describe", "from_raw_data"], cwd=project, timeout=120)
    assert described.returncode == 0, described.stderr[-2000:]
    nodes = yaml.safe_load(described.stdout[described.stdout.index("Nodes:") :])["Nodes"]
    assert [n.split()[0] for n in nodes] == [
        "data_filtering.filter_documents",
        "data_filtering.evaluate_filter",
        "tokenizer.report_tokenizer",
    ]
    # On a fresh project the run starts and stops at its missing inputs, not at the registry.
    run = kedro(["run", "--env", "tiny", "--pipelines", "from_raw_data"], cwd=project, timeout=120)
    out = run.stdout + run.stderr
    assert run.returncode != 0 and "ImportError" not in out
    assert "'raw_documents': produced by pipeline 'toy_world'" in out


def test_every_node_logs_under_its_own_function_name_and_pickles():
    # Kedro logs a node as `<function name>(inputs) -> outputs` and warns for a nameless callable (a
    # `functools.partial`): the default run's log and kedro-viz name each node's function. Kedro's
    # ParallelRunner ships a node's function to its worker processes by pickling it.
    import pickle
    import warnings

    from kedro.framework.project import configure_project, pipelines

    configure_project("llm_lifecycle")
    nodes = pipelines["__default__"].nodes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logged = {node.name: str(node) for node in nodes}
    for node in nodes:
        assert pickle.loads(pickle.dumps(node.func)) is node.func, node.name
    assert "answer_as_dpo_model([mt_bench_questions;dpo_model;" in logged["mt_bench.answer_as_dpo_model"]
    assert (
        "answer_as_sft_model([mt_bench_validation_questions;"
        in logged["mt_bench_validation.answer_as_sft_model"]
    )
