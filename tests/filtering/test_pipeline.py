"""The `data_filtering` Kedro pipeline: its shape, its parameters file, and its nodes on a small world."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from matplotlib.figure import Figure

from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.pipelines.data_filtering import nodes
from llm_lifecycle.pipelines.data_filtering.pipeline import create_pipeline
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world

PARAMS = Path(__file__).parents[2] / "conf" / "base" / "parameters_data_filtering.yml"


def test_pipeline_shape():
    pipe = create_pipeline()
    by_name = {n.name.removeprefix("data_filtering."): n for n in pipe.nodes}  # namespaced per stage
    assert set(by_name) == {"filter_documents", "evaluate_filter"}
    assert by_name["filter_documents"].inputs == ["raw_documents", "params:data_filtering"]
    assert by_name["filter_documents"].outputs == [
        "filtered_documents",
        "rejected_documents",
        "filter_funnel",
    ]
    assert by_name["evaluate_filter"].inputs == [
        "rejected_documents",
        "filtered_documents",
        "noise_labels",
        "filter_funnel",
    ]
    assert by_name["evaluate_filter"].outputs == ["filter_metrics", "filter_funnel_plot"]
    assert pipe.inputs() == {"raw_documents", "params:data_filtering", "noise_labels"}


def test_parameters_file_validates_and_matches_the_defaults():
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["data_filtering"]
    assert FilteringSettings.model_validate(params) == FilteringSettings()


class Records(list):
    skipped = ["raw.jsonl:2: not JSON"]


def test_nodes_end_to_end_on_a_small_world():
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["data_filtering"] | {"progress": False}
    world = make_world(3, n_cities=4, n_people=12)
    docs, labels = generate_documents(world, DocumentsSettings(n_clean=60), seed=3)
    kept, rejected, funnel = nodes.filter_documents(Records(docs), params)
    assert len(kept) + len(rejected) == len(docs) and funnel["bad_records_skipped"].iloc[0] == 1
    metrics, fig = nodes.evaluate_filter(rejected, kept, labels, funnel)
    assert isinstance(fig, Figure)
    values = {k: v["value"] for k, v in metrics.items()}
    assert values["precision"] >= 0.95 and values["recall"] >= 0.95
    assert values["docs_in"] == len(docs) and values["docs_kept"] == len(kept)
    assert values["bad_records_skipped"] == 1 and 0 < values["chars_kept_share"] < 1
    assert "recall.gibberish" in values and "rejected.language_id" in values


def test_without_labels_the_funnel_is_reported_and_precision_recall_are_not():
    # A real crawl (conf/llama3_8b: FineWeb-2) has no noise labels: no made-up precision of 1.0.
    params = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["data_filtering"] | {"progress": False}
    docs, _ = generate_documents(
        make_world(3, n_cities=4, n_people=12), DocumentsSettings(n_clean=30), seed=3
    )
    kept, rejected, funnel = nodes.filter_documents(docs, params)
    metrics, fig = nodes.evaluate_filter(rejected, kept, [], funnel)
    values = {k: v["value"] for k, v in metrics.items()}
    assert isinstance(fig, Figure) and values["docs_kept"] == len(kept)
    assert not {"precision", "recall", "f1"} & set(values)


@pytest.mark.slow  # two `kedro run`s of a tiny world in subprocesses (~40 s)
def test_kedro_run_streams_with_a_datatrove_executor_chosen_by_parameter(tiny_run, tmp_path):
    import json

    from tests.kedro_project import TINY_DATA, kedro

    # The shared tiny run filtered in process (the default); the same filter again through datatrove
    args = ["run", "--env", "tiny", "--pipelines", "data_filtering", "--params"]
    args.append(f"data_filtering.executor=local,data_filtering.datatrove.work_dir={tmp_path / 'work'}")
    done = kedro(args, cwd=tiny_run)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = tiny_run / TINY_DATA

    def versions(name: str) -> list:
        return sorted((data / name).iterdir())

    in_process, streamed = versions("02_intermediate/filtered_documents.jsonl")
    assert (in_process / "filtered_documents.jsonl").is_file()  # the default: one JSONL file
    shards = sorted((streamed / "filtered_documents.jsonl").glob("*.jsonl"))  # datatrove: a folder of shards
    assert (
        len(shards) == 2
        and b"".join(p.read_bytes() for p in shards) == (in_process / "filtered_documents.jsonl").read_bytes()
    )
    metrics = [
        json.loads((v / "filter_metrics.json").read_text())["metrics"]
        for v in versions("09_tracking/filter_metrics.json")
    ]
    assert metrics[0] == metrics[1] and "data_filtering.precision" in metrics[0]
    funnels = [(v / "filter_funnel.csv").read_text() for v in versions("08_reporting/filter_funnel.csv")]
    assert funnels[0] == funnels[1]
    (run,) = (tmp_path / "work").iterdir()  # what stays of the run: datatrove's stats and logs
    assert sorted(p.name for p in run.iterdir()) == ["logs"]
