"""`ReproducibilityHooks` seeds torch without importing it: at once if it is imported, else on its import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import torch

from llm_lifecycle.lazy_imports import when_imported


def test_a_module_already_imported_gets_the_callback_at_once():
    seen = []
    when_imported("torch", seen.append)
    assert seen == [torch]


def test_the_hook_leaves_torch_unimported_and_it_starts_seeded_when_a_node_imports_it():
    code = textwrap.dedent(
        """
        import json
        import sys

        from llm_lifecycle.hooks import ReproducibilityHooks

        class Catalog:
            def __init__(self, seed):
                self.seed = seed

            def load(self, name):
                assert name == "params:seed"
                return self.seed

        hooks = ReproducibilityHooks()
        hooks.before_pipeline_run({}, None, Catalog(5))
        hooks.before_pipeline_run({}, None, Catalog(1234))  # a second run in the process: its seed wins
        assert "torch" not in sys.modules
        import torch  # what the first node using torch does

        print(json.dumps([torch.initial_seed(), torch.rand(3).tolist()]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    seed, values = json.loads(done.stdout.splitlines()[-1])
    assert seed == 1234
    assert values == torch.rand(3, generator=torch.Generator().manual_seed(1234)).tolist()
