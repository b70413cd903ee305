"""A production-shaped deployment for tests: deploy/dagster.yaml as DAGSTER_HOME, its
PostgreSQL variables pointed at the test's database, the warehouse in the same
database, and background processes (daemon, Celery worker) that are always stopped."""

from __future__ import annotations

import os
import sys
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

from support_assets.defs.resources import PROJECT_ROOT

from support_assets_tests.helpers.postgres import HOST, PASSWORD, PORT, USER, Database

DEPLOY_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
T = TypeVar("T")


def deployment_env(tmp_path: Path, db: Database, api_url: str, api_key: str) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    venv_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": HOST,
        "DAGSTER_PG_PORT": str(PORT),
        "DAGSTER_PG_USERNAME": USER,
        "DAGSTER_PG_PASSWORD": PASSWORD,
        "DAGSTER_PG_DB": db.name,
        "SUPPORT_API_BASE_URL": api_url,
        "SUPPORT_API_KEY": api_key,
        "SUPPORT_DESTINATION": "postgres",
        "DESTINATION__POSTGRES__CREDENTIALS": db.url,
        "SUPPORT_DATA_DIR": str(tmp_path / "data"),
    }


class Background:
    """A process in its own session, its output in a file; stop() ends it and its children."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(
            args, env=env, cwd=PROJECT_ROOT, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
            except ProcessLookupError:
                pass
        self._out.close()


def wait_for(what: str, probe: Callable[[], Optional[T]], timeout: float, interval: float = 0.5,
             context: Callable[[], str] = lambda: "") -> T:
    """Polls until probe() returns something truthy; fails naming what it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}\n{context()[-4000:]}")
        time.sleep(interval)


def require_service(name: str, host: str, port: int) -> None:
    """Like postgres.require_server: fail under CI=true, skip elsewhere."""
    import socket

    import pytest

    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        message = f"{name} is not reachable on {host}:{port}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: .ci/run starts it)", pytrace=False)
        pytest.skip(message)
