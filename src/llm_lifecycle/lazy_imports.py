"""Lazy package exports (PEP 562) for packages whose names are needed early but whose modules are heavy,
and `when_imported`, for work on a heavy module that can wait until something imports it.

The pipeline registry imports node modules, and they name settings classes; a package `__init__` that
imported everything eagerly would load datatrove, spaCy, the `openai` SDK or transformers for every
`kedro` command. A package instead declares where each public name lives:

    __getattr__ = lazy_exports(__name__, {"run_filters": "llm_lifecycle.filtering.chain", ...})

and the module is imported on first access of the name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package` resolving each name of `where` in its module."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return __getattr__


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call `callback(module)` now if module `name` is imported, else right after its first import.

    The hooks seed torch this way: a `kedro run` whose nodes never touch torch (the report, judging, a
    resume that skips every node) does not import it (~3 s) only to seed it, and a run that does gets the
    same generator state as if it had been seeded up front, since nothing could draw from it before. A
    later call for a module still not imported replaces the earlier callback (the latest seed wins).
    """
    if name in sys.modules:
        callback(sys.modules[name])
        return
    for finder in sys.meta_path:
        if isinstance(finder, _AfterImport) and finder.name == name:
            finder.callback = callback
            return
    sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing of its own: for `name` it takes the spec the other finders give and has its loader
    run `callback` once the module has executed, then leaves `sys.meta_path`."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute, callback = spec.loader.exec_module, self.callback

        def exec_module(module: ModuleType) -> None:
            execute(module)
            callback(module)

        spec.loader.exec_module = exec_module  # this spec's own loader object
        return spec
