"""The streaming filter (datatrove executors, documents on disk) decides exactly as the in-process one.

End to end with `LocalPipelineExecutor` (tasks run one after the other in this process: `workers: 1`),
through the Kedro nodes and the catalog's dataset; Slurm submission emulated (sbatch replaced by a
stand-in that runs each array task here); Slurm and Ray executors built from the same step list.
"""

from __future__ import annotations

import json
import random
import re
import signal
import time

import pytest
from kedro.io.core import Version

from llm_lifecycle.datasets import DocumentShards, DocumentShardsDataset, HubDataset, ShardFolder
from llm_lifecycle.datasets.jsonl import BadRecordError
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.executors import (
    ExecutorSettings,
    IncompleteTasksError,
    SlurmOptions,
    build_executor,
    wait_for_slurm,
)
from llm_lifecycle.filtering.streaming import (
    ShardsReader,
    Unit,
    build_stages,
    input_spec,
    plan_units,
    stage_settings,
    stream_filter,
)
from llm_lifecycle.pipelines.data_filtering import nodes
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world

IN_PROCESS = {"progress": False}
LOCAL = {"progress": False, "executor": "local", "datatrove": {"tasks": 3, "workers": 1}}


def _local(work_dir, **datatrove) -> dict:
    """`LOCAL` with its run folders under `work_dir` (nothing left in the system's temporary folder)."""
    return LOCAL | {"datatrove": LOCAL["datatrove"] | datatrove | {"work_dir": str(work_dir)}}


def _write_jsonl(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small world (clean pages, every kind of noise, duplicates) plus a page with empty text."""
    docs, labels = generate_documents(
        make_world(7, n_cities=4, n_people=12), DocumentsSettings(n_clean=60), seed=7
    )
    docs.append({"id": "empty", "text": "", "url": "", "lang": "en"})
    raw = tmp_path_factory.mktemp("raw") / "documents.jsonl"
    _write_jsonl(raw, docs)
    return docs, labels, raw


@pytest.fixture(scope="module")
def reference(corpus):
    """The default run: in process, from the lazily read raw file."""
    docs, labels, raw = corpus
    kept, rejected, funnel = nodes.filter_documents(DocumentShards(raw), IN_PROCESS)
    metrics, _ = nodes.evaluate_filter(rejected, kept, labels, funnel)
    return kept, rejected, funnel, metrics


def _by_id(rows):
    return sorted(rows, key=lambda r: r["id"])


def test_local_executor_end_to_end_matches_in_process(corpus, reference, tmp_path):
    _, labels, raw = corpus
    ref_kept, ref_rejected, ref_funnel, ref_metrics = reference
    params = _local(tmp_path / "work")
    kept, rejected, funnel = nodes.filter_documents(DocumentShards(raw), params)
    assert isinstance(kept, ShardFolder) and isinstance(rejected, ShardFolder)  # no list in the node
    # through the catalog's dataset: staged folders moved into versions, then read lazily
    version = Version(None, "2026-01-01T00.00.00.000Z")
    for name, data in (("filtered", kept), ("rejected", rejected)):
        DocumentShardsDataset(str(tmp_path / f"{name}.jsonl"), version=version).save(data)
    kept = DocumentShardsDataset(str(tmp_path / "filtered.jsonl"), version=Version(None, None)).load()
    rejected = DocumentShardsDataset(str(tmp_path / "rejected.jsonl"), version=Version(None, None)).load()

    assert list(kept) == ref_kept  # same documents, texts (C4 edits), languages, in input order
    assert len(kept.paths) == 3  # one shard per input unit: the raw file was cut into 3 byte ranges
    assert _by_id(rejected) == _by_id(ref_rejected)  # same rules and reasons ("near duplicate of ...")
    assert [r["rule"] for r in rejected] == sorted(
        (r["rule"] for r in ref_rejected), key=list(funnel["rule"]).index
    )  # grouped by rule, in chain order
    assert funnel.equals(ref_funnel)
    metrics, _ = nodes.evaluate_filter(rejected, kept, labels, funnel)
    assert metrics == ref_metrics  # precision, recall, per-kind recall, per-rule counts: to the last digit
    assert {r["rule"] for r in ref_rejected} >= {"language_id", "exact_dedup", "near_dedup"}
    run = next((tmp_path / "work").iterdir())  # the funnel came from datatrove's per-task stats
    assert sorted(p.name for p in (run / "logs" / "quality" / "stats").iterdir()) == [
        "00000.json",
        "00001.json",
        "00002.json",
    ]
    assert not (run / "survivors").exists()  # the quality stage's output is gone once dedup read it


def test_datatrove_minhash_engine_dedups_on_disk_with_the_same_quality_decisions(corpus, reference, tmp_path):
    """`near_dedup.engine: datatrove`: datatrove's four MinHash stages (signatures, buckets, clusters,
    filter) replace the in-memory dedup. Quality rules decide as in process; every exact and near copy
    the project's dedup removes is removed too (one rule, near_dedup), with recall no lower."""
    _, labels, raw = corpus
    ref_kept, ref_rejected, ref_funnel, ref_metrics = reference
    params = _local(tmp_path / "work") | {"near_dedup": {"engine": "datatrove"}}
    kept, rejected, funnel = nodes.filter_documents(DocumentShards(raw), params)
    kept, rejected = list(kept), list(rejected)

    quality = [r for r in ref_rejected if r["rule"] not in {"exact_dedup", "near_dedup"}]
    assert _by_id(r for r in rejected if r["rule"] != "near_dedup") == _by_id(quality)
    dedup_ids = {r["id"] for r in ref_rejected if r["rule"] in {"exact_dedup", "near_dedup"}}
    assert dedup_ids <= {r["id"] for r in rejected if r["rule"] == "near_dedup"}
    assert list(funnel["rule"])[-1] == "near_dedup" and "exact_dedup" not in set(funnel["rule"])
    assert int(funnel["docs_remaining"].iloc[-1]) == len(kept)
    metrics, _ = nodes.evaluate_filter(rejected, kept, labels, funnel)
    assert metrics["recall"]["value"] >= ref_metrics["recall"]["value"]
    run = next((tmp_path / "work").iterdir())
    assert (run / "logs" / "minhash_buckets" / "stats").is_dir() and not (run / "minhash").exists()


