"""Which commit produced a run: used by the MLflow run tags (`hooks.RunTagsHooks`) and the report card."""

from __future__ import annotations

import subprocess


def git_output(*args: str, cwd: str = ".") -> str | None:
    """Stripped stdout of `git <args>` in `cwd`, or None when git is missing, slow or fails (no repo)."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
