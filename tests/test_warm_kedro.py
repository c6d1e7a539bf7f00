"""The tests' warm `kedro` (tests/warm_kedro.py) answers as `python -m kedro` in a new process does."""

from __future__ import annotations

import os
import signal

from tests.kedro_project import SESSION_ENV, cold_kedro, kedro, make_project
from tests.warm_kedro import run_kedro, start_kedro


def test_exit_codes_and_output_are_those_of_a_new_process(tmp_path):
    """The same exit code and answer; log lines differ in their timestamps, and the warnings a library
    gives once at import come from the server, not from each command."""
    project = make_project(tmp_path / "project")
    args = ["registry", "list"]
    warm, cold = kedro(args, project, 120), cold_kedro(args, project, 120)
    listed = [[line for line in run.stdout.splitlines() if line.startswith("- ")] for run in (warm, cold)]
    assert warm.returncode == cold.returncode == 0 and listed[0] == listed[1] and "- toy_world" in listed[0]
    args = ["registry", "describe", "no_such_pipeline"]
    warm, cold = kedro(args, project, 120), cold_kedro(args, project, 120)
    assert warm.returncode == cold.returncode != 0
    assert warm.stderr.split()[-12:] == cold.stderr.split()[-12:] and "no_such_pipeline" in warm.stderr


def test_a_started_command_has_its_output_file_and_an_abandoned_one_is_killed(tmp_path):
    project = make_project(tmp_path / "project")
    log = tmp_path / "run.log"
    first = start_kedro(["run", "--env", "tiny"], project, SESSION_ENV, log)
    assert log.is_file()  # as subprocess.Popen leaves it: a test may read it at once
    second = run_kedro(["registry", "list"], project, 120, SESSION_ENV)  # without waiting for `first`
    assert first.returncode == -signal.SIGKILL and second.returncode == 0
    assert not os.path.exists(f"/proc/{first.pid}")
