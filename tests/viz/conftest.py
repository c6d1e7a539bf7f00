"""Fixtures for the Kedro-Viz checks: the shared helpers of scripts/screenshot_viz.py and a headless Chromium.

Chromium is looked up on PATH (or `CHROMIUM_BIN`); when it is missing and the tests run as root on a
Debian-like machine, it is installed with apt-get (Debian's `chromium` package without its recommended
packages: 19 packages, 10 s once downloaded, where the recommended desktop services, Perl modules and
fonts made it 108 and 18 s; headless rendering needs none of them); otherwise the browser tests are
skipped with the command to run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshot_viz.py"
APT_PACKAGE = "chromium"


@pytest.fixture(scope="session")
def viz() -> ModuleType:
    """scripts/screenshot_viz.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("screenshot_viz", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _apt_install() -> str | None:
    """Install Debian's chromium; return None on success, else why it could not be done."""
    how = f"install it (Debian/Ubuntu: `sudo apt-get install {APT_PACKAGE}`) or point CHROMIUM_BIN at one"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"no Chromium on PATH and not root, so not installing it: {how}"
    if shutil.which("apt-get") is None:
        return f"no Chromium on PATH and no apt-get to install it: {how}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", APT_PACKAGE]

    def apt(cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, check=False, timeout=900, stdin=subprocess.DEVNULL
        )

    try:
        done = apt(install)
        if done.returncode != 0:  # stale or missing package lists: refresh them once
            apt(["apt-get", "update", "-q"])
            done = apt(install)
    except subprocess.TimeoutExpired:
        return f"`apt-get install {APT_PACKAGE}` timed out: {how}"
    if done.returncode != 0:
        return f"`apt-get install {APT_PACKAGE}` failed ({done.stderr.strip()[-500:]}): {how}"
    return None


@pytest.fixture(scope="session")
def chromium(viz) -> str:
    """Path of a headless-capable Chromium, installed with apt-get when missing and possible."""
    browser = viz.find_browser()
    if browser is None:
        why_not = _apt_install()
        browser = viz.find_browser()
        if browser is None:
            pytest.skip(why_not or f"`apt-get install {APT_PACKAGE}` put no browser on PATH")
    return browser
