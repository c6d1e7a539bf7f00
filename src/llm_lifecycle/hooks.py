"""Project hooks: make every run deterministic and quiet before any node starts."""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset

from llm_lifecycle.lazy_imports import when_imported

logger = logging.getLogger(__name__)


class ReproducibilityHooks:
    """Seed Python, NumPy and torch (on its import) from `params:seed`, and keep HF offline-safe."""

    @hook_impl
    def after_context_created(self, context) -> None:
        # Nothing may wait on a prompt or phone home in CI; these are the documented opt-outs.
        os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        try:
            seed = int(catalog.load("params:seed"))
        except Exception:  # noqa: BLE001 - a project without a seed parameter still runs
            return
        random.seed(seed)
        try:
            import numpy as np

            np.random.seed(seed)
        except ImportError:
            pass
        # torch as soon as something imports it (at once if something has): a run whose nodes never use
        # it (the report, judging, a resume that skips every node) does not import it (~3 s) to seed it.
        when_imported("torch", lambda torch: torch.manual_seed(seed))
        logger.info("Seeded python/numpy/torch with %d", seed)


# `kedro run` options that run part of the named pipeline(s) (`run_params` keys in Kedro 1.x)
PIPELINE_FILTERS = ("node_names", "from_nodes", "to_nodes", "from_inputs", "to_outputs", "tags", "namespaces")


def run_tags(run_params: dict, scale: str) -> dict[str, str]:
    """Tags that make runs filterable in the MLflow UI and `mlflow.search_runs`: which pipeline(s), whether
    a filter (`--nodes`, `--from-nodes`, `--tags`, ...) ran only part of them (`partial`: a
    `kedro run --nodes X` is tagged `pipeline=__default__` as well), which Kedro env, which commit (and
    whether the tree had uncommitted changes), toy or real scale."""
    from llm_lifecycle.gitinfo import git_output

    project = str(run_params.get("project_path") or ".")
    commit = git_output("rev-parse", "HEAD", cwd=project)
    status = git_output("status", "--porcelain", "--untracked-files=no", cwd=project)
    return {
        "pipeline": ",".join(run_params.get("pipeline_names") or ["__default__"]),
        "partial": str(any(run_params.get(key) for key in PIPELINE_FILTERS)).lower(),
        "env": str(run_params.get("env") or "local"),
        "git_commit": commit or "unknown",
        "git_dirty": "unknown" if status is None else str(bool(status)).lower(),
        "scale": scale,
    }


EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


class RunTagsHooks:
    """Tag the active MLflow run (kedro-mlflow starts it in its own `before_pipeline_run`, which pluggy
    calls before the project's hooks) with `run_tags`; `params:scale` says toy or real, `params:seed`
    becomes the `seed` tag."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import mlflow

        if mlflow.active_run() is None:
            return
        try:
            scale = str(catalog.load("params:scale"))
        except Exception:  # noqa: BLE001 - a project without the parameter still runs
            scale = "unknown"
        tags = run_tags(run_params, scale)
        try:  # `kedro seeds` finds each seed's run by this tag
            tags["seed"] = str(catalog.load("params:seed"))
        except Exception:  # noqa: BLE001 - a project without the parameter still runs
            pass
        mlflow.set_tags(tags)
        logger.info("MLflow run tagged %s", tags)
        # An experiment created before mlflow.yml said so (or by hand) opens on MLflow 3's GenAI traces
        # page, empty; the model-training kind opens on the runs table.
        client = mlflow.MlflowClient()
        experiment = client.get_experiment(mlflow.active_run().info.experiment_id)
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)


class MlflowArtifactHooks:
    """Log the file a versioned dataset just wrote to the active MLflow run.

    A catalog entry opts in with ``metadata: {mlflow_artifact_path: <folder in the run>}``. The entry stays
    an ordinary versioned Kedro dataset (``data/<layer>/<name>/<version>/<name>``), so nothing is ever
    overwritten; this hook only copies the version that was just saved into the run. (kedro-mlflow's
    ``MlflowArtifactDataset`` builds its inner dataset with a save version of its own, which kedro 1.x's
    catalog rejects for versioned entries with ``VersionAlreadyExistsError``.)
    """

    def __init__(self) -> None:
        self._catalog = None

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        if self._catalog is None:
            return
        dataset = self._catalog.get(dataset_name)
        artifact_path = (getattr(dataset, "metadata", None) or {}).get("mlflow_artifact_path")
        if artifact_path is None:
            return
        import mlflow

        if mlflow.active_run() is None:
            logger.debug("No active MLflow run; %s not logged", dataset_name)
            return
        local_path = _saved_path(dataset)
        if local_path is None:
            logger.warning("Cannot tell where %s was saved; not logged to MLflow", dataset_name)
            return
        if os.path.isdir(local_path):
            mlflow.log_artifacts(local_path, artifact_path=artifact_path)
        else:
            mlflow.log_artifact(local_path, artifact_path=artifact_path)


def _saved_path(dataset) -> str | None:
    """The local path of the version a dataset just saved (versioned or not)."""
    if hasattr(dataset, "resolve_save_version") and getattr(dataset, "_version", None) is not None:
        return str(dataset._get_versioned_path(dataset.resolve_save_version()))  # noqa: SLF001
    filepath = getattr(dataset, "_filepath", None)
    return None if filepath is None else str(filepath)


class ParameterValidationHooks:
    """Validate every parameter block the pipelines being run read, before any node starts
    (`llm_lifecycle.parameters`): a typo fails in the first second, naming the key and its file.

    `tryfirst`: before kedro-mlflow opens an MLflow run and the seeding hook imports torch. Kedro calls
    `before_pipeline_run` outside its error handling, so a run stopped here would otherwise leave an
    MLflow run that never ran a node, and closed as FINISHED when the process exits."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from pathlib import Path

        from kedro.framework.project import settings

        from llm_lifecycle.parameters import parameter_files, used_keys, validate_parameters

        root = Path(str(run_params.get("project_path") or "."))
        conf_dir = root / settings.CONF_SOURCE
        env = run_params.get("env") or settings.CONFIG_LOADER_ARGS.get("default_run_env", "local")
        validate_parameters(
            catalog.load("parameters"),
            used_keys(pipeline.inputs()),
            parameter_files(conf_dir, env),
            runtime=run_params.get("runtime_params"),
            root=root,
        )


