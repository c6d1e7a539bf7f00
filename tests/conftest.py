"""Shared fixtures: a small bilingual corpus and a tokenizer trained on it inside the test session."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
# One thread per process: `make test` runs one worker per core, and each worker's torch (and each kedro
# subprocess it starts) spinning up two OpenMP threads on two busy cores makes them wait on each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The allocator `kedro run` gives its nodes (the project's AllocatorHooks), for the training the tests do in
# this process; the processes they start inherit it through the environment.
from llm_lifecycle.allocator import keep_freed_memory  # noqa: E402

keep_freed_memory()

import tests.kedro_project  # noqa: E402,F401 - takes the environment above as `kedro`'s (SESSION_ENV)


def pytest_configure(config) -> None:
    """The warnings a run ignores (`llm_lifecycle.foreign_warnings`), ignored in every test too: pytest
    resets the warning filters around each test to its `filterwarnings` setting, so they are added there."""
    from llm_lifecycle.foreign_warnings import FOREIGN_WARNINGS

    for message, category in FOREIGN_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}:{category.__name__}")


# The longest modules, longest first (seconds on 2 cores, `--durations`): `make test` hands whole modules
# to its workers in this order (`--dist loadscope --no-loadscope-reorder`), so the long ones start first
# and short ones fill in at the end. test_kedro_project builds the tiny run the others copy: early too.
SLOW_MODULES = [
    "tests/pipelines/test_pretrain_124m_env.py",  # ~65: a 121 M model on two ranks
    "tests/pipelines/test_kedro_project.py",  # ~25: builds the shared tiny run
    "tests/pipelines/test_llama3_8b_env.py",  # ~45: six `kedro run`s, four more on a fresh clone
    "tests/training/test_pretrain_distributed.py",  # ~28: `accelerate launch`, kill and resume
    "tests/pipelines/test_resume_and_lineage.py",  # ~28
    "tests/training/test_distributed.py",  # ~24
    "tests/filtering/test_streaming.py",  # ~20 (Ray)
    "tests/test_fake_hub.py",  # ~14
    "tests/benchmarking/test_roofline.py",  # ~12
    "tests/notebooks/test_analysis_notebook.py",  # ~11
    "tests/pipelines/test_plan_pipeline.py",  # ~10
    "tests/viz/test_viz_build.py",  # ~9
    "tests/filtering/test_pipeline.py",  # ~9
]


def pytest_collection_modifyitems(config, items) -> None:
    """Slow modules first (`SLOW_MODULES`), the rest in collection order."""
    rank = {path: i for i, path in enumerate(SLOW_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session", autouse=True)
def _children_write_temporary_files_where_they_are_removed():
    """The processes tests start (Ray's sessions, anything a child writes through `tempfile`) leave folders
    in the temporary directory: give them one of this session's (`TMPDIR`, which Ray reads too) and
    remove it. (accelerate's torchelastic agents write theirs into the job: `launch_command`.)

    `kedro` commands take `SESSION_ENV`, copied at import: it gets the variable too."""
    from tests.kedro_project import SESSION_ENV

    with (
        tempfile.TemporaryDirectory(prefix="llm-lifecycle-tests-", ignore_cleanup_errors=True) as scratch,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("TMPDIR", scratch)
        patch.setitem(SESSION_ENV, "TMPDIR", scratch)
        yield


_EN = [
    "Moscow is a large city. The teacher lives in Moscow and has a cat.",
    "The pilot flies from the city to the river every morning, and the dog waits at home.",
    "Seven plus five is twelve. The word city has four letters.",
]
_RU = [
    "Москва — большой город. Учитель живёт в Москве, и у него есть кошка.",
    "Пилот каждое утро летит из города к реке, а собака ждёт дома.",
    "Семь плюс пять будет двенадцать. В слове город пять букв.",
]


@pytest.fixture(scope="session")
def bilingual_docs() -> list[dict]:
    docs = []
    for i in range(60):
        en, ru = _EN[i % 3], _RU[i % 3]
        docs.append({"id": f"en-{i}", "lang": "en", "text": f"{en} Page {i}."})
        docs.append({"id": f"ru-{i}", "lang": "ru", "text": f"{ru} Страница {i}."})
    return docs


@pytest.fixture(scope="session")
def tiny_tokenizer(bilingual_docs):
    from llm_lifecycle.tokenization.train import TokenizerSettings, train_bpe

    cfg = TokenizerSettings(vocab_size=512, min_frequency=2, model_max_length=128)
    return train_bpe((d["text"] for d in bilingual_docs), cfg)


@pytest.fixture(autouse=True)
def _tiny_tokenizer_state_restored(request):
    """Put the session's tokenizer back as `train_bpe` made it after each test that used it.

    Batched calls leave padding (and truncation) set on its Rust backend and trainers set a padding side;
    without this a test saw whatever an earlier test on its worker left, and a tokenizer it saved carried
    it (`write_token_shards` refuses a tokenizer.json with padding, as it should)."""
    yield
    if "tiny_tokenizer" in request.fixturenames:
        tok = request.getfixturevalue("tiny_tokenizer")
        tok.backend_tokenizer.no_padding()
        tok.backend_tokenizer.no_truncation()
        tok.padding_side = tok.truncation_side = "right"


@pytest.fixture
def debug_logs(caplog):
    """`caplog` at DEBUG for every logger that could carry a secret: the project's own and the HTTP
    stack's. A bare `caplog.set_level(DEBUG)` sets the root only, and once a test on the same worker has
    imported kedro's project settings, `conf/logging.yml` holds these loggers at INFO or WARNING."""
    import logging

    caplog.set_level(logging.DEBUG)
    for name in ("llm_lifecycle", "openai", "httpx", "httpcore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def make_tiny_llama(tokenizer, seed: int = 0, head_scale: float = 10.0, **overrides):
    """A 2-layer GQA LLaMA (hidden 32) over `tokenizer`'s vocabulary (`overrides`: ModelSettings fields).

    A fresh LM head (std 0.02) over an RMS-normalised 32-d state keeps the logits near uniform whatever
    an adapter does to the frozen decoder; `head_scale` gives the "base" model a usable head, as
    pretraining would, so a few LoRA steps move the loss.
    """
    import torch

    from llm_lifecycle.modeling import ModelSettings, build_model

    shape = dict(hidden_size=32, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=64)
    cfg = ModelSettings(vocab_size=len(tokenizer), **{**shape, "max_position_embeddings": 128, **overrides})
    model = build_model(cfg, seed)
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
    return model


@pytest.fixture
def tiny_model_dir(tiny_tokenizer, tmp_path):
    """`make_tiny_llama` saved with its tokenizer (safetensors), as a hub checkpoint would be."""
    path = tmp_path / "tiny-llama"
    make_tiny_llama(tiny_tokenizer).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)  # with the Saiga chat template train_bpe gives it
    return path


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project's configuration with the micro `tiny` env (`tests.kedro_project`)."""
    from tests.kedro_project import make_project

    return make_project(tmp_path / "project")


@pytest.fixture(scope="session")
def tiny_run_template(tmp_path_factory) -> Path:
    """One whole `kedro run --env tiny` per test session, in a project copy with the notebook.

    Shared by every test that needs a finished default run (tests get a private copy, `tiny_run`); under
    pytest-xdist the workers share one run through a lock in the session's common temporary folder. The
    run's console output is `run.log` beside the project folder."""
    from filelock import FileLock

    from tests.kedro_project import ROOT, kedro, make_project

    # Under xdist each worker's temporary folder sits in this session's own folder, which they share.
    shared = os.environ.get("PYTEST_XDIST_WORKER") is not None
    root = tmp_path_factory.getbasetemp().parent if shared else tmp_path_factory.getbasetemp()
    path, done = root / "tiny_run" / "project", root / "tiny_run" / "done"
    with FileLock(str(root / "tiny_run.lock")):
        if not done.exists():
            make_project(path)
            shutil.copytree(ROOT / "notebooks", path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_*"))
            run = kedro(["run", "--env", "tiny"], cwd=path, timeout=900)
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
            (path.parent / "run.log").write_text(run.stdout + run.stderr, encoding="utf-8")  # beside it
            done.touch()
    return path


@pytest.fixture
def tiny_run(tiny_run_template, tmp_path) -> Path:
    """A private copy of the shared tiny run's project: its data, its MLflow store and its config.

    MLflow stores absolute artifact locations; they are moved to the copy so later runs log there."""
    path = shutil.copytree(tiny_run_template, tmp_path / "project")
    with sqlite3.connect(path / "mlflow.db") as db:
        for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
            db.execute(
                f"update {table} set {column} = replace({column}, ?, ?)", (str(tiny_run_template), str(path))
            )
    return path
