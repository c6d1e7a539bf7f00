"""What the benchmark scripts share: the project's folders, its `conf/base` parameters, and the newest
stored version of a versioned catalog entry (what a finished `kedro run` wrote)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conf/base's own data folder (data/toy): the benchmarks read what the default `kedro run` wrote
DATA = ROOT / yaml.safe_load((ROOT / "conf/base/globals.yml").read_text())["data_dir"]


def load_params(overrides: list[str] = ()) -> dict[str, Any]:
    """conf/base/parameters*.yml merged, then `KEY=VALUE` overrides (dotted key, value read as YAML).
    Only `pretraining.checkpoint_dir` interpolates (`${globals:...}`), and no benchmark uses it."""
    params: dict[str, Any] = {}
    for path in sorted((ROOT / "conf/base").glob("parameters*.yml")):
        params |= yaml.safe_load(path.read_text()) or {}
    for item in overrides:
        key, _, value = item.partition("=")
        *parents, leaf = key.strip().split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return params


def latest_version(entry: Path) -> Path | None:
    """The newest version folder of a versioned catalog entry (`<entry>/<timestamp>/`), or None."""
    versions = sorted(p for p in entry.iterdir() if p.is_dir()) if entry.is_dir() else []
    return versions[-1] if versions else None


def allocator_line() -> str:
    """Give this process the allocator `kedro run` gives its nodes (`llm_lifecycle.allocator`, set by the
    project's hook) and say which it has: a benchmark measures what the pipeline runs under."""
    from llm_lifecycle.allocator import THRESHOLD, keep_freed_memory, why_not

    if keep_freed_memory():
        return f"malloc: freed blocks under {THRESHOLD >> 20} MiB stay in the process (allocator.py)"
    return f"malloc: as the environment has it ({why_not()}; bench_allocator.py compares)"
