"""What the project's versioned file datasets share: where their newest version is, if there is one."""

from __future__ import annotations

from pathlib import Path

from kedro.io.core import AbstractVersionedDataset, DatasetError


def newest_version_path(dataset: AbstractVersionedDataset) -> Path | None:
    """The path `load()` would read (the pinned or newest version), or None when no version exists yet."""
    try:
        return Path(str(dataset._get_load_path()))
    except DatasetError:
        return None
