"""Build the static Kedro-Viz site (`kedro viz build`) and screenshot the pipeline graph in headless Chromium.

    .venv/bin/python scripts/screenshot_viz.py                      # -> docs/images/pipeline_graph.png
    .venv/bin/python scripts/screenshot_viz.py --pipeline dpo --out /tmp/dpo.png

The build runs on a copy of the project's configuration in a temporary folder (the package itself is
installed), so neither `build/` nor `.viz/` appears in the checkout. The site is served on 127.0.0.1 (the
app fetches its graph from `api/...`, which `file://` would block) and every other host is unresolvable
for the browser, so nothing leaves the machine. Needs Debian's `chromium` (`apt-get install chromium`).

The helpers are shared with tests/viz/test_viz_build.py.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ENV = "CHROMIUM_BIN"  # an explicit browser binary wins over the PATH lookup

# What the README image shows: the lifecycle left to right, light theme, the graph alone. Kedro-Viz keeps
# these settings in the browser's localStorage (the "Change orientation"/theme buttons write them there).
SCREENSHOT_SETTINGS = {
    "orientation": "horizontal",
    "theme": "light",
    "showFeatureHints": False,
    "visible": {"sidebar": False, "miniMap": False},
}
# Kedro-Viz zooms the graph to the flowchart's width with no margin, which clips the right-most column by a
# few pixels; a narrower flowchart leaves the margin.
SCREENSHOT_CSS = ".pipeline-flowchart { width: calc(100% - 120px) !important; }"


def find_browser() -> str | None:
    """A headless-capable Chromium/Chrome binary, or None."""
    explicit = os.environ.get(BROWSER_ENV)
    if explicit:
        return shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def stage_project(project: Path, dest: Path) -> Path:
    """Copy what `kedro viz build` reads (pyproject, telemetry consent, conf/ but conf/local) to `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", ".telemetry"):
        if (project / name).exists():
            shutil.copy(project / name, dest / name)
    shutil.copytree(project / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    (dest / "src").mkdir()  # kedro checks that source_dir exists; the package itself is installed
    return dest


def build_site(project_dir: Path, timeout: int = 300) -> Path:
    """Run `kedro viz build` in `project_dir`; return its `build/` folder.

    The command exits 0 even when the build fails (it prints the error in red), so success is judged by
    its message and by the files it writes.
    """
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    build = project_dir / "build"
    if proc.returncode != 0 or "Success" not in proc.stdout or not (build / "api" / "main").is_file():
        raise RuntimeError(
            f"kedro viz build failed (rc={proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return build


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on a free port of 127.0.0.1 in a thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_browser(
    browser: str,
    url: str,
    action: list[str],
    profile: Path,
    *,
    window: tuple[int, int] = (1600, 1000),
    budget_ms: int = 15000,
    timeout: int = 120,
) -> subprocess.CompletedProcess:
    """Load `url` in headless Chromium, let the app run for `budget_ms` of virtual time, then `action`
    (`--dump-dom` or `--screenshot=...`). A fresh `profile` keeps localStorage from earlier runs out."""
    cmd = [
        browser,
        "--headless=new",
        "--no-sandbox",  # root in containers/CI
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        # Hermetic: only the local server resolves (the page links Google Fonts; Inter falls back).
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--virtual-time-budget={budget_ms}",
        f"--window-size={window[0]},{window[1]}",
        *action,
        url,
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=timeout, stdin=subprocess.DEVNULL
    )


@dataclass
class RenderedGraph:
    """What the app drew: the flowchart's SVG nodes and the pipeline selector, read from the live DOM."""

    nodes: list[tuple[str, str, str]] = field(default_factory=list)  # (type, full name, label text)
    edges: int = 0
    pipelines: list[str] = field(default_factory=list)  # options of the pipeline selector
    selected_pipeline: str = ""

    def labels(self, node_type: str | None = None) -> list[str]:
        return [label for kind, _, label in self.nodes if node_type in (None, kind)]


class _GraphParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.graph = RenderedGraph()
        self._node: tuple[str, str] | None = None
        self._label: list[str] | None = None
        self._in_selector = False
        self._selected: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "g" and "pipeline-node" in classes and a.get("data-node-fullname"):
            self._node = (a.get("data-node-type") or "", a["data-node-fullname"])
        elif tag == "text" and "pipeline-node__text" in classes and self._node:
            self._label = []
        elif tag == "g" and "pipeline-edge" in classes:
            self.graph.edges += 1
        elif a.get("data-test") == "kedro-pipeline-selector":
            self._in_selector = True
        elif self._in_selector and "dropdown__label" in classes:
            self._selected = []
        elif self._in_selector and "menu-option__content" in classes and a.get("title"):
            self.graph.pipelines.append(a["title"])

    def handle_endtag(self, tag):
        if tag == "text" and self._label is not None and self._node:
            self.graph.nodes.append((*self._node, "".join(self._label).strip()))
            self._label, self._node = None, None
        elif tag == "button" and self._selected is not None:
            self.graph.selected_pipeline = "".join(self._selected).strip()
            self._selected = None
        elif tag == "section" and self._in_selector:
            self._in_selector = False

    def handle_data(self, data):
        if self._label is not None:
            self._label.append(data)
        if self._selected is not None:
            self._selected.append(data)


def parse_rendered_graph(dom: str) -> RenderedGraph:
    parser = _GraphParser()
    parser.feed(dom)
    parser.close()
    return parser.graph


def write_settings_page(
    build: Path, settings: dict, css: str = SCREENSHOT_CSS, name: str = "screenshot.html"
) -> str:
    """A copy of the site's index.html that first stores `settings` in Kedro-Viz's localStorage key
    (where its own settings buttons keep them) and adds `css`; returns the page's name."""
    html = (build / "index.html").read_text(encoding="utf-8")
    preset = (
        f"<style>{css}</style>\n"
        f"<script>localStorage.setItem('KedroViz', {json.dumps(json.dumps(settings))});</script>\n"
    )
    marker = '<script type="module"'
    if marker not in html:
        raise RuntimeError("unexpected Kedro-Viz index.html: no module script to precede")
    (build / name).write_text(html.replace(marker, preset + marker, 1), encoding="utf-8")
    return name


def screenshot(
    project: Path,
    out: Path,
    *,
    pipeline: str = "__default__",
    types: str | None = None,
    window: tuple[int, int] = (3200, 600),
    settings: dict | None = None,
    scale: float = 1.0,
) -> RenderedGraph:
    """Build the site for `project`, render `pipeline` and save a PNG at `out`; return what was drawn."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError(f"no Chromium found ({', '.join(BROWSERS)}): apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="viz-") as tmp:
        tmp_path = Path(tmp)
        build = build_site(stage_project(project, tmp_path / "project"))
        page = write_settings_page(build, SCREENSHOT_SETTINGS if settings is None else settings)
        with serve(build) as base:
            url = f"{base}/{page}?pid={pipeline}" + (f"&types={types}" if types else "")
            dom = run_browser(browser, url, ["--dump-dom"], tmp_path / "profile-dom", window=window)
            graph = parse_rendered_graph(dom.stdout)
            if not graph.nodes:
                raise RuntimeError(f"the graph did not render:\n{dom.stderr[-2000:]}")
            png = tmp_path / "graph.png"
            extra = [f"--force-device-scale-factor={scale}"] if scale != 1.0 else []
            shot = run_browser(
                browser, url, [*extra, f"--screenshot={png}"], tmp_path / "profile-png", window=window
            )
            if not png.is_file():
                raise RuntimeError(f"no screenshot written:\n{shot.stderr[-2000:]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, out)
    return graph


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "pipeline_graph.png")
    parser.add_argument("--pipeline", default="__default__")
    parser.add_argument("--types", default=None, help='node types to show, e.g. "task,modularPipeline"')
    parser.add_argument("--size", default="3200x600", help="browser window WIDTHxHEIGHT (CSS pixels)")
    parser.add_argument("--scale", type=float, default=1.5, help="device scale factor of the PNG")
    parser.add_argument("--orientation", choices=("horizontal", "vertical"), default="horizontal")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    settings = {**SCREENSHOT_SETTINGS, "orientation": args.orientation, "theme": args.theme}
    graph = screenshot(
        args.project,
        args.out,
        pipeline=args.pipeline,
        types=args.types,
        window=(width, height),
        settings=settings,
        scale=args.scale,
    )
    tasks = len(graph.labels("task"))
    sys.stdout.write(f"{args.out}: {args.pipeline}, {tasks} nodes, {len(graph.nodes) - tasks} datasets\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
