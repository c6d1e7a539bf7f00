"""Where the filter blocks run: a plain in-process loop, or a datatrove executor built from settings.

`run_in_process` calls each block's `filter(doc)` in order and stops at the first rejection; this is
exactly what a datatrove pipeline of filters does to one document, minus the generator plumbing and the
JSONL round trip, and it lets stateful blocks (dedup) see documents in input order. It is the default
(`executor: in_process`).

`ExecutorSettings` + `build_executor(steps, settings, logging_dir)` turn one datatrove step list into a
`LocalPipelineExecutor` (worker processes on this machine), a `SlurmPipelineExecutor` (a job array,
one array task per datatrove task) or a `RayPipelineExecutor` (Ray tasks on a cluster): the step list
is the same object for all three, only the executor and its options change. `run_stages(executors,
settings)` runs stages one after the other and raises when a task did not complete; on Slurm it chains
the stages with job dependencies (`afterok`), submits them, and waits for every task's completion
marker, polling the queue so that a job that died is reported instead of waited for. The datatrove
executors are imported when built, so this module (and `FilteringSettings`) stays import-light; the
tokenizer's sharded encoding builds its executors with the same function.

Worker processes of the local executor start with datatrove's default "forkserver" method and import the
caller's `__main__`: a script that uses it needs the usual `if __name__ == "__main__":` guard. The server
imports what the steps need once (`preload_in_forkserver`), so each worker starts with it loaded. Slurm (and
Ray on more than one machine) needs `work_dir` on a filesystem every node sees (the logging dir holds
the pickled executor, stats and completion markers) and the project installed where the tasks run
(`slurm.venv_path` or `slurm.env_command`; Ray's workers import it from their Python).

`run_datatrove_local` is the list-in/list-out variant kept for benchmarks (`benchmarks/bench_filtering.py`):
it writes a list of documents to shards, runs the blocks on `LocalPipelineExecutor` and reads the
outcomes back in input order. The Kedro node streams instead (`llm_lifecycle.filtering.streaming`).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from datatrove.data import Document
    from datatrove.executor.base import PipelineExecutor
    from datatrove.pipeline.filters.base_filter import BaseFilter

logger = logging.getLogger(__name__)

INDEX_KEY = "_index"  # position in the input, carried in metadata through every executor


@dataclass
class Outcome:
    """What happened to one input document: kept (rule is None) or rejected by `rule` for `reason`."""

    index: int
    text: str
    metadata: dict = field(default_factory=dict)
    rule: str | None = None
    reason: str | None = None


def run_in_process(
    docs: Sequence[Document], blocks: Sequence[BaseFilter], progress: bool = False
) -> list[Outcome]:
    """Apply `blocks` to each document in order; the first block that rejects it names the rule."""
    from datatrove.pipeline.filters.base_filter import get_filter_result
    from tqdm.auto import tqdm

    outcomes = []
    for doc in tqdm(docs, desc="filtering", unit="doc", disable=not progress, mininterval=1.0):
        rule = reason = None
        for block in blocks:
            keep, why = get_filter_result(block.filter(doc))
            if not keep:
                rule, reason = block.name, why or ""
                break
        outcomes.append(Outcome(doc.metadata[INDEX_KEY], doc.text, doc.metadata, rule, reason))
    return outcomes


def run_datatrove_local(
    docs: Sequence[Document], blocks: Sequence[BaseFilter], workers: int, work_dir: str | None = None
) -> list[Outcome]:
    """Run `blocks` on datatrove's LocalPipelineExecutor with `workers` tasks; outcomes in input order."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    # The JSONL reader drops documents with empty text; judge those here, with the same blocks.
    empty = run_in_process([d for d in docs if not d.text], copy.deepcopy(list(blocks)))
    docs = [d for d in docs if d.text]
    if not docs:
        return empty
    tmp = tempfile.TemporaryDirectory(prefix="data_filtering_") if work_dir is None else nullcontext(work_dir)
    with tmp as root_name:
        root = Path(root_name)
        for sub in ("input", "kept", "rejected", "logs"):  # a reused work_dir must not leak an old run
            shutil.rmtree(root / sub, ignore_errors=True)
        _write_shards(docs, root / "input", n_shards=workers)
        steps = copy.deepcopy(list(blocks))
        for block in steps:
            block.exclusion_writer = JsonlWriter(str(root / "rejected" / block.name), compression=None)
        pipeline = [
            JsonlReader(str(root / "input"), compression=None, add_file_path=False),
            *steps,
            JsonlWriter(str(root / "kept"), compression=None),
        ]
        logger.info("datatrove LocalPipelineExecutor: %d documents, %d tasks in %s", len(docs), workers, root)
        LocalPipelineExecutor(
            pipeline, tasks=workers, workers=workers, logging_dir=str(root / "logs"), skip_completed=False
        ).run()
        outcomes = _read_outcomes(root / "kept", rule=None)
        for block in steps:
            outcomes += _read_outcomes(root / "rejected" / block.name, rule=block.name)
    if len(outcomes) != len(docs):
        raise RuntimeError(f"datatrove returned {len(outcomes)} documents for {len(docs)} inputs")
    return sorted(outcomes + empty, key=lambda o: o.index)


