"""Starting a training job on N processes with `accelerate launch`, from a Kedro node.

Kedro runs a node in one process; data parallelism needs N (REFERENCE: `accelerate launch kedro run` would
run every node on every rank and open N MLflow runs). So a node writes a job folder and starts
`accelerate launch [--config_file <accelerate yaml>] --num_processes N -m <worker module> <job>` as a
subprocess: DDP by default, FSDP or DeepSpeed from the accelerate config file, several machines through
the config's `num_machines`/`machine_rank`/`main_process_ip` (or one `srun` per node, see README). The
worker ranks never touch the catalog or MLflow; rank 0 alone writes into the job folder and the node
reads it back. SFT/DPO (`alignment.distributed`) and pretraining (`pretraining.distributed`) share this.

`run_logged` streams the launch's output line by line to `launch.log` and the node's log, and kills its
whole process group after `timeout_s` (a hung collective inside is ended sooner by torch's watchdog);
the ranks, which torch starts in sessions of their own, die with it (`die_with_launcher`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

logger = logging.getLogger(__name__)


class DistributedSettings(BaseModel):
    """`<stage>.distributed` in parameters. `num_processes: 1` trains in the node's own process."""

    model_config = ConfigDict(extra="forbid")

    num_processes: int = Field(1, ge=1, description="ranks in all, over every machine")
    accelerate_config: str | None = Field(
        None, description="accelerate config file (DDP/FSDP/DeepSpeed), relative to the project root"
    )
    main_process_port: int | None = Field(None, ge=1, le=65535, description="None: a free port")
    timeout_s: float | None = Field(
        86_400.0, gt=0, description="kill the launch after this many seconds (None: never)"
    )
    # Several machines: this node runs on machine 0 and starts its ranks; every other machine starts
    # the same worker on the same job folder (README, "Several machines").
    num_machines: int = Field(1, ge=1)
    main_process_ip: str | None = Field(None, description="machine 0's address, with several machines")
    job_dir: str | None = Field(
        None, description="the job folder; with several machines one they all see (None: a temporary one)"
    )

    @model_validator(mode="after")
    def _check_machines(self) -> DistributedSettings:
        if self.num_machines > 1:
            missing = [
                k for k in ("main_process_ip", "main_process_port", "job_dir") if getattr(self, k) is None
            ]
            if missing:
                raise ValueError(
                    f"num_machines={self.num_machines} needs {', '.join(missing)} (every machine must agree)"
                )
            if self.num_processes % self.num_machines:
                raise ValueError(
                    f"num_processes={self.num_processes} is the total over {self.num_machines} machines: "
                    "it must be a multiple of num_machines"
                )
        return self


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_command(
    job_dir: Path,
    settings: DistributedSettings,
    module: str = "llm_lifecycle.training.alignment.worker",
    machine_rank: int = 0,
) -> list[str]:
    """`python -m accelerate.commands.launch ... -m <module> <job_dir>`: one rank of the job per process.

    With `num_machines > 1` it is machine `machine_rank`'s share of the ranks (the node runs machine 0's)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if settings.accelerate_config:
        config = Path(settings.accelerate_config)
        if not config.is_file():
            raise FileNotFoundError(f"distributed.accelerate_config: no such file {config.resolve()}")
        cmd += ["--config_file", str(config)]
    else:
        # Plain DDP; `--multi_gpu` is accelerate's torchrun launcher, which also serves CPU ranks (gloo).
        cmd += ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if settings.num_machines > 1 or not settings.accelerate_config:
        cmd += ["--num_machines", str(settings.num_machines)]
    if settings.num_machines > 1:
        cmd += ["--machine_rank", str(machine_rank), "--main_process_ip", str(settings.main_process_ip)]
    cmd += [
        "--num_processes",
        str(settings.num_processes),
        "--main_process_port",
        str(settings.main_process_port or free_port()),
        # torchrun's per-rank folders (error files) go in the job, not in a `torchelastic_*` left in /tmp
        "--log_dir",
        str(job_dir / "torchelastic"),
        "-m",
        module,
        str(job_dir),
    ]
    return cmd


class LaunchTimeoutError(RuntimeError):
    """The launched job ran past its `timeout_s` and was killed."""


def run_logged(cmd: list[str], env: dict[str, str], log_path: Path, timeout_s: float | None) -> int:
    """Run `cmd`, copying every line it prints to `log_path` and to this logger as it comes; return its
    exit code. After `timeout_s` its whole process group (the launcher and every rank) is killed and
    `LaunchTimeoutError` names the log."""
    timed_out = threading.Event()
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group: a timeout ends the ranks too
        ) as proc,
    ):

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, kill) if timeout_s else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                logger.info("| %s", line.rstrip())
            returncode = proc.wait()
        finally:
            if timer is not None:
                timer.cancel()
    if timed_out.is_set():
        raise LaunchTimeoutError(f"killed after {timeout_s:g} s (distributed.timeout_s); log: {log_path}")
    return returncode


def die_with_launcher() -> None:
    """End this rank when the process that started it ends, however it ends (Linux: PR_SET_PDEATHSIG).

    torch's elastic agent, which `accelerate launch` runs, starts each rank in a session of its own, so a
    SIGKILL of the launch's process group (`run_logged`'s timeout, `kill -9`, the OOM killer) would leave
    the ranks training on, writing the checkpoints that a restarted run writes too. A worker calls this
    first thing; elsewhere than Linux it does nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
        logger.warning("prctl(PR_SET_PDEATHSIG) failed: this rank outlives a killed launcher")
    elif parent == 1 or os.getppid() != parent:  # the launcher was gone before the request took hold
        os._exit(1)


def launch_env(local_processes: int) -> dict[str, str]:
    """The environment of a launch: this machine's ranks share its cores instead of each taking all."""
    per_rank = max(1, (os.cpu_count() or 1) // local_processes)
    threads = os.environ.get("OMP_NUM_THREADS") or str(per_rank)
    return {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": threads}


def wait_for_job(job_dir: Path, timeout_s: float = 3600.0) -> None:
    """Wait for `job_dir/job.json`: with several machines, the ranks of machines 1..N-1 may start first."""
    import time

    path = Path(job_dir) / "job.json"
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if time.monotonic() > deadline:
            raise FileNotFoundError(f"{path}: no job was written in {timeout_s:g} s (is machine 0 running?)")
        time.sleep(2.0)


def launch_job(what: str, job_dir: Path, settings: DistributedSettings, module: str) -> list[int]:
    """Run this machine's ranks of the job in `job_dir` (`launch_command`, output to `launch.log`); raise
    with the log's tail if the launch fails, or unless rank 0 alone left its `saved-rank0` marker.
    Returns the ranks that wrote (`[0]`); `what` names the job in the log and in errors."""
    cmd = launch_command(job_dir, settings, module=module)
    logger.info("%s on %d processes: %s", what, settings.num_processes, " ".join(cmd))
    log = job_dir / "launch.log"
    env = launch_env(settings.num_processes // settings.num_machines)  # ranks must not oversubscribe
    returncode = run_logged(cmd, env, log, settings.timeout_s)
    if returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:])
        raise RuntimeError(
            f"{what} on {settings.num_processes} processes failed (exit {returncode}); "
            f"full log: {log}\n{tail}"
        )
    saved_by = sorted(int(p.stem.removeprefix("saved-rank")) for p in job_dir.glob("saved-rank*"))
    if saved_by != [0]:
        raise RuntimeError(f"expected rank 0 alone to write outputs, got ranks {saved_by}")
    return saved_by
