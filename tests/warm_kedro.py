"""`python -m kedro <args>` for the tests, without paying for the imports each time.

A `kedro run` of the tiny project spends 3-7 s importing torch, transformers, MLflow, TRL and PEFT
before Kedro reads a line of configuration, and the suite runs ~40 of them. A test process gets one
server (`python -m tests.warm_kedro`) that imports what does not depend on the environment (`BASE`:
torch, MLflow, Kedro, ...), and forks from it one server per environment a test uses, which sets the
variables and imports the Hugging Face stack (`HUB`: huggingface_hub, datasets and transformers read
HF_* at import, which is why a test's hub stand-in needs a server of its own). For each command that
server forks a child that does what `python -m kedro <args>` does in a new process: it changes to the
command's folder, reads stdin from /dev/null, writes stdout and stderr to files and runs the `kedro`
module as `__main__`; its exit (atexit handlers, flushing) is a normal interpreter exit. The command
line, the project's settings, hooks and plugins all load in the child, as in a user's shell.

What a child shares with its siblings is the interpreter state as of the imports: the hash seed
(`PYTHONHASHSEED`) and numpy's global generator (the project seeds its own; `random` reseeds itself
at fork). Set `LLM_LIFECYCLE_COLD_KEDRO=1` for a plain subprocess per command.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# Imported once per test process: none of it may read an environment variable that differs between a
# test's environments (`HUB_PREFIXES`), so none of `READS_HUB_VARIABLES` may come in with it (checked).
BASE = (
    "torch",
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "alembic.command",
    "IPython",  # mlflow looks for a notebook on each run
    "git",  # mlflow tags a run with its commit
    "pandas",
    "scipy.stats",
    "matplotlib.pyplot",
    "spacy",  # datatrove's word tokenizers
    "datasketch",
    "lingua",
    "httpx",
    "kedro.framework.cli",
    "kedro.framework.session",
    "kedro.config",
    "kedro_mlflow",
    "kedro_mlflow.framework.cli.cli",
    "kedro_mlflow.framework.hooks",
    "kedro_datasets.json",
    "kedro_datasets.matplotlib",
    "kedro_datasets.pandas",
    "kedro_datasets.partitions",
    "kedro_datasets.text",
    "kedro_datasets.yaml",
    "kedro_viz.launchers.cli",
    "rich.progress",
)
# Imported once per environment, after its variables are set.
HUB = (
    "huggingface_hub",
    "transformers",
    "transformers.trainer",
    "trl",
    "trl.trainer",
    "peft",
    "accelerate",
    "datasets",
    "openai",
    "mlflow.pyfunc",
    "mlflow.transformers",
    "datatrove.pipeline.filters",
)
# What may differ between the environments one test-process server serves, and who reads it at import.
HUB_PREFIXES = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "DATASETS_", "OPENAI_", "TOKENIZERS_")
READS_HUB_VARIABLES = ("huggingface_hub", "transformers", "datasets", "openai")


class WarmKedro:
    """The server of one test process; `run(args, cwd, timeout, env)` answers like `subprocess.run`."""

    def __init__(self, env: dict[str, str]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.warm_kedro"],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the servers' own errors (not the commands') go to the test's stderr
        )
        self._buffer = b""
        self._running: WarmProcess | None = None

    def start(
        self, args: list[str], cwd: Path, env: dict[str, str], stdout: Path, stderr: Path
    ) -> WarmProcess:
        """Start `kedro <args>` with its output in these files (the same file twice: both in one), which
        exist when this returns, as with `subprocess.Popen`. One command at a time: one still running
        from an earlier call (a test that failed before waiting for it) is killed first."""
        if self._running is not None:
            self._running.send_signal(signal.SIGKILL)
            self._running.wait(60)
        for path in (stdout, stderr):
            path.touch()
        request = {"args": args, "cwd": str(cwd), "stdout": str(stdout), "stderr": str(stderr), "env": env}
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        self._proc.stdin.flush()
        pid = self._reply(timeout=600)["pid"]  # the first reply may wait for the imports
        self._running = WarmProcess(self, pid, ["kedro", *args])
        return self._running

    def run(
        self, args: list[str], cwd: Path, timeout: float, env: dict[str, str]
    ) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory(prefix="warm_kedro_") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            proc = self.start(args, cwd, env, out, err)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired as expired:
                proc.send_signal(signal.SIGKILL)  # as subprocess.run does on a timeout: the child only
                proc.wait(60)
                output = out.read_text(), err.read_text()
                raise subprocess.TimeoutExpired(proc.args, timeout, *output) from expired
            return subprocess.CompletedProcess(proc.args, code, out.read_text(), err.read_text())

    def _reply(self, timeout: float) -> dict:
        """The server's next line (unbuffered reads: `select` cannot see what a buffer holds)."""
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            if not select.select([fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("warm kedro", timeout)
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"the warm kedro server exited with {self._proc.wait()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"warm kedro: {reply['error']}")
        return reply

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait(timeout=60)
        self._proc.stdout.close()  # left open, the interpreter's exit closed it with a ResourceWarning


class WarmProcess:
    """A command running in a child of the server, used like a `subprocess.Popen`."""

    def __init__(self, server: WarmKedro, pid: int, args: list[str]) -> None:
        self._server, self.pid, self.args, self.returncode = server, pid, args, None

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = self._server._reply(timeout)["returncode"]
            except subprocess.TimeoutExpired as expired:
                raise subprocess.TimeoutExpired(self.args, timeout) from expired
            self._server._running = None
        return self.returncode


_SERVERS: dict[tuple, WarmKedro] = {}


def server_for(env: dict[str, str]) -> tuple[WarmKedro, dict[str, str]]:
    """This test process's server for `env` (started on first use, stopped when the process exits; one
    more for an environment that differs elsewhere than in `HUB_PREFIXES`), and `env` as it goes."""
    env = {k: v for k, v in env.items() if k != "PYTEST_CURRENT_TEST"}  # pytest changes it every test
    key = tuple(sorted((k, v) for k, v in env.items() if not k.startswith(HUB_PREFIXES)))
    if key not in _SERVERS:
        if not _SERVERS:
            atexit.register(lambda: [server.close() for server in _SERVERS.values()])
        _SERVERS[key] = WarmKedro(env)
    return _SERVERS[key], env


def run_kedro(args: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m kedro <args>` in `cwd` with `env`, forked from this test process's server."""
    server, env = server_for(env)
    return server.run(args, cwd, timeout, env)


def start_kedro(args: list[str], cwd: Path, env: dict[str, str], output: Path) -> WarmProcess:
    """`kedro <args>` started in `cwd` with `env`, stdout and stderr both in `output`."""
    server, env = server_for(env)
    return server.start(args, cwd, env, output, output)


def _import(names: tuple[str, ...]) -> None:
    import gc
    import importlib

    for name in names:
        importlib.import_module(name)
    # The imports' objects out of the collector's reach: a child's `gc.collect()` (the trainers call it)
    # would otherwise walk them all and copy every page it touches (Python's advice for fork servers).
    gc.freeze()


def _serve() -> dict:
    """The test process's server: relay each request to its environment's server (forked on first use)
    until stdin closes, then exit. Returns a request in each command's child (forked further down)."""
    requests, replies = os.fdopen(os.dup(0), "r"), os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # until a child points it at its command's file
    _import(BASE)
    early = [name for name in READS_HUB_VARIABLES if name in sys.modules]
    if early:
        replies.write(json.dumps({"error": f"{early} came in with BASE: they would miss HF_* changes"}))
        replies.write("\n")
        sys.exit(1)
    servers: dict[tuple, tuple] = {}  # environment -> (requests to it, replies from it)
    for line in requests:
        request = json.loads(line)
        key = tuple(sorted(request["env"].items()))
        if key not in servers:
            down, up = os.pipe(), os.pipe()
            if os.fork() == 0:
                requests.close()
                replies.close()
                for to, from_ in servers.values():
                    to.close()
                    from_.close()
                os.close(down[1])
                os.close(up[0])
                return _serve_env(request["env"], os.fdopen(down[0], "r"), os.fdopen(up[1], "w"))
            os.close(down[0])
            os.close(up[1])
            servers[key] = (os.fdopen(down[1], "w"), os.fdopen(up[0], "r"))
        to, from_ = servers[key]
        to.write(line)
        to.flush()
        for _ in range(2):  # the child's pid, then its exit code
            reply = from_.readline() or json.dumps({"error": "an environment's server exited"}) + "\n"
            replies.write(reply)
            replies.flush()
    for to, _ in servers.values():
        to.close()  # each environment's server ends at the end of its requests
    while True:
        try:
            os.wait()
        except ChildProcessError:
            sys.exit(0)


def _serve_env(env: dict[str, str], requests, replies) -> dict:
    """One environment's server: fork a child per request; return the request in the child."""
    os.environ.clear()
    os.environ.update(env)
    _import(HUB)
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            requests.close()
            replies.close()
            return request
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()
    sys.exit(0)


def _become(request: dict) -> None:
    """The child's side of `subprocess.run([python, -m, kedro, *args], cwd, stdin=DEVNULL, ...)`."""
    os.chdir(request["cwd"])
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    if request["stderr"] == request["stdout"]:
        os.dup2(out, 2)  # stderr=subprocess.STDOUT
    else:
        os.dup2(os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
    sys.argv = ["kedro", *request["args"]]  # runpy puts the module's path first, as `-m` does
    sys.path[0] = os.getcwd()  # `python -m` puts the working folder first


if __name__ == "__main__":
    import runpy

    _become(_serve())
    runpy.run_module("kedro", run_name="__main__", alter_sys=True)