def _write_shards(docs: Sequence[Document], folder: Path, n_shards: int) -> None:
    folder.mkdir(parents=True)
    size = -(-len(docs) // n_shards)  # contiguous shards: each task reads one file
    for shard in range(n_shards):
        with open(folder / f"{shard:05d}.jsonl", "w", encoding="utf-8") as fh:
            for doc in docs[shard * size : (shard + 1) * size]:
                row = {"id": doc.id, "text": doc.text, "metadata": doc.metadata}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_outcomes(folder: Path, rule: str | None) -> list[Outcome]:
    outcomes = []
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                meta = row.get("metadata", {})
                reason = meta.pop("filter_reason", "") if rule else None
                outcomes.append(Outcome(int(meta[INDEX_KEY]), row["text"], meta, rule, reason))
    return outcomes


# ---------------------------------------------------------------------------------------- executors
ExecutorKind = Literal["in_process", "local", "slurm", "ray"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalOptions(_Strict):
    """`LocalPipelineExecutor`: `workers` processes on this machine."""

    start_method: Literal["forkserver", "spawn", "fork"] = "forkserver"


class SlurmOptions(_Strict):
    """`SlurmPipelineExecutor`: one sbatch job array per stage (datatrove writes and submits the script)."""

    partition: str | None = None  # required with executor slurm
    time: str = "04:00:00"  # per array task (sbatch --time)
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: int = Field(2, ge=1)
    qos: str | None = None  # null: no --qos line
    job_name: str = "llm_lifecycle"
    venv_path: str | None = None  # `source <venv_path>` in the job (e.g. /shared/project/.venv/bin/activate)
    env_command: str | None = None  # or any shell line that sets up Python with the project installed
    condaenv: str | None = None  # or a conda environment to activate
    sbatch_args: dict[str, str | int] = {}  # extra #SBATCH lines, e.g. {account: my_account}
    srun_args: dict[str, str | int] = {}
    max_array_size: int = Field(1001, ge=1)  # the cluster's MaxArraySize
    requeue: bool = True
    mail_user: str | None = None
    poll_seconds: float = Field(30, gt=0)  # how often the Kedro node checks the tasks' completion markers
    timeout_hours: float | None = Field(None, gt=0)  # give up waiting after this long (null: never)


class RayOptions(_Strict):
    """`RayPipelineExecutor`: Ray tasks; `address` null joins the cluster named by RAY_ADDRESS, or starts a
    local one for the run (and stops it afterwards)."""

    address: str | None = None
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2, gt=0)  # memory Ray reserves per CPU of a task
    tasks_per_job: int = Field(1, ge=1)  # datatrove tasks run by one Ray task
    time_s: int | None = Field(None, gt=0)  # a task running longer is killed (null: no limit)
    remote_kwargs: dict[str, Any] = {}  # extra ray.remote options (e.g. {runtime_env: {...}})


class ExecutorOptions(_Strict):
    """Options shared by the datatrove executors, plus each one's own block."""

    tasks: int = Field(2, ge=1)  # datatrove tasks (shards of the input; each writes its own output shards)
    workers: int = Field(-1, ge=-1)  # tasks running at once; -1: all of them
    # staged outputs, stats and logs; null: a temporary folder on this machine (local, or a one-machine Ray)
    work_dir: str | None = None
    local: LocalOptions = LocalOptions()
    slurm: SlurmOptions = SlurmOptions()
    ray: RayOptions = RayOptions()

    @model_validator(mode="after")
    def _workers_not_zero(self) -> ExecutorOptions:
        if self.workers == 0:
            raise ValueError("workers must be >= 1, or -1 for as many as tasks")
        return self


class ExecutorSettings(ExecutorOptions):
    """Which executor and its options (`build_executor`)."""

    kind: ExecutorKind = "local"

    @model_validator(mode="after")
    def _cluster_needs_its_settings(self) -> ExecutorSettings:
        if self.kind == "slurm":
            if self.slurm.partition is None:
                raise ValueError("executor slurm needs slurm.partition (the partition to submit to)")
        if self.kind == "slurm" and self.work_dir is None:
            raise ValueError(
                "executor slurm needs work_dir: a folder every node can read and write "
                "(stats, logs, completion markers and staged outputs live there)"
            )
        return self


def build_executor(steps: list, settings: ExecutorSettings, logging_dir: str) -> PipelineExecutor:
    """A datatrove executor of `settings.kind` running `steps` (the same list for every kind)."""
    if settings.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        if settings.local.start_method == "forkserver":
            preload_in_forkserver(steps)
        return LocalPipelineExecutor(
            steps,
            tasks=settings.tasks,
            workers=settings.workers,
            logging_dir=logging_dir,
            start_method=settings.local.start_method,
        )
    if settings.kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        s = settings.slurm
        return SlurmPipelineExecutor(
            steps,
            tasks=settings.tasks,
            time=s.time,
            partition=s.partition,
            cpus_per_task=s.cpus_per_task,
            mem_per_cpu_gb=s.mem_per_cpu_gb,
            workers=settings.workers,
            job_name=s.job_name,
            qos=s.qos,
            env_command=s.env_command,
            condaenv=s.condaenv,
            venv_path=s.venv_path,
            sbatch_args=dict(s.sbatch_args),
            srun_args=dict(s.srun_args) or None,
            max_array_size=s.max_array_size,
            logging_dir=logging_dir,
            requeue=s.requeue,
            mail_user=s.mail_user,
        )
    if settings.kind == "ray":
        from datatrove.executor import RayPipelineExecutor

        r = settings.ray
        return RayPipelineExecutor(
            steps,
            tasks=settings.tasks,
            workers=settings.workers,
            logging_dir=logging_dir,
            cpus_per_task=r.cpus_per_task,
            mem_per_cpu_gb=r.mem_per_cpu_gb,
            tasks_per_job=r.tasks_per_job,
            time=r.time_s,
            ray_remote_kwargs=dict(r.remote_kwargs) or None,
        )
    raise ValueError(
        f"executor {settings.kind!r} runs no datatrove executor: use one of 'local', 'slurm', 'ray'"
    )


_FORKSERVER_PRELOAD = {"__main__", "datatrove.executor.local"}


def preload_in_forkserver(steps: Sequence[Any]) -> list[str]:
    """Have the "forkserver" import, once, the modules that the workers running `steps` need: those of
    the steps and of the objects they hold (per-language filters, word tokenizers), and the dependencies
    these declare in datatrove's `_requires_dependencies` (spaCy, lingua, datasets), which they import
    only when they run. Each worker forked from the server then starts with them loaded.

    Otherwise every worker imports them after unpickling its executor: spaCy alone is ~3 s of CPU, paid
    by each worker of each stage (a MinHash bucket stage starts one per bucket). The server starts with
    the first pool of the process and keeps its list, so the modules accumulate over every executor
    built before it starts (`streaming` builds all of its stages first). Returns the list now set."""
    import multiprocess

    for step in steps:
        _collect_modules(step, _FORKSERVER_PRELOAD, depth=3)
    modules = sorted(_FORKSERVER_PRELOAD)
    multiprocess.get_context("forkserver").set_forkserver_preload(modules)
    return modules


def _collect_modules(obj: Any, into: set[str], depth: int) -> None:
    """Add the module of `obj`'s class and its declared dependencies, then those of what it pickles
    (`__getstate__`), `depth` levels down through attributes, lists and dicts."""
    if isinstance(obj, dict):
        for value in obj.values():
            _collect_modules(value, into, depth)
        return
    if isinstance(obj, list | tuple):
        for value in obj:
            _collect_modules(value, into, depth)
        return
    if depth == 0 or isinstance(obj, type) or not hasattr(obj, "__dict__"):
        return
    into.add(type(obj).__module__)
    for cls in type(obj).__mro__:
        for dep in getattr(cls, "_requires_dependencies", None) or ():
            into.add(dep[0] if isinstance(dep, tuple) else dep)  # (module, pip name) or one name for both
    try:
        state = obj.__getstate__()
    except Exception:  # noqa: BLE001 - it cannot pickle: the executor will say so, not this optimisation
        return
    if isinstance(state, dict):
        for value in state.values():
            _collect_modules(value, into, depth - 1)


class IncompleteTasksError(RuntimeError):
    """Some tasks of a datatrove stage never marked themselves complete (they failed or were killed)."""


def run_stages(stages: Sequence[PipelineExecutor], settings: ExecutorSettings) -> None:
    """Run `stages` in order (each reads what the previous one wrote) and check every task completed."""
    if settings.kind == "slurm":
        for before, after in zip(stages, stages[1:], strict=False):
            after.depends = before  # submitted together: each array waits for the previous one (afterok)
        stages[-1].run()  # submits every stage (datatrove launches the dependencies first)
        wait_for_slurm(stages, settings.slurm)
        return
    started_ray = _init_ray(settings.ray) if settings.kind == "ray" else False
    try:
        for executor in stages:
            executor.run()
            check_complete(executor)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def check_complete(executor: PipelineExecutor) -> None:
    missing = executor.get_incomplete_ranks(skip_completed=True)
    if missing:
        logs = executor.logging_dir.resolve_paths("logs")
        raise IncompleteTasksError(
            f"{len(missing)} of {executor.world_size} datatrove tasks did not complete (ranks "
            f"{missing[:10]}{'...' if len(missing) > 10 else ''}); their logs are in {logs}"
        )


def wait_for_slurm(
    stages: Sequence[PipelineExecutor],
    options: SlurmOptions,
    queued: Callable[[list[str]], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll until every task of every stage has its completion marker; fail when the jobs left the queue
    without them, or after `options.timeout_hours`."""
    queued = queued or _slurm_jobs_queued
    job_ids = [str(ex.job_id) for ex in stages if getattr(ex, "job_id", None) not in (None, -1)]
    deadline = None if options.timeout_hours is None else time.monotonic() + options.timeout_hours * 3600
    logger.info("waiting for Slurm job(s) %s (polling every %.0f s)", job_ids, options.poll_seconds)
    while True:
        if all(not ex.get_incomplete_ranks(skip_completed=True) for ex in stages):
            return
        if not queued(job_ids):
            for executor in stages:  # a last look: a task may have finished between the two checks
                check_complete(executor)
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"Slurm job(s) {job_ids} still running after {options.timeout_hours} h; they keep running "
                "and a rerun of the node starts over (raise slurm.timeout_hours to wait longer)"
            )
        sleep(options.poll_seconds)


def _slurm_jobs_queued(job_ids: list[str]) -> bool:
    """Whether any of `job_ids` is still pending or running (`squeue`)."""
    if not job_ids:
        return False
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)], capture_output=True, text=True, check=False
    )
    return bool(out.stdout.strip())


def _init_ray(options: RayOptions) -> bool:
    """Connect to (or start) Ray; True when this call started it (so the caller stops it)."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError("executor ray needs the `ray` package: pip install ray") from exc
    if ray.is_initialized():
        return False
    ray.init(address=options.address, ignore_reinit_error=True, log_to_driver=False)
    return True
