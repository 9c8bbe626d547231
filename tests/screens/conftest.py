"""Fixtures for the touch-UI tests: a private Xvfb display and a runner for one UI scenario per process.

Kivy creates one window per process, so each scenario runs ``ui_driver.py`` in a subprocess on the
display (``DISPLAY`` set, ``KIVY_NO_ARGS=1``, ``KIVY_HOME`` and caches in a temporary folder so nothing
is written to ``$HOME``), and the test asserts on the JSON the driver prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "ui_driver.py"


@pytest.fixture(scope="session")
def xdisplay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start Xvfb on a free display number (Xvfb picks it: -displayfd) and stop it afterwards."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("Xvfb is not installed (Debian package xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fh:
            number = fh.readline().strip()
        if not number.isdigit():
            pytest.fail("Xvfb did not report a display number")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ui_env(display: str, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DISPLAY": display,
            "KIVY_NO_ARGS": "1",
            "KIVY_HOME": str(home / "kivy"),
            "KIVY_LOG_MODE": "PYTHON",
            "KIVY_NO_FILELOG": "1",
            "XDG_CACHE_HOME": str(home / "cache"),
            "MESA_SHADER_CACHE_DISABLE": "true",
            "PYTHONPATH": str(HERE.parent.parent) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    env.pop("SDL_VIDEODRIVER", None)
    return env


@pytest.fixture
def run_ui(xdisplay: str, tmp_path: Path) -> Callable[[str], dict[str, Any]]:
    """Run one scenario of ``ui_driver.py``; returns its observations (fails with the driver's trace)."""

    def run(scenario: str) -> dict[str, Any]:
        out = tmp_path / scenario
        proc = subprocess.run(
            [sys.executable, str(DRIVER), scenario, str(out)],
            env=ui_env(xdisplay, tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("UI-RESULT ")]
        if proc.returncode != 0 or not lines:
            pytest.fail(
                f"ui_driver {scenario} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
            )
        result = json.loads(lines[-1][len("UI-RESULT ") :])
        if not result["ok"]:
            pytest.fail(
                f"scenario {scenario} failed: {result['error']}\n{result['trace']}\n"
                f"screen={result['screen']} labels={result['labels']}"
            )
        obs: dict[str, Any] = result["obs"]
        obs["_out"] = str(out)
        return obs

    return run
