"""A read-only Hugging Face `datasets` entry that works offline and names its rows.

kedro-datasets' `huggingface.HFDataset` asks the hub API to describe itself (its `_describe` calls
`HfApi().list_datasets`), so merely logging "Loading data from ..." fails offline or behind a proxy,
and it cannot tell whether it exists. This dataset calls `datasets.load_dataset` only in `load()`,
describes itself from its configuration, and returns a `Records` list whose `where(i)` is
`<dataset>[<split>]:<row>` (0-based row), so the SFT data checks name a bad hub row the way they name a
bad JSONL line. `dataset_name` may be a hub id (`IlyaGusev/saiga_scored`) or a local folder of
JSON/Parquet files in the same format; no dataset scripts, so no remote code.

`streaming: true` with `take: N` reads the first N rows of a split without downloading the whole
config first (`load_dataset(..., streaming=True).take(N)`): a 200k-document slice of FineWeb-2's Russian
config costs those documents' bytes, not the config's hundreds of GB. A split slice such as
`train[-2000:]` needs the whole split and does not stream. A failed load names the dataset and the
state of `HF_TOKEN` (`datasets.hub_access`).

`lazy: true` makes `load()` return a `HubDocuments` handle instead of a list: iterating it reads the
same rows in the same order, one at a time (nothing is fetched before the first row is asked for), and
`.hub_options()` describes the dataset, so the streaming filter can hand it to datatrove's
`HuggingFaceDatasetReader` instead of reading it in the Kedro process (`llm_lifecycle.filtering.streaming`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from llm_lifecycle.datasets.hub_access import hub_error, looks_like_hub_id
from llm_lifecycle.datasets.jsonl import Records


class HubDataset(AbstractDataset[None, "Records | HubDocuments"]):
    def __init__(  # noqa: PLR0913
        self,
        dataset_name: str,
        *,
        split: str = "train",
        config_name: str | None = None,
        revision: str | None = None,
        columns: list[str] | None = None,
        streaming: bool = False,
        take: int | None = None,
        load_args: dict[str, Any] | None = None,
        lazy: bool = False,
        metadata: dict[str, Any] | None = None,
    ):
        if streaming and "[" in split:
            raise DatasetError(
                f"HubDataset({dataset_name}): split {split!r} is a slice, which streaming cannot read; "
                "use the split's name with `take: N`"
            )
        if take is not None and take < 1:
            raise DatasetError(f"HubDataset({dataset_name}): take must be >= 1, got {take}")
        self._name = dataset_name
        self._split = split
        self._config_name = config_name
        self._revision = revision
        self._columns = list(columns) if columns else None
        self._streaming = streaming
        self._take = take
        self._load_args = dict(load_args or {})
        self._lazy = lazy
        self.metadata = metadata

    def load(self) -> Records | HubDocuments:
        if self._lazy:
            return HubDocuments(self)
        try:
            rows = list(self._rows(self._open()))
        except DatasetError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the entry's identity
            raise self._error(exc) from exc
        return Records(rows, source=f"{self._name}[{self._split}]", lines=list(range(len(rows))))

    def _open(self) -> Any:
        from datasets import load_dataset

        data = load_dataset(
            self._name,
            self._config_name,
            split=self._split,
            revision=self._revision,
            streaming=self._streaming,
            **self._load_args,
        )
        if self._columns:
            missing = sorted(set(self._columns) - set(data.column_names or self._columns))
            if missing:
                raise DatasetError(
                    f"{self._name}[{self._split}]: no column(s) {missing}; has {data.column_names}"
                )
            data = data.select_columns(self._columns)
        if self._take is not None:
            data = data.take(self._take)  # the first N rows (a streaming read stops there)
        return data

    def _error(self, exc: Exception) -> Exception:
        if looks_like_hub_id(self._name):
            return hub_error(f"dataset (split {self._split!r})", self._name, exc)
        return DatasetError(f"{self}: cannot load {self._name!r} split {self._split!r}: {exc}")

    def hub_options(self) -> dict[str, Any]:
        """What `datasets.load_dataset` is called with, plus `columns` and `take`."""
        return {
            "dataset_name": self._name,
            "config_name": self._config_name,
            "split": self._split,
            "revision": self._revision,
            "streaming": self._streaming,
            "columns": self._columns,
            "take": self._take,
            "load_args": dict(self._load_args),
        }

    def _rows(self, data: Any) -> Any:
        if not self._streaming:
            return data.to_list()
        from tqdm.auto import tqdm

        return tqdm(data, total=self._take, desc=f"stream {self._name}", unit="rows", leave=False)

    def save(self, data: None) -> None:
        raise DatasetError(f"{self}: read-only (hub dataset {self._name!r})")

    def _exists(self) -> bool:
        return True  # resolved on load (hub or local folder); a missing one fails there with its name

    def _describe(self) -> dict[str, Any]:
        return {
            "dataset_name": self._name,
            "split": self._split,
            "config_name": self._config_name,
            "streaming": self._streaming,
            "take": self._take,
            "lazy": self._lazy,
        }


class HubDocuments:
    """`HubDataset(lazy=True).load()`: the entry's rows, read only when iterated (each pass reads again)."""

    def __init__(self, dataset: HubDataset):
        self._dataset = dataset
        self.skipped: list[str] = []  # a hub dataset has no bad lines to skip (the funnel reads this)

    def hub_options(self) -> dict[str, Any]:
        return self._dataset.hub_options()

    def __iter__(self) -> Iterator[dict]:
        try:
            yield from self._dataset._rows(self._dataset._open())
        except DatasetError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the entry's identity
            raise self._dataset._error(exc) from exc

    def __repr__(self) -> str:
        return f"HubDocuments({self._dataset._name!r}, split={self._dataset._split!r})"
