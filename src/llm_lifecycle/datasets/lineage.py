"""Load-only Kedro dataset: a data folder's lineage log as a table, for the report card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError

from llm_lifecycle.lineage import LineageLog

COLUMNS = ["dataset", "version", "seed", "env", "pipeline", "mlflow_run_id"]


class LineageDataset(AbstractDataset[None, pd.DataFrame]):
    """The newest recorded version of each dataset in `<data_dir>/lineage.jsonl` (`llm_lifecycle.lineage`),
    one row each, sorted by dataset. Always "exists": a fresh folder gives an empty table."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        latest = LineageLog(self._filepath.parent).latest() if self._filepath.exists() else {}
        rows = [vars(entry) for _, entry in sorted(latest.items())]
        return pd.DataFrame(rows, columns=COLUMNS)

    def save(self, data: None) -> None:
        raise DatasetError("LineageDataset is read-only: llm_lifecycle.hooks.LineageHooks writes the log")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