def test_datatrove_dedup_engine_needs_a_datatrove_executor():
    with pytest.raises(ValueError, match="near_dedup.engine: datatrove runs as datatrove stages"):
        FilteringSettings.model_validate({"near_dedup": {"engine": "datatrove"}})


def test_bad_lines_are_skipped_and_counted_as_in_process(tmp_path):
    docs, _ = generate_documents(make_world(3, n_cities=4, n_people=12), DocumentsSettings(n_clean=12), 3)
    raw = tmp_path / "raw.jsonl"
    _write_jsonl(raw, docs[:5])
    with open(raw, "a", encoding="utf-8") as fh:
        fh.write('{"text": 7}\nnot json\n')
    _write_jsonl(tmp_path / "tail.jsonl", docs[5:])
    raw.write_text(raw.read_text(encoding="utf-8") + (tmp_path / "tail.jsonl").read_text(encoding="utf-8"))
    load_args = {"required_fields": {"text": "str"}, "on_bad_record": "skip"}
    ref = nodes.filter_documents(DocumentShards(raw, **load_args), IN_PROCESS)
    out = nodes.filter_documents(DocumentShards(raw, **load_args), _local(tmp_path / "work"))
    assert out[2]["bad_records_skipped"].iloc[0] == ref[2]["bad_records_skipped"].iloc[0] == 2
    assert out[2].equals(ref[2]) and list(out[0]) == ref[0]
    with pytest.raises(BadRecordError, match=r"raw\.jsonl:6: field 'text' must be str, got int"):
        stream_filter(DocumentShards(raw, required_fields={"text": "str"}), _local(tmp_path / "work"))


