"""`kedro viz build` of the project, opened in a real headless Chromium: the graph renders with our names.

The static site is a React app that fetches its graph from `api/...`; it is served on 127.0.0.1 and
Chromium's `--dump-dom` returns the document after the app ran. Names are read from the SVG node labels
the app drew (`g.pipeline-node > text.pipeline-node__text`), not from the JSON the site ships.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

STAGE_NODES = {"train_tokenizer", "train_sft_model", "train_dpo_model", "collect_mt_bench_answers"}
STAGE_DATASETS = {
    "filtered_documents",
    "tokenizer",
    "base_model",
    "sft_model",
    "dpo_model",
    "mt_bench_answers",
}


def _short(name: str) -> str:
    """A node's name without its namespace (kedro-viz labels namespaced nodes by their last part)."""
    return name.rsplit(".", 1)[-1]


@pytest.fixture(scope="module")
def registry():
    from kedro.framework.project import configure_project

    from llm_lifecycle.pipeline_registry import register_pipelines

    configure_project("llm_lifecycle")
    return register_pipelines()


@pytest.fixture(scope="module")
def site(viz, tmp_path_factory):
    """The built static site of a copy of the project's configuration (the package is installed)."""
    project = viz.stage_project(ROOT, tmp_path_factory.mktemp("viz") / "project")
    return viz.build_site(project)


@pytest.fixture(scope="module")
def server(viz, site):
    with viz.serve(site) as base:
        yield base


@pytest.fixture
def render(viz, chromium, server, tmp_path):
    """Load a page of the site in headless Chromium and parse what the app drew; one slower retry."""

    def _render(path: str):
        for attempt, budget in enumerate((15000, 45000)):
            done = viz.run_browser(
                chromium, server + path, ["--dump-dom"], tmp_path / f"profile-{attempt}", budget_ms=budget
            )
            graph = viz.parse_rendered_graph(done.stdout)
            if graph.nodes:
                return done.stdout, graph
        pytest.fail(f"Chromium rendered no graph for {path} (rc={done.returncode}):\n{done.stderr[-2000:]}")

    return _render


def _data_nodes(pipeline) -> set[str]:
    """Datasets kedro-viz draws by default (parameters are hidden; transcoded names shown once)."""
    names = {d.split("@")[0] for d in pipeline.datasets()}
    return {_short(d) for d in names if d != "parameters" and not d.startswith("params:")}


def test_the_build_holds_every_registered_pipeline(site, registry):
    main = json.loads((site / "api" / "main").read_text())
    assert {p["id"] for p in main["pipelines"]} == set(registry)
    for name, pipeline in registry.items():
        built = json.loads((site / "api" / "pipelines" / name).read_text())
        tasks = {_short(n["name"]) for n in built["nodes"] if n["type"] == "task"}
        assert tasks == {_short(n.name) for n in pipeline.nodes}, name
    # The names reach the page only through the app: the shipped HTML is an empty shell.
    shell = (site / "index.html").read_text()
    assert '<div id="root"></div>' in shell and "train_tokenizer" not in shell


def test_default_graph_renders_every_node_and_dataset_by_name(render, registry):
    dom, graph = render("/?expandAllPipelines=true")
    assert dom.lstrip()[:15].lower() == "<!doctype html>"  # the live document, not a JSON response
    default = registry["__default__"]
    tasks = {_short(full) for kind, full, _ in graph.nodes if kind == "task"}
    assert tasks == {_short(n.name) for n in default.nodes}
    assert STAGE_NODES <= set(graph.labels("task"))  # the visible label text, not only an attribute
    data = set(graph.labels("data"))
    assert data == _data_nodes(default)
    assert STAGE_DATASETS <= data
    assert graph.edges >= len(default.nodes)
    # Every named pipeline is offered in the selector, the default one selected.
    assert set(graph.pipelines) == set(registry)
    assert graph.selected_pipeline == "__default__"


def test_selecting_a_pipeline_draws_only_its_nodes(render, registry):
    _, graph = render("/?pid=dpo&expandAllPipelines=true")
    assert graph.selected_pipeline == "dpo"
    assert set(graph.labels("task")) == {_short(n.name) for n in registry["dpo"].nodes}
    assert "train_dpo_model" in graph.labels("task") and "train_tokenizer" not in graph.labels("task")


def test_screenshot_of_the_left_to_right_graph_is_a_real_picture(viz, chromium, site, server, tmp_path):
    from PIL import Image

    page = viz.write_settings_page(site, viz.SCREENSHOT_SETTINGS)
    png = tmp_path / "graph.png"
    viz.run_browser(
        chromium, f"{server}/{page}", [f"--screenshot={png}"], tmp_path / "profile", window=(1600, 900)
    )
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1600, 900)
    with Image.open(png) as image:
        gray = image.convert("L")
        # A spinner on an empty page has a handful of grey levels; a drawn graph has text and edges.
        assert len(gray.getcolors(maxcolors=256) or range(256)) > 64
        # The graph fills the canvas right of the toolbars, not one corner of it.
        dark = gray.point(lambda v: 255 if v < 160 else 0)
        box = dark.crop((200, 0, 1600, 900)).getbbox()
        assert box is not None and box[2] - box[0] > 1000
