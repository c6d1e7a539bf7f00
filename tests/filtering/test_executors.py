"""datatrove's LocalPipelineExecutor (2 processes) runs the same blocks and decides exactly as in-process."""

from __future__ import annotations

import pytest

from llm_lifecycle.filtering.chain import run_filters
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world


@pytest.mark.slow  # ~10 s: two worker processes each import datatrove, spaCy and lingua
def test_datatrove_local_matches_in_process(tmp_path):
    docs, _ = generate_documents(
        make_world(7, n_cities=4, n_people=12), DocumentsSettings(n_clean=60), seed=7
    )
    docs.append({"id": "empty", "text": "", "url": "", "lang": "en"})  # the JSONL reader would drop it
    local = run_filters(docs, FilteringSettings(progress=False))
    cfg = FilteringSettings(progress=False, executor="datatrove_local", workers=2, work_dir=str(tmp_path))
    sharded = run_filters(docs, cfg)
    assert [d["id"] for d in sharded.kept] == [d["id"] for d in local.kept]
    assert sharded.kept == local.kept  # same text (C4 edits included) and detected language
    assert [(d["id"], d["rule"], d["reason"]) for d in sharded.rejected] == [
        (d["id"], d["rule"], d["reason"]) for d in local.rejected
    ]
    assert sharded.funnel.equals(local.funnel)
    assert {d["rule"] for d in local.rejected} >= {"language_id", "exact_dedup", "near_dedup"}
    # rejects came back through each block's exclusion writer, one folder per rule
    assert (tmp_path / "rejected" / "language_id").is_dir() and (tmp_path / "logs").is_dir()
