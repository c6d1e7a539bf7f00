"""A copy of the Kedro project as a user has it (the package is installed), with a micro `tiny` env.

`make_project` copies `pyproject.toml`, `.telemetry` and `conf/` (not `conf/local`) into a folder and
adds `conf/tiny/parameters.yml` (`TINY_PARAMS`: the same pipelines and catalog as conf/base, only
smaller) and `conf/tiny/globals.yml` (its own data folder, `TINY_DATA`); `kedro(args, cwd)` runs the
`kedro` command line there, as a user would, in a new process (forked from a server that has imported
the heavy libraries already: `tests.warm_kedro`).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The environment the test session started with (tests/conftest.py imports this module first): what a
# test or a library sets in `os.environ` later (Ray, datatrove, MLflow do) does not leak into commands.
SESSION_ENV = dict(os.environ)
TINY_DATA = "data/tiny"  # the `tiny` env's data folder (its globals.yml), like data/toy for conf/base

# A micro configuration: the same pipelines and catalog as conf/base, only smaller.
TINY_PARAMS = {
    "toy_world": {
        "world": {"n_cities": 4, "n_people": 12},
        "documents": {"n_clean": 120},
        "instructions": {"n_sft": 20, "n_preference": 8, "n_mt_bench": 8, "n_validation": 8},
    },
    "tokenizer": {"vocab_size": 600, "heldout_fraction": 0.2},
    "pretraining": {
        "model": {"hidden_size": 32, "n_layers": 2, "intermediate_size": 64, "max_position_embeddings": 64},
        "train": {
            "block_size": 64,
            "batch_size": 8,
            "max_steps": 20,
            "eval_every": 10,
            "checkpoint_every": 10,
        },
        "measure_ceiling": False,
        "generation": {"max_new_tokens": 4},
        "fact_eval": {"max_prompts": 20},
    },
    "sft": {"train": {"max_steps": 6, "eval_steps": 3, "batch_size": 4, "logging_steps": 2}},
    "preferences": {"student": {"max_new_tokens": 8}},
    "mt_bench": {"max_new_tokens": 8, "n_boot": 200},
    "latency": {
        "harness": {
            "batch_sizes": [1, 4],
            "prompt_tokens": 8,
            "new_tokens": 4,
            "min_repeats": 1,
            "min_time_s": 0,
        },
        "large_model": {
            "vocab_size": 512,
            "hidden_size": 64,
            "n_layers": 2,
            "n_heads": 4,
            "n_kv_heads": 2,
            "intermediate_size": 128,
            "max_position_embeddings": 64,
        },
        "ceiling_repeats": 2,
    },
    "dpo": {
        "val_fraction": 0.25,
        "train": {"max_steps": 4, "eval_steps": 2, "batch_size": 2, "logging_steps": 1},
    },
    "rlhf": {
        "val_fraction": 0.25,
        "eval_prompts": 2,
        "reward_model": {"train": {"max_steps": 4, "eval_steps": 2, "batch_size": 2, "logging_steps": 1}},
        "policy": {
            "train": {
                "max_steps": 3,
                "batch_size": 4,
                "num_generations": 2,
                "max_completion_length": 4,
                "logging_steps": 1,
            }
        },
    },
}


def config_loader(env: str | None = None, conf: Path = ROOT / "conf", **kwargs: Any):
    """The project's config loader for `conf` as `kedro run --env <env>` builds it: the class and arguments
    of `settings.py` (`kwargs`, e.g. `runtime_params`, as `--params` passes them)."""
    from llm_lifecycle import settings

    return settings.CONFIG_LOADER_CLASS(str(conf), env=env, **settings.CONFIG_LOADER_ARGS, **kwargs)


def _command_env(env: dict[str, str] | None) -> dict[str, str]:
    env = {**(SESSION_ENV if env is None else env)}
    return env | {"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}


def _warm() -> bool:
    return not os.environ.get("LLM_LIFECYCLE_COLD_KEDRO")


def kedro(
    args: list[str], cwd: Path, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`kedro <args>` in `cwd`, in a new process with `env` (default: `SESSION_ENV`), forked from a warm
    server (`tests.warm_kedro`) unless LLM_LIFECYCLE_COLD_KEDRO is set."""
    if _warm():
        from tests.warm_kedro import run_kedro

        return run_kedro(args, cwd, timeout, _command_env(env))
    return cold_kedro(args, cwd, timeout, env)


def cold_kedro(
    args: list[str], cwd: Path, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m kedro <args>` in `cwd`, in a new interpreter with `env` (default: `SESSION_ENV`)."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=cwd,
        env=_command_env(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_kedro(args: list[str], cwd: Path, output: Path, env: dict[str, str] | None = None):
    """`kedro <args>` started in `cwd` (stdout and stderr into `output`, stdin from /dev/null): a process
    with `pid`, `send_signal` and `wait`, as `subprocess.Popen` gives."""
    if _warm():
        from tests.warm_kedro import start_kedro as start_warm

        return start_warm(args, cwd, _command_env(env), output)
    with output.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kedro", *args],
            cwd=cwd,
            env=_command_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@functools.cache
def _empty_mlflow_db() -> Path:
    """An MLflow SQLite store with its tables created, once per process (MLflow's first connection to a
    new file runs every schema migration: about a second of each fresh project's first `kedro run`)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = Path(tempfile.mkdtemp(prefix="mlflow_template_"))
    owner = os.getpid()  # a forked child exits through atexit too: only the creator removes it
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, ignore_errors=True))
    SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlruns")).engine.dispose()
    return folder / "mlflow.db"


def make_project(path: Path) -> Path:
    """A copy of the project's configuration in `path` (the package itself is installed), `tiny` env added,
    and an MLflow store with its tables already created (no experiment, no run)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(_empty_mlflow_db(), path / "mlflow.db")
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(ROOT / name, path / name)
    shutil.copytree(ROOT / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
    (path / "conf" / "local").mkdir()
    (path / "src").mkdir()  # kedro checks that source_dir exists; the package itself is installed
    (path / "conf" / "tiny").mkdir()
    (path / "conf" / "tiny" / "parameters.yml").write_text(yaml.safe_dump(TINY_PARAMS, allow_unicode=True))
    (path / "conf" / "tiny" / "globals.yml").write_text(f"data_dir: {TINY_DATA}\n")
    return path
