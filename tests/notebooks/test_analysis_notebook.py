"""notebooks/analysis.ipynb run as a user runs it: through the Kedro extension, in a copy of the project."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.kedro_project import make_project

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"
KERNEL = "llm-lifecycle-test"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x1b]*\x1b\\")  # colours and hyperlinks (rich)
CORE = (
    "filter_funnel",
    "tokenizer_stats",
    "pretraining_log",
    "mt_bench_scores",
    "mt_bench_winrates",
    "latency_results",
    "roofline_table",
    "hardware_ceilings",
)


@pytest.fixture
def project(tmp_path) -> Path:
    """The project's configuration with a `tiny` env (`tests.kedro_project`) and the notebook."""
    path = make_project(tmp_path / "project")
    (path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, path / "notebooks" / NOTEBOOK.name)
    return path


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernelspec running this interpreter (the venv's), whatever other `python3` kernels are installed."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec_json = {"argv": argv, "display_name": KERNEL, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(spec_json))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
    for name in ("LLM_LIFECYCLE_PROJECT", "KEDRO_ENV", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _execute(project: Path) -> nbformat.NotebookNode:
    path = project / "notebooks" / NOTEBOOK.name
    nb = nbformat.read(path, as_version=4)
    # Raises CellExecutionError, with the cell and its traceback, on the first failing cell.
    resources = {"metadata": {"path": str(path.parent)}}  # the kernel's working directory
    NotebookClient(nb, timeout=300, kernel_name=KERNEL, resources=resources).execute()
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    return nb


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _text(nb: nbformat.NotebookNode, cell_id: str) -> str:
    parts = []
    for out in _cell(nb, cell_id).outputs:
        parts.append(out.text if out.output_type == "stream" else out.get("data", {}).get("text/plain", ""))
    return ANSI.sub("", "\n".join(parts))


def _figures(nb: nbformat.NotebookNode, cell_id: str) -> int:
    return sum("image/png" in out.get("data", {}) for out in _cell(nb, cell_id).outputs)


def test_committed_notebook_has_no_outputs_and_loads_the_project_throughkedro():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the notebook's outputs"
    assert "%load_ext kedro.ipython" in code[0].source
    assert {"setup", "mt-bench", "mlflow-runs", "missing"} <= {c.get("id") for c in nb.cells}


@pytest.mark.slow
def test_notebook_on_a_project_without_any_run_says_what_is_missing(project, kernel_env):
    # No LLM_LIFECYCLE_PROJECT: the project is found from the notebook's folder; no KEDRO_ENV: base + local.
    nb = _execute(project)
    assert f"Kedro project {project.resolve()}, environment: base + local" in _text(nb, "setup")
    assert re.search(r"\b0 of \d+ versioned entries have a saved version", _text(nb, "catalog"))
    assert (
        "filter_funnel: no saved version yet, written by pipeline data_filtering: "
        "`kedro run --pipelines data_filtering`" in _text(nb, "filtering")
    )
    assert "0 MLflow runs" in _text(nb, "mlflow-runs")
    missing = _text(nb, "missing")
    assert all(name in missing for name in CORE)
    assert sum(_figures(nb, c.id) for c in nb.cells if c.cell_type == "code") == 0
    # mlflow.yml's relative sqlite path resolved against the project root, not the notebook's folder
    assert (project / "mlflow.db").exists() and not (project / "notebooks" / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_notebook_on_a_tiny_run_shows_the_tables_plots_and_mlflow_runs(tiny_run, kernel_env):
    project = tiny_run  # after a whole `kedro run --env tiny` (the session's shared run, copied)
    kernel_env.setenv("LLM_LIFECYCLE_PROJECT", str(project))
    kernel_env.setenv("KEDRO_ENV", "tiny")

    nb = _execute(project)

    assert f"Kedro project {project.resolve()}, environment: tiny" in _text(nb, "setup")
    plots = ("filtering", "pretraining", "mt-bench", "winrates", "latency", "roofline", "mlflow-history")
    for cell_id in plots:
        assert _figures(nb, cell_id) >= 1, cell_id
    scores = _text(nb, "mt-bench")
    for model in ("base", "sft", "dpo"):
        assert re.search(rf"^{model}\s+\d+\.\d+", scores, re.MULTILINE), scores
    assert "dpo_vs_sft" in _text(nb, "winrates")
    runs = _text(nb, "mlflow-runs")
    n_runs = int(re.search(r"(\d+) MLflow runs in experiment 'llm_lifecycle'", runs).group(1))
    assert n_runs >= 1
    assert "__default__" in runs and "mt_bench/dpo/score" in runs and "pretraining.val_loss" in runs
    missing = _text(nb, "missing")
    assert not [name for name in CORE if re.search(rf"^{name}\s", missing, re.MULTILINE)], missing
    assert not (project / "notebooks" / "mlflow.db").exists()
