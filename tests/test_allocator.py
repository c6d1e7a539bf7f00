"""`llm_lifecycle.allocator`: freed memory stays in the process, training steps stop page-faulting, and
the numbers stay the same to the last bit."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap

import pytest

from llm_lifecycle import allocator
from llm_lifecycle.allocator import ENV_VARS, OPT_OUT, keep_freed_memory, why_not

SET = "the environment sets the allocator"
glibc_only = pytest.mark.skipif(allocator.glibc_version() is None, reason="glibc's malloc only")


def _clean_env() -> dict[str, str]:
    """This process's environment without the allocator's variables (the suite sets them: conftest)."""
    return {k: v for k, v in os.environ.items() if k not in (*ENV_VARS, OPT_OUT, "GLIBC_TUNABLES")}


def _run(code: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({OPT_OUT: "default"}, f"{OPT_OUT}=default"),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, f"{SET} (MALLOC_TRIM_THRESHOLD_)"),
        ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1"}, f"{SET} (GLIBC_TUNABLES)"),
        ({"LD_PRELOAD": "/lib/libjemalloc.so.2"}, "another allocator is preloaded (/lib/libjemalloc.so.2)"),
    ],
)
def test_what_the_user_chose_is_left_alone(environ, reason) -> None:
    assert why_not(environ) == reason
    before = dict(environ)
    assert keep_freed_memory(environ=environ) is False
    assert environ == before


def test_other_c_libraries_are_left_alone(monkeypatch) -> None:
    monkeypatch.setattr(allocator, "glibc_version", lambda: None)
    environ: dict[str, str] = {}
    assert why_not(environ) == "not glibc"
    assert keep_freed_memory(environ=environ) is False
    assert environ == {}


@glibc_only
def test_the_thresholds_reach_the_processes_a_run_starts() -> None:
    environ: dict[str, str] = {"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"}  # not malloc's
    assert keep_freed_memory(1 << 28, environ=environ) is True
    assert {k: environ[k] for k in ENV_VARS} == dict.fromkeys(ENV_VARS, str(1 << 28))
    assert why_not(environ).startswith(SET)  # a child leaves them be


@glibc_only
@pytest.mark.slow
def test_a_training_step_stops_page_faulting_and_computes_the_same_numbers() -> None:
    """One process trains the same tiny model twice from the same seed: first under glibc's default
    thresholds, then after `keep_freed_memory()`. Its logits (16 x 128 x 8192 fp32 = 64 MiB) are above the
    32 MiB that glibc's adaptive mmap threshold can reach, so by default every step maps them anew."""
    result = _run(
        """
        import json, resource, torch
        from llm_lifecycle.allocator import keep_freed_memory, release_free_memory
        from llm_lifecycle.benchmarking.latency import proc_status_bytes
        from llm_lifecycle.modeling.build import build_model
        from llm_lifecycle.modeling.config import tiny_config

        torch.set_num_threads(1)

        def train():
            torch.manual_seed(0)
            model = build_model(tiny_config(vocab_size=8192, hidden_size=64, n_layers=1), seed=0)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            x = torch.randint(8192, (16, 128))
            losses, faults = [], []
            for _ in range(8):
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                loss = model(input_ids=x, labels=x).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
                losses.append(loss.item())
            return losses, faults[3:]  # once the heap has grown to the step's size: a steady step

        default = train()
        assert keep_freed_memory()
        kept = train()
        before = proc_status_bytes("RssAnon")
        assert release_free_memory()
        released = before - proc_status_bytes("RssAnon")
        print(json.dumps({"default": default, "kept": kept, "released": released}))
        """,
        _clean_env(),
    )
    (loss_default, faults_default), (loss_kept, faults_kept) = result["default"], result["kept"]
    assert loss_kept == loss_default  # bit for bit: JSON keeps a float's every digit
    assert loss_default[-1] < loss_default[0]  # it trained
    # by default each steady step faults in its 64 MiB of logits (16k pages) and more; kept: ~none
    assert min(faults_default) > 16_384
    # (now and then a kept step still grows the heap once: a median step, and the whole run, then)
    assert statistics.median(faults_kept) < min(faults_default) / 20, (faults_default, faults_kept)
    assert sum(faults_kept) < sum(faults_default) / 3, (faults_default, faults_kept)
    # what the kept blocks cost: memory the process holds until it asks glibc to give it back
    assert result["released"] > 64 * 2**20


@glibc_only
@pytest.mark.slow
def test_the_project_hook_keeps_freed_memory_unless_the_user_opts_out() -> None:
    """The project's hook (registered in settings) sets the thresholds before any node, and the variables
    for what the run starts."""
    from llm_lifecycle.hooks import AllocatorHooks
    from llm_lifecycle.settings import HOOKS

    assert any(isinstance(hook, AllocatorHooks) for hook in HOOKS)
    code = """
        import json, os
        from llm_lifecycle.hooks import AllocatorHooks
        AllocatorHooks().after_context_created(context=None)
        from llm_lifecycle.allocator import ENV_VARS
        print(json.dumps({k: os.environ.get(k) for k in ENV_VARS}))
    """
    env = _clean_env()
    assert _run(code, env) == dict.fromkeys(ENV_VARS, str(allocator.THRESHOLD))
    assert _run(code, {**env, OPT_OUT: "default"}) == dict.fromkeys(ENV_VARS)