@pytest.mark.parametrize("source", ["parquet", "hub", "list"])
def test_parquet_hub_and_in_memory_inputs_stream_alike(corpus, tmp_path, source):
    docs = corpus[0][:30]
    ref = nodes.filter_documents(docs, IN_PROCESS)
    if source == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        (tmp_path / "pq").mkdir()
        pq.write_table(pa.Table.from_pylist(docs[:12]), tmp_path / "pq" / "a.parquet")
        pq.write_table(pa.Table.from_pylist(docs[12:]), tmp_path / "pq" / "b.parquet")
        data, params = DocumentShards(tmp_path / "pq"), _local(tmp_path / "work")
    elif source == "hub":  # a local copy in the hub's layout; datatrove's HuggingFaceDatasetReader reads it
        _write_jsonl(tmp_path / "hub" / "train.jsonl", docs)
        data = HubDataset(str(tmp_path / "hub"), lazy=True).load()
        params = _local(tmp_path / "work", tasks=1)  # one task: exactly the input order
    else:
        data, params = docs, _local(tmp_path / "work")  # staged once as a JSONL shard
    kept, rejected, funnel = nodes.filter_documents(data, params)
    assert list(kept) == ref[0] and _by_id(rejected) == _by_id(ref[1]) and funnel.equals(ref[2])


def test_slurm_submission_end_to_end_with_an_emulated_sbatch(corpus, reference, tmp_path, monkeypatch):
    import dill
    from datatrove.executor import slurm

    submitted = []

    def sbatch(script: str, _retriever, *args) -> str:
        submitted.append((script, args))
        if "launch_pickled_pipeline" in script:  # run every array task here, as Slurm would there
            path = re.search(r"launch_pickled_pipeline (\S+)", script).group(1)
            n_tasks = int(re.search(r"--array=0-(\d+)", script).group(1)) + 1
            for i in range(n_tasks):  # each array task is a process of its own: a fresh executor
                with open(path, "rb") as fh:
                    executor = dill.load(fh)
                monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(i))
                executor.run()
            monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
        return str(100 + len(submitted))

    monkeypatch.setattr(slurm, "launch_slurm_job", sbatch)
    monkeypatch.setattr(slurm, "expand_slurm_nodelist", lambda nodes: ["node-1"])
    monkeypatch.setenv("SLURM_NODELIST", "node-1")
    handler = signal.getsignal(signal.SIGUSR1)  # datatrove's tasks install a requeue handler
    options = {
        "partition": "cpu",
        "venv_path": "/shared/.venv/bin/activate",
        "sbatch_args": {"account": "me"},
    }
    params = {
        "progress": False,
        "executor": "slurm",
        "datatrove": {"tasks": 2, "work_dir": str(tmp_path / "shared"), "slurm": options},
    }
    try:
        kept, rejected, funnel = nodes.filter_documents(DocumentShards(corpus[2]), params)
    finally:
        signal.signal(signal.SIGUSR1, handler)
    assert list(kept) == reference[0] and funnel.equals(reference[2])
    assert _by_id(rejected) == _by_id(reference[1])
    arrays = [(s, a) for s, a in submitted if "launch_pickled_pipeline" in s]
    assert len(arrays) == 2  # quality stage (2 tasks), then dedup (1 task) after it
    (quality, _), (dedup, dedup_args) = arrays
    assert "#SBATCH --array=0-1" in quality and "#SBATCH --partition=cpu" in quality
    assert "#SBATCH --account=me" in quality and "source /shared/.venv/bin/activate" in quality
    assert "#SBATCH --array=0-0" in dedup and "--job-name=llm_lifecycle_dedup" in dedup
    assert "--dependency=afterok:101" in dedup_args  # dedup starts only if the quality array succeeded


