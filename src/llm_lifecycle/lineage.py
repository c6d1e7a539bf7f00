"""Provenance of every saved version, and the rule that a run never reads another seed's or environment's.

Kedro loads the *latest* version of a versioned input unless `--load-versions` pins one. When two runs
with different seeds (or two environments) write into the same folders, "latest" silently mixes them: a
`kedro run --pipelines mt_bench_judging` after a `--params seed=5` run would judge seed 5's answers and
log them as the default seed's. So:

- every versioned save appends one line to `<data_dir>/lineage.jsonl`: `{dataset, version, seed, env,
  mlflow_run_id, pipeline}` (`record`);
- before a versioned dataset is loaded, the version Kedro is about to read is looked up there; one made
  under another seed or environment than the current run's stops the run with what was found and the
  two ways out (`check`): rerun the stage that makes it, or pin the version on purpose with
  `--load-versions`, which skips the check for that dataset;
- a version with no line (made before this log existed, or copied in by hand) is read without a check.

Each environment also has its own data folder (`globals.yml`: `data_dir`), so "latest" does not cross
environments in the first place; the check is what catches a seed change, or a user-made environment
that forgot its own `data_dir`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOG_NAME = "lineage.jsonl"


@dataclass(frozen=True)
class Provenance:
    """Who wrote one version of one dataset."""

    dataset: str
    version: str
    seed: int | None
    env: str
    mlflow_run_id: str | None = None
    pipeline: str | None = None


class LineageMismatchError(RuntimeError):
    """A run was about to read a version made under another seed or environment."""


class LineageLog:
    """The append-only `lineage.jsonl` of one data folder."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / LOG_NAME
        self._index: dict[tuple[str, str], Provenance] | None = None

    def record(self, provenance: Provenance) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(provenance)) + "\n")
        if self._index is not None:
            self._index[(provenance.dataset, provenance.version)] = provenance

    def _entries(self) -> dict[tuple[str, str], Provenance]:
        """(dataset, version) -> provenance, read from the file once."""
        if self._index is None:
            self._index = {}
            if self.path.exists():
                for line in self.path.read_text(encoding="utf-8").splitlines():
                    try:
                        entry = Provenance(**json.loads(line))
                    except (ValueError, TypeError):
                        continue  # a torn line from a killed run: that version simply has no record
                    self._index[(entry.dataset, entry.version)] = entry
        return self._index

    def find(self, dataset: str, version: str) -> Provenance | None:
        return self._entries().get((dataset, version))

    def latest(self) -> dict[str, Provenance]:
        """The newest recorded version of each dataset (versions are sortable timestamps)."""
        out: dict[str, Provenance] = {}
        for entry in self._entries().values():
            if entry.dataset not in out or entry.version > out[entry.dataset].version:
                out[entry.dataset] = entry
        return out


def check(found: Provenance | None, seed: int | None, env: str) -> None:
    """Raise `LineageMismatchError` when `found` was made under another seed or environment."""
    if found is None:
        return
    problems = []
    if found.seed != seed:
        problems.append(f"seed {found.seed}, this run has seed {seed}")
    if found.env != env:
        problems.append(f"environment '{found.env}', this run is '{env}'")
    if problems:
        raise LineageMismatchError(
            f"input '{found.dataset}' version {found.version} was made under {' and '.join(problems)} "
            f"(pipeline {found.pipeline!r}, MLflow run {found.mlflow_run_id}). Rerun the pipeline that "
            f"makes it under these settings, or read that version on purpose with "
            f"`--load-versions {found.dataset}:{found.version}`."
        )


def load_version(dataset: Any) -> str | None:
    """The version a versioned Kedro dataset would load now (latest or pinned); None if unversioned."""
    if getattr(dataset, "_version", None) is None or not hasattr(dataset, "resolve_load_version"):
        return None
    try:
        return dataset.resolve_load_version()
    except Exception:  # noqa: BLE001 - nothing saved yet: the load itself will say so
        return None
