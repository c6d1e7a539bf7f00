"""Lazy package exports (PEP 562) for packages whose names are needed early but whose modules are heavy.

The pipeline registry imports node modules, and they name settings classes; a package `__init__` that
imported everything eagerly would load datatrove, spaCy, the `openai` SDK or transformers for every
`kedro` command. A package instead declares where each public name lives:

    __getattr__ = lazy_exports(__name__, {"run_filters": "llm_lifecycle.filtering.chain", ...})

and the module is imported on first access of the name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package` resolving each name of `where` in its module."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return __getattr__