def test_slurm_and_ray_build_the_same_step_list_as_local(corpus, tmp_path):
    cfg = FilteringSettings(progress=False)
    (quality, dedup) = build_stages(input_spec(DocumentShards(corpus[2]), tmp_path), cfg, tmp_path)
    kinds = {
        "local": {},
        "slurm": {"slurm": {"partition": "cpu", "qos": "high", "time": "01:00:00"}},
        "ray": {"ray": {"cpus_per_task": 2, "mem_per_cpu_gb": 1.5}},
    }
    built = {
        kind: build_executor(
            quality.steps,
            ExecutorSettings(kind=kind, work_dir=str(tmp_path), **extra),
            str(tmp_path / "logs"),
        )
        for kind, extra in kinds.items()
    }
    names = [type(s).__name__ + ":" + str(getattr(s, "name", "")) for s in quality.steps]
    assert names[0].startswith("ShardsReader") and names[-1].startswith("RecordWriter")
    assert "ByLanguage:gopher_quality" in names
    assert [b.name for b in dedup.steps[1:-1]] == ["exact_dedup", "near_dedup"]
    for kind, executor in built.items():
        assert (
            type(executor).__name__
            == {"local": "Local", "slurm": "Slurm", "ray": "Ray"}[kind] + "PipelineExecutor"
        )
        assert executor.pipeline is quality.steps and executor.world_size == 2
    sbatch = built["slurm"].get_sbatch_args()  # nothing is submitted before .run()
    assert (sbatch["partition"], sbatch["qos"], sbatch["time"]) == ("cpu", "high", "01:00:00")
    assert (built["ray"].cpus_per_task, built["ray"].mem_per_cpu_gb) == (2, 1.5)


def test_minhash_buckets_run_as_many_tasks_at_once_as_the_other_stages(tmp_path):
    cfg = FilteringSettings(progress=False, executor="local", near_dedup={"engine": "datatrove"})
    spec = input_spec([{"id": "a", "text": "one page"}], tmp_path)
    stages = {s.name: s for s in build_stages(spec, cfg, tmp_path)}
    buckets = stages["minhash_buckets"]
    n = buckets.tasks  # one per MinHash bucket (18 with the default near_dedup settings)
    assert n > 2

    def at_once(kind: str, **options) -> tuple[int, int]:
        extra = {"slurm": {"partition": "cpu"}, "work_dir": str(tmp_path)} if kind == "slurm" else {}
        got = stage_settings(ExecutorSettings(kind=kind, **options, **extra), buckets)
        return got.tasks, got.workers

    # one machine: `workers: -1` is one process per configured task (2 cores, 2 tasks), not one per bucket
    assert at_once("local", tasks=2, workers=-1) == (n, 2)
    assert at_once("local", tasks=2, workers=3) == (n, 3)
    assert at_once("local", tasks=64, workers=-1) == (n, n)
    # a cluster schedules them: all at once unless the user limits it
    assert at_once("slurm", tasks=2, workers=-1) == (n, -1)
    assert at_once("slurm", tasks=2, workers=4) == (n, 4)
    assert stage_settings(ExecutorSettings(tasks=2), stages["minhash_clusters"]).tasks == 1


def test_byte_ranges_cover_every_line_once_in_order(tmp_path):
    rng = random.Random(0)
    rows = [{"id": str(i), "text": "ж" * rng.randint(0, 40) + "x"} for i in range(200)]
    path = tmp_path / "docs.jsonl"
    body = "".join(
        json.dumps(r, ensure_ascii=False) + ("\n\n" if i % 17 == 0 else "\n") for i, r in enumerate(rows)
    )
    path.write_text(body, encoding="utf-8")
    for tasks in (1, 2, 3, 7):
        units = plan_units([str(path)], tasks)
        assert len(units) == tasks and units[0].start == 0 and units[-1].end in (None, path.stat().st_size)
        reader = ShardsReader([str(path)])
        ids = [d.id for rank in range(tasks) for d in reader.run(rank=rank, world_size=tasks)]
        assert sorted(ids, key=int) == [r["id"] for r in rows] and len(ids) == len(set(ids))
        per_unit = [[d.metadata["_unit"] for d in reader.run(rank=r, world_size=tasks)] for r in range(tasks)]
        assert all(len(set(u)) <= 1 for u in per_unit)  # each task reads its own unit
    assert Unit(str(path), 0, None, "000000_00000") == plan_units([str(path)], 1)[0]


