"""A datatrove step that records, in its worker process, which modules were loaded before it ran: what
`filtering.executors.preload_in_forkserver` changes (tests/filtering/test_executors.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from datatrove.pipeline.base import PipelineStep

DEPENDENCY = "sqlparse"  # installed, and imported by nothing the worker loads to unpickle this step


class LoadedModulesProbe(PipelineStep):
    name = "loaded modules probe"
    _requires_dependencies = [DEPENDENCY]

    def __init__(self, out_dir: str):
        super().__init__()
        self.out_dir = out_dir

    def run(self, data, rank: int = 0, world_size: int = 1):
        loaded = {"dependency": DEPENDENCY in sys.modules, "pid": os.getpid()}
        Path(self.out_dir, f"{rank}.json").write_text(json.dumps(loaded), encoding="utf-8")
        yield from data or ()