class MissingInputsHooks:
    """Stop a run before any node starts when an input of the requested pipeline does not exist yet.

    `kedro run --pipelines=dpo` on a fresh clone would otherwise fail deep inside the first node with a
    dataset error (or, for a MemoryDataset, "has not been saved yet"). This names every missing dataset
    and the registered pipeline(s) that produce it. `tryfirst`, as `ParameterValidationHooks`.
    """

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        missing = [
            name
            for name in sorted(pipeline.inputs())
            if not name.startswith("params:") and name != "parameters" and not _exists(catalog, name)
        ]
        if not missing:
            return
        registry = _all_stage_pipelines()
        lines = []
        for name in missing:
            producers = sorted(
                key for key, p in registry.items() if not key.startswith("__") and name in p.all_outputs()
            )
            # A file the user brings says how to get it (`metadata: {missing_hint: ...}` in the catalog).
            hint = (getattr(catalog.get(name), "metadata", None) or {}).get("missing_hint")
            if hint is None and producers:
                hint = (
                    f"produced by pipeline {', '.join(repr(p) for p in producers)}"
                    f" (kedro run --pipelines={producers[0]})"
                )
            elif hint is None:
                hint = "no registered pipeline produces it: check the catalog entry's path"
            lines.append(f"  - {name!r}: {hint}")
        raise MissingInputError(
            "cannot start: the pipeline needs input(s) that do not exist yet:\n"
            + "\n".join(lines)
            + "\nRun the producing pipeline first, or the whole lifecycle with `kedro run`."
        )


def _all_stage_pipelines() -> dict:
    """Every `llm_lifecycle.pipelines.<name>` pipeline. (`kedro run --pipelines=x` loads only x into
    Kedro's registry, so the registry cannot tell which other pipeline produces a dataset.)"""
    import importlib
    import pkgutil

    import llm_lifecycle.pipelines as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "create_pipeline"):
            found[info.name] = module.create_pipeline()
    return found


class MissingInputError(RuntimeError):
    """An input dataset of the requested pipeline does not exist yet."""


def _exists(catalog, name: str) -> bool:
    try:
        dataset = catalog.get(name)
        if dataset is not None and type(dataset)._exists is AbstractDataset._exists:
            return True  # cannot tell (e.g. a hub dataset, loaded on demand): let its own load speak
        return bool(catalog.exists(name))
    except Exception:  # noqa: BLE001 - a dataset that cannot even be checked is reported as missing
        logger.debug("exists() failed for %s", name, exc_info=True)
        return False


