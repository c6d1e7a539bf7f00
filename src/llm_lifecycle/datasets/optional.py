"""A read-only view of another dataset that loads None while it does not exist yet.

For a page that shows a result when there is one: the report card shows the newest plan
(`kedro run --pipelines plan`, not part of the default run) and says how to make one when there is
none, instead of stopping the whole report with a missing input.

Catalog example::

    plan_table_if_any:
      type: llm_lifecycle.datasets.OptionalDataset
      dataset: {type: pandas.CSVDataset, filepath: data/toy/08_reporting/plan.csv, versioned: true}
"""

from __future__ import annotations

from typing import Any

from kedro.io.core import AbstractDataset, DatasetError


class OptionalDataset(AbstractDataset[None, Any]):
    """Loads the wrapped dataset (its newest version), or None when it has none."""

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None):
        self._dataset = AbstractDataset.from_config("optional", dict(dataset))
        self.metadata = metadata

    def load(self) -> Any:
        return self._dataset.load() if self._dataset.exists() else None

    def save(self, data: None) -> None:
        raise DatasetError("OptionalDataset is read-only: save through the dataset it wraps")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe()}
