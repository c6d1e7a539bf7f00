"""datatrove's LocalPipelineExecutor in worker processes runs the same blocks and decides exactly as
in-process; the list-in/list-out `run_datatrove_local` (benchmarks) returns outcomes in input order."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from datatrove.data import Document

from llm_lifecycle.filtering.chain import build_blocks, run_filters
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.executors import INDEX_KEY, run_datatrove_local
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world
from tests.kedro_project import ROOT


def _world(n_clean: int) -> list[dict]:
    docs, _ = generate_documents(
        make_world(7, n_cities=4, n_people=12), DocumentsSettings(n_clean=n_clean), seed=7
    )
    docs.append({"id": "empty", "text": "", "url": "", "lang": "en"})  # datatrove's readers would drop it
    return docs


@pytest.mark.slow  # ~10 s: two worker processes each import datatrove, spaCy and lingua
def test_local_executor_in_worker_processes_matches_in_process(tmp_path):
    docs = _world(60)
    local = run_filters(docs, FilteringSettings(progress=False))
    cfg = FilteringSettings(
        progress=False, executor="local", datatrove={"tasks": 2, "workers": 2, "work_dir": str(tmp_path)}
    )
    sharded = run_filters(docs, cfg)
    assert sharded.kept == local.kept  # same documents, text (C4 edits included), language, order
    key = lambda d: (d["id"], d["rule"], d["reason"])  # noqa: E731
    assert sorted(map(key, sharded.rejected)) == sorted(map(key, local.rejected))
    assert sharded.funnel.equals(local.funnel)
    assert {d["rule"] for d in local.rejected} >= {"language_id", "exact_dedup", "near_dedup"}
    # rejects came back through each block's exclusion writer, one folder per rule; stats per task
    (run,) = tmp_path.iterdir()
    assert (run / "rejected" / "00_language_id").is_dir()
    assert len(list((run / "logs" / "quality" / "stats").iterdir())) == 2


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_forkserver_workers_start_with_the_modules_their_steps_declare(tmp_path, start_method):
    # A fresh interpreter: the forkserver is one per process and keeps the preload list it started with.
    script = f"""
        from llm_lifecycle.filtering.executors import ExecutorSettings, build_executor
        from tests.filtering.forkserver_probe import LoadedModulesProbe

        if __name__ == "__main__":
            settings = ExecutorSettings(tasks=2, workers=2, local={{"start_method": "{start_method}"}})
            build_executor([LoadedModulesProbe("{tmp_path}")], settings, "{tmp_path / "logs"}").run()
    """
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]
    assert len({r["pid"] for r in ranks}) == 2  # two worker processes, neither of them the caller
    # forkserver: imported once in the server, inherited by each fork; spawn: a bare interpreter each
    assert [r["dependency"] for r in ranks] == [start_method == "forkserver"] * 2


def test_list_variant_returns_outcomes_in_input_order():
    docs = _world(12)
    outcomes = run_datatrove_local(
        [Document(text=d["text"], id=d["id"], metadata={INDEX_KEY: i}) for i, d in enumerate(docs)],
        build_blocks(FilteringSettings(progress=False)),
        workers=1,
    )
    assert [o.index for o in outcomes] == list(range(len(docs)))
    assert outcomes[-1].rule == "language_id"  # the empty page, judged in process
