"""`dagster dev` (webserver and daemon) in a subprocess, driven through the GraphQL API
that the UI itself uses. Shared by the UI tests; reusable by any test that needs the
real webserver, daemon and run queue.

    with DagsterDev(env, tmp_path) as dev:
        run_id = dev.launch_assets([["support_api", "customer_support_data"]])
        assert dev.wait_for_run(run_id)["status"] == "SUCCESS"

Every wait is bounded; the whole process group (webserver, daemon, code server, run
workers) is ended on exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from support_assets.defs.resources import PROJECT_ROOT

from support_assets_tests.helpers import DAGSTER

LOCATION = "support_assets"  # workspace.yaml's location_name
REPOSITORY = "__repository__"  # the repository a Definitions object becomes
ASSET_JOB = "__ASSET_JOB"  # the implicit job the UI's Materialize button launches

# No telemetry (the network is loopback only) and a fast run queue.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""

# The UI's own mutation (dagster-webserver's LaunchPipelineExecution), trimmed to what we read.
LAUNCH = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id pipelineName } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
  }
}
"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { id status jobName assetSelection { path } }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

RUN_LOGS = """
query RunLogs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message level timestamp stepKey }
      }
    }
    ... on PythonError { message }
  }
}
"""

LOCATION_STATUS = """
query LocationStatus {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
        }
      }
    }
  }
}
"""

# The checks of an asset, which the Materialize button launches with it.
ASSET_CHECKS = """
query AssetChecks($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks { name } } } }
  }
}
"""

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

# A process started in the background by a shell inherits SIGINT ignored, and dagster
# dev maps SIGTERM onto SIGINT's handler, so neither would stop it: exec it with
# SIGINT back to its default.
_WITH_DEFAULT_SIGINT = (
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
)


def free_port() -> int:
    """A port that was free a moment ago (dagster dev takes a number, not port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dagster_home(path: Path) -> Path:
    """A fresh DAGSTER_HOME with this project's test instance settings."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").write_text(INSTANCE_YAML)
    return path


class DagsterDevError(RuntimeError):
    pass


class DagsterDev:
    """`dagster dev` from the repository root, on a free loopback port.

    `env` must hold the project's settings (SUPPORT_API_BASE_URL, SUPPORT_API_KEY,
    SUPPORT_DATA_DIR …); DAGSTER_HOME is set to a fresh folder under `workdir` (with
    `fresh_home=False`, it is left as `env` has it, or unset, as a user would), and
    the process's output goes to `workdir/dagster_dev.log`. The process runs in its
    own process group with SIGINT at its default, so that stop() works as Ctrl-C.
    """

    def __init__(
        self,
        env: dict[str, str],
        workdir: Path,
        cwd: Path = PROJECT_ROOT,
        start_timeout: float = 180,
        command: Optional[Callable[[int], Sequence[str]]] = None,
        fresh_home: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        if fresh_home:
            self.home: Optional[Path] = dagster_home(self.workdir / "dagster_home")
            self.env = {**env, "DAGSTER_HOME": str(self.home)}
        else:
            self.home = Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else None
            self.env = dict(env)
        self.cwd = cwd
        self.start_timeout = start_timeout
        # The command line for a port; another command that ends in `dagster dev` (the
        # README's `make ui`) works as long as it serves that port.
        self.command = command or (lambda port: [DAGSTER, "dev", "--host", "127.0.0.1", "--port", str(port)])
        self.log_path = self.workdir / "dagster_dev.log"
        self.port: Optional[int] = None
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> "DagsterDev":
        for _attempt in range(3):  # another process may take the port between probe and bind
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [*_WITH_DEFAULT_SIGINT, *self.command(self.port)],
                    env=self.env,
                    cwd=self.cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group, ended as a whole in stop()
                )
            try:
                self._wait_until_loaded()
                return self
            except DagsterDevError:
                if "address already in use" not in self.log().lower():
                    self.stop()
                    raise
                self.stop()
        raise DagsterDevError(f"dagster dev found no free port; log:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 30) -> None:
        """Ctrl-C as a terminal sends it (SIGINT to the whole process group) for a clean
        shutdown, then SIGKILL to whatever of the group is left."""
        process, self.process = self.process, None
        if process is None:
            return
        pgid = process.pid  # start_new_session: the group id is the leader's pid
        try:
            os.killpg(pgid, signal.SIGINT)
            process.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)  # run workers and code servers left behind
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> "DagsterDev":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait_until_loaded(self, location: str = LOCATION) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DagsterDevError(
                    f"dagster dev exited with {self.process.returncode}; log:\n{self.log()[-3000:]}"
                )
            try:
                data = self.graphql(LOCATION_STATUS, timeout=10)
            except (OSError, DagsterDevError):  # webserver not listening yet
                time.sleep(0.5)
                continue
            entries = data["workspaceOrError"].get("locationEntries") or []
            loaded = [e for e in entries if e["name"] == location and e["loadStatus"] == "LOADED"]
            if loaded:
                error = loaded[0]["locationOrLoadError"]
                if error and error["__typename"] == "PythonError":
                    raise DagsterDevError(f"code location failed to load: {error['message']}")
                return
            time.sleep(0.5)
        raise DagsterDevError(
            f"dagster dev did not load {location} within {self.start_timeout} s; log:\n{self.log()[-3000:]}"
        )

    # --- GraphQL ----------------------------------------------------------------------

    def graphql(self, query: str, variables: Optional[dict] = None, timeout: float = 30) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            raise DagsterDevError(f"GraphQL HTTP {error.code}: {error.read()[:2000]!r}") from None
        if body.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch_assets(
        self,
        asset_paths: Sequence[Sequence[str]],
        job: str = ASSET_JOB,
        run_config: Optional[dict] = None,
        location: str = LOCATION,
        with_checks: bool = True,
    ) -> str:
        """Launch a run of these assets the way the UI's Materialize button does (the
        Launchpad when `run_config` is given): with the assets' checks, unless
        `with_checks` is false; its id."""
        checks = []
        for path in asset_paths if with_checks else ():
            node = self.graphql(ASSET_CHECKS, {"key": {"path": list(path)}})["assetNodeOrError"]
            found = (node.get("assetChecksOrError") or {}).get("checks") or []
            checks += [{"assetKey": {"path": list(path)}, "name": c["name"]} for c in found]
        params = {
            "selector": {
                "repositoryLocationName": location,
                "repositoryName": REPOSITORY,
                "pipelineName": job,
                "assetSelection": [{"path": list(p)} for p in asset_paths],
                "assetCheckSelection": checks,
            },
            "mode": "default",
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": []},
        }
        result = self.graphql(LAUNCH, {"executionParams": params})["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise DagsterDevError(f"launch failed: {result}")
        return result["run"]["id"]

    def wait_for_location(self, location: str) -> None:
        """Another code location of the workspace, loaded (start() waits for this project's)."""
        self._wait_until_loaded(location)

    def dismiss_community_prompt(self) -> None:
        """What the UI's "Skip" on its join-the-community dialog sends; otherwise the
        dialog covers the page a second after it opens on 127.0.0.1."""
        self.graphql("mutation SetNuxSeen { setNuxSeen }")

    def run(self, run_id: str) -> dict[str, Any]:
        return self.graphql(RUN, {"runId": run_id})["runOrError"]

    def wait_for_run(self, run_id: str, timeout: float = 300, poll: float = 1.0) -> dict[str, Any]:
        """The run once it has finished (SUCCESS, FAILURE or CANCELED); raises after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run.get("status") in FINISHED:
                return run
            if time.monotonic() >= deadline:
                raise DagsterDevError(f"run {run_id} still {run.get('status')} after {timeout} s")
            if self.process is None or self.process.poll() is not None:
                raise DagsterDevError(f"dagster dev exited while run {run_id} ran; log:\n{self.log()[-3000:]}")
            time.sleep(poll)

    def run_messages(self, run_id: str) -> list[dict[str, Any]]:
        """Every message event of the run's event log so far, in order."""
        events, cursor = [], None
        for _page in range(1000):  # bounded; 1000 events a page
            data = self.graphql(RUN_LOGS, {"runId": run_id, "cursor": cursor})["logsForRun"]
            if data["__typename"] != "EventConnection":
                raise DagsterDevError(f"logsForRun: {data}")
            events.extend(e for e in data["events"] if "message" in e)
            cursor = data["cursor"]
            if not data["hasMore"]:
                break
        return events