class LineageHooks:
    """Record who made each saved version and stop a run that would read another seed's or environment's
    (`llm_lifecycle.lineage`); tag the MLflow run with the version of every input it read (`input.<name>`).
    """

    def __init__(self) -> None:
        self._catalog = None
        self._log = None
        self._env = "local"
        self._seed: int | None = None
        self._save_version: str | None = None
        self._pinned: set[str] = set()
        self._pipeline: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        from kedro.framework.project import settings

        from llm_lifecycle.config_loader import data_dir
        from llm_lifecycle.lineage import LineageLog

        self._env = context.env or settings.CONFIG_LOADER_ARGS.get("default_run_env", "local")
        self._log = LineageLog(context.project_path / data_dir(context.config_loader))

    @hook_impl
    def after_catalog_created(self, catalog, parameters, save_version, load_versions) -> None:
        self._catalog, self._save_version = catalog, save_version
        self._pinned = set(load_versions or {})
        seed = (parameters or {}).get("params:seed")  # Kedro's feed dict: "params:<key>" -> value
        self._seed = int(seed) if seed is not None else None

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._catalog = catalog
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        self._pipeline = ",".join(n for n in names if n) or "__default__"

    def _version(self, dataset_name: str) -> str | None:
        from llm_lifecycle.lineage import load_version

        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        return load_version(dataset) if dataset is not None else None

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node) -> None:
        from llm_lifecycle.lineage import check

        if self._log is None or dataset_name in self._pinned:
            return
        version = self._version(dataset_name)
        if version is not None and version != self._save_version:
            check(self._log.find(dataset_name, version), self._seed, self._env)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data, node) -> None:
        version = self._version(dataset_name)
        if version is None or version == self._save_version:
            return
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.set_tag(f"input.{dataset_name}", version)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        from llm_lifecycle.lineage import Provenance

        dataset = self._catalog.get(dataset_name) if self._catalog is not None else None
        if self._log is None or getattr(dataset, "_version", None) is None:
            return
        import mlflow

        run = mlflow.active_run()
        self._log.record(
            Provenance(
                dataset=dataset_name,
                version=dataset.resolve_save_version(),
                seed=self._seed,
                env=self._env,
                mlflow_run_id=run.info.run_id if run is not None else None,
                pipeline=self._pipeline,
            )
        )


class RunInterrupted(Exception):  # noqa: N818 - it is what happened, not a programming error
    """SIGTERM or Ctrl-C during a run; an `Exception`, so Kedro's error hooks close the run."""


class AllocatorHooks:
    """Freed memory stays in the process (`allocator.keep_freed_memory`): a CPU training step then reuses
    its blocks instead of page-faulting fresh ones every step. Before any node, for the ranks and workers
    the run starts too; `LLM_LIFECYCLE_MALLOC=default` opts out."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from llm_lifecycle.allocator import keep_freed_memory

        keep_freed_memory()


class ConsoleLogHooks:
    """Print log messages that are not Rich markup as they are (`log_markup`): a failed launch's log tail
    in a node's error raised `MarkupError` in Kedro's console handler and hid the error."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from llm_lifecycle.log_markup import filter_console_handlers

        filter_console_handlers()


class InterruptHooks:
    """Turn SIGTERM and Ctrl-C into `RunInterrupted` while a pipeline runs, and mark the MLflow run KILLED.

    A `KeyboardInterrupt` (or the default SIGTERM, which ends the process at once) bypasses Kedro's
    `on_pipeline_error`, so kedro-mlflow never ends its run: it stayed RUNNING for good. As an ordinary
    exception the interruption goes through the error hooks (kedro-mlflow ends the run as FAILED), then
    this hook sets the status to KILLED, which is what happened.
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._run_id: str | None = None

    @staticmethod
    def _raise(signum, frame) -> None:
        raise RunInterrupted(f"interrupted by {signal.Signals(signum).name}")

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import mlflow

        run = mlflow.active_run()
        self._run_id = run.info.run_id if run is not None else None
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._raise)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self, error) -> None:
        self._restore()
        if isinstance(error, RunInterrupted) and self._run_id is not None:
            import mlflow

            mlflow.MlflowClient().set_terminated(self._run_id, status="KILLED")
            logger.warning("%s: MLflow run %s marked KILLED", error, self._run_id)


class NodeTimingHooks:
    """Log each node's wall time to MLflow as `time/<node name>` (the report card's time table reads them)."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:  # pluggy passes only the arguments named
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_metric(f"time/{node.name}", seconds)
        logger.info("node %s took %.1f s", node.name, seconds)