def test_records_without_id_or_text_are_named_by_file_and_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    rows = [{"text": "a" * 40}, {"text": "b" * 40}, {"id": 5, "text": "c"}, {"text": "d" * 40}, {"body": "?"}]
    _write_jsonl(path, rows)
    reader = ShardsReader([str(path)])
    ids = [d.id for d in reader.run(rank=0, world_size=2)]
    with pytest.raises(ValueError, match=r"docs\.jsonl:5: no 'text' field \(fields: \['body'\]\)"):
        for doc in reader.run(rank=1, world_size=2):  # the second range counts the lines before it
            ids.append(doc.id)
    assert ids == ["docs.jsonl:1", "docs.jsonl:2", "5", "docs.jsonl:4"]


def test_a_chain_that_removes_everything_names_the_rule(tmp_path):
    docs = [{"id": f"s{i}", "text": f"Hello there, friend {i}."} for i in range(4)]
    with pytest.raises(
        ValueError, match="all 4 documents were removed; rule 'gopher_quality' removed the last 4"
    ):
        stream_filter(docs, _local(tmp_path, tasks=1))
    with pytest.raises(ValueError, match="input is empty"):
        stream_filter([], LOCAL)


def test_bad_executor_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="executor slurm needs slurm.partition"):
        FilteringSettings(executor="slurm", datatrove={"work_dir": "/shared/x"})
    with pytest.raises(ValueError, match="executor slurm needs work_dir"):
        FilteringSettings(executor="slurm", datatrove={"slurm": {"partition": "cpu"}})
    with pytest.raises(ValueError, match="'in_process', 'local', 'slurm' or 'ray'"):
        FilteringSettings(executor="kubernetes")
    with pytest.raises(
        ValueError, match=r"data_filtering.workers moved: set data_filtering.datatrove.workers"
    ):
        FilteringSettings.model_validate({"executor": "local", "workers": 4})
    with pytest.raises(ValueError, match="datatrove.slurm.partiton"):
        FilteringSettings.model_validate({"datatrove": {"slurm": {"partiton": "cpu"}}})
    with pytest.raises(ValueError, match="workers must be >= 1, or -1"):
        FilteringSettings(datatrove={"workers": 0})
    with pytest.raises(ValueError, match="runs no datatrove executor"):
        build_executor([], ExecutorSettings(kind="in_process"), "logs")
    assert FilteringSettings(executor="datatrove_local").executor == "local"  # the former name


class _FakeStage:
    def __init__(self, incomplete):
        self.incomplete, self.job_id, self.world_size = incomplete, "7", 4
        self.logging_dir = type("Dir", (), {"resolve_paths": staticmethod(lambda p: f"/shared/logs/{p}")})()

    def get_incomplete_ranks(self, skip_completed=True):
        return list(self.incomplete)


def test_waiting_for_slurm_reports_jobs_that_died_or_took_too_long():
    sleeps = []
    done = _FakeStage([])
    wait_for_slurm([done], SlurmOptions(), queued=lambda ids: pytest.fail("not asked"), sleep=sleeps.append)
    died = _FakeStage([2, 3])
    with pytest.raises(
        IncompleteTasksError, match=r"2 of 4 datatrove tasks did not complete .*/shared/logs/logs"
    ):
        wait_for_slurm([done, died], SlurmOptions(), queued=lambda ids: False, sleep=sleeps.append)
    with pytest.raises(TimeoutError, match="still running after 1e-09 h"):
        wait_for_slurm(
            [died],
            SlurmOptions(timeout_hours=1e-9, poll_seconds=5),
            queued=lambda ids: True,
            sleep=lambda s: sleeps.append(time.sleep(0.001)),
        )


@pytest.mark.slow  # Ray starts a local cluster (~10 s) and its workers import datatrove, spaCy and lingua
def test_ray_executor_end_to_end(corpus, reference, tmp_path):
    pytest.importorskip("ray")
    params = {
        "progress": False,
        "executor": "ray",
        "datatrove": {"tasks": 2, "work_dir": str(tmp_path), "ray": {"mem_per_cpu_gb": 0.25}},
    }
    kept, rejected, funnel = nodes.filter_documents(DocumentShards(corpus[2]), params)
    assert list(kept) == reference[0] and funnel.equals(reference[2])
    assert _by_id(rejected) == _by_id(reference[1])
