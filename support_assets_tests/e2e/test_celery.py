"""Syncs on Celery workers: the code location with SUPPORT_CELERY_BROKER_URL set runs its
step on a separately started worker (Redis or RabbitMQ as broker), loading into PostgreSQL."""

import json
import signal
import socket
import uuid

import dagster as dg
import kombu
import pytest
import redis

from support_assets_tests.helpers.deployment import Background, deployment_env, require_service, wait_for
from support_assets_tests.helpers import DAGSTER, run_cli, tickets_only_config
from support_assets_tests.helpers.postgres import database

DAGSTER_CELERY = DAGSTER.replace("/dagster", "/dagster-celery")
PYTHON = DAGSTER.replace("/dagster", "/python")
DAEMON = DAGSTER.replace("/dagster", "/dagster-daemon")
TICKETS = "support_api.customer_support_data"


@pytest.fixture
def pg():
    with database() as db:
        yield db


class Broker:
    """A broker on this machine and a queue of the test's own, so that a worker of another
    test run never takes this test's tasks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.queue = f"support_test_{uuid.uuid4().hex[:12]}"
        if kind == "redis":
            require_service("Redis", "127.0.0.1", 6379)
            self.url = "redis://127.0.0.1:6379/0"
            self._redis = redis.Redis(host="127.0.0.1", port=6379)
        else:
            require_service("RabbitMQ", "127.0.0.1", 5672)
            self.url = "amqp://guest:guest@127.0.0.1:5672//"

    def queued(self) -> int:
        """Messages waiting in the queue."""
        if self.kind == "redis":
            # kombu keeps one list per priority step: the queue's name, then name + sep + step.
            keys = self._redis.scan_iter(match=f"{self.queue}*")
            return sum(self._redis.llen(k) for k in keys if self._redis.type(k) == b"list")
        with kombu.Connection(self.url) as conn:
            try:
                return conn.default_channel.queue_declare(self.queue, passive=True).message_count
            except conn.channel_errors:
                return 0  # not declared yet

    def remove_queue(self) -> None:
        if self.kind == "redis":
            for key in self._redis.scan_iter(match=f"*{self.queue}*"):
                self._redis.delete(key)
            self._redis.close()
            return
        with kombu.Connection(self.url) as conn:
            try:
                conn.default_channel.queue_delete(self.queue)
            except conn.channel_errors:
                pass


@pytest.fixture(params=["redis"])
def broker(request):
    broker = Broker(request.param)
    yield broker
    broker.remove_queue()


@pytest.fixture
def env(tmp_path, pg, sandbox, api_key, broker, monkeypatch):
    env = {
        **deployment_env(tmp_path, pg, sandbox.url, api_key),
        "SUPPORT_CELERY_BROKER_URL": broker.url,
        "SUPPORT_CELERY_QUEUE": broker.queue,
        # The tickets alone: one sync step per run, which these tests follow through the broker
        # (every resource's step on a worker: the same path, four times).
        "SUPPORT_API_CONFIG": str(tickets_only_config(tmp_path / "tickets.yaml")),
    }
    # So that this process can open the instance too (dagster.yaml reads DAGSTER_PG_*).
    for name, value in env.items():
        if name.startswith("DAGSTER_PG_"):
            monkeypatch.setenv(name, value)
    return env


def start_worker(env, tmp_path, name) -> Background:
    """The documented start (docs/deployment.md): the config file written from
    SUPPORT_CELERY_*, then dagster-celery's own worker CLI on SUPPORT_CELERY_QUEUE."""
    config = tmp_path / f"{name}-celery-worker.yaml"
    written = run_cli([PYTHON, "-m", "support_assets.defs.celery_worker", str(config)], env)
    assert written.returncode == 0, written.stderr[-3000:]
    worker = Background(
        [DAGSTER_CELERY, "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
         "-q", env["SUPPORT_CELERY_QUEUE"], "-n", name,
         "--", "--concurrency=1", "--without-gossip", "--without-mingle"],
        env, tmp_path / f"{name}.log",
    )
    try:
        wait_for(f"worker {name} to be ready", lambda: " ready." in worker.output(), timeout=60,
                 context=worker.output)
    except BaseException:
        worker.stop()
        raise
    return worker


def execute_sync(env, tmp_path, name) -> Background:
    """`dagster job execute`: the run (and its Celery executor loop) in this process,
    recorded in the PostgreSQL instance of DAGSTER_HOME."""
    return Background(
        [DAGSTER, "job", "execute", "-m", "support_assets.definitions", "-j", "support_api_sync"],
        env, tmp_path / f"{name}.log",
    )


def instance(env):
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def only_run(env):
    with instance(env) as inst:
        runs = inst.get_runs()
        return runs[0] if len(runs) == 1 else None


def engine_messages(env, run_id) -> list[str]:
    with instance(env) as inst:
        return [e.dagster_event.message or "" for e in inst.all_logs(run_id) if e.is_dagster_event]


def celery_workers(env, run_id) -> list[str]:
    """The distinct Celery workers that said they executed a step of the run (the sync
    and its checks are separate steps)."""
    with instance(env) as inst:
        names = [
            e.dagster_event.engine_event_data.metadata["Celery worker"].value
            for e in inst.all_logs(run_id)
            if e.is_dagster_event and "in celery worker" in (e.dagster_event.message or "")
        ]
    return list(dict.fromkeys(names))


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"], indirect=True)
def test_a_sync_waits_for_a_worker_then_the_worker_lands_every_record(
    env, tmp_path, pg, sandbox, broker, api_key
):
    run = execute_sync(env, tmp_path, "execute")
    worker = None
    try:
        # No worker yet: the step is a task waiting in the broker, the run waits for it.
        wait_for("the step's task in the broker", lambda: broker.queued() == 1, timeout=120,
                 context=run.output)
        waiting = only_run(env)
        assert waiting.status == dg.DagsterRunStatus.STARTED
        assert any(f'to queue "{env["SUPPORT_CELERY_QUEUE"]}"' in m
                   for m in engine_messages(env, waiting.run_id))
        assert run.proc.poll() is None
        assert len(sandbox.requests) == 0
        assert "support_api" not in {s for (s,) in pg.rows("select schema_name from information_schema.schemata")}

        worker = start_worker(env, tmp_path, "worker")
        assert run.proc.wait(timeout=180) == 0, run.output()[-4000:]
    finally:
        run.stop()
        if worker:
            worker.stop()

    assert broker.queued() == 0
    assert pg.rows(f"select count(*), count(distinct id) from {TICKETS}") == [(250, 250)]
    done = only_run(env)
    assert done.status == dg.DagsterRunStatus.SUCCESS
    # dagster-celery's task reported the step from the worker we started.
    assert celery_workers(env, done.run_id) == ["worker@" + socket.gethostname()]
    assert "fetched 250 records in 3 pages" in worker.output()
    assert api_key not in worker.output() + run.output()
    # The worker's config file names the broker's variable; dagster-celery's CLI keeps the
    # resolved URL in DAGSTER_HOME (docs/deployment.md says so, and to keep it private).
    assert broker.url not in (tmp_path / "worker-celery-worker.yaml").read_text()
    [copy] = (tmp_path / "dagster_home" / "dagster_celery" / "config").glob("*/dagster_celery_config.py")
    assert f"broker_url = '{broker.url}'" in copy.read_text()


def launch(env, tags=None) -> str:
    """`dagster job launch`: through the run queue to the daemon, as the UI would."""
    args = [DAGSTER, "job", "launch", "-m", "support_assets.definitions", "-j", "support_api_sync"]
    if tags:
        args += ["--tags", json.dumps(tags)]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr[-3000:]
    with instance(env) as inst:
        return inst.get_runs(limit=1)[0].run_id


def status(env, run_id) -> dg.DagsterRunStatus:
    with instance(env) as inst:
        return inst.get_run_by_id(run_id).status


def retry_of(env, run_id):
    with instance(env) as inst:
        runs = inst.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return runs[0].run_id if runs else None


def test_a_worker_lost_mid_sync_loads_nothing_and_the_run_fails_at_its_max_runtime(
    env, tmp_path, pg, sandbox, broker
):
    """The daemon on deploy/dagster.yaml launches syncs whose step runs on a Celery worker.
    The worker dies mid-sync: the warehouse keeps the last complete sync, run monitoring
    fails the run at its max runtime, which frees the pool for the next sync, and
    run_retries syncs again."""
    setup = run_cli([DAGSTER, "instance", "concurrency", "set", "support_api", "1"], env)
    assert setup.returncode == 0, setup.stderr[-3000:]
    daemon = Background([DAEMON, "run", "-m", "support_assets.definitions"], env, tmp_path / "daemon.log")
    workers = [start_worker(env, tmp_path, "first")]
    try:
        first = launch(env)
        wait_for("the first sync", lambda: status(env, first) == dg.DagsterRunStatus.SUCCESS,
                 timeout=180, context=daemon.output)
        assert pg.rows(f"select count(*) from {TICKETS}") == [(250,)]

        sandbox.store.update(7, subject="changed upstream")
        # 76 pages, each slowed down: with 8 pages in flight (concurrent_pages.py) fetching
        # takes several seconds, so the kill lands mid-sync.
        sandbox.store.add(7500)
        sandbox.faults.latency = 0.5
        sandbox.requests.clear()
        lost = launch(env, {"dagster/max_runtime": "20"})
        wait_for("the worker to be mid-sync", lambda: len(sandbox.requests) >= 3, timeout=180,
                 context=daemon.output)
        workers[0].stop(signal.SIGKILL)  # the machine is gone: no warm shutdown, no cleanup
        assert len(sandbox.requests) < 76  # pages were left to fetch

        # Nothing half-loaded: the warehouse is exactly what the first sync left.
        assert pg.rows(f"select count(*), count(distinct id) from {TICKETS}") == [(250, 250)]
        assert pg.rows(f"select subject from {TICKETS} where id = 7") != [("changed upstream",)]
        assert status(env, lost) == dg.DagsterRunStatus.STARTED  # waiting, not pretending

        # The next sync queues behind the lost one (support_api pool), a new worker comes.
        sandbox.faults.latency = 0
        following = launch(env)
        workers.append(start_worker(env, tmp_path, "replacement"))
        assert status(env, following) == dg.DagsterRunStatus.QUEUED

        wait_for("run monitoring to fail the lost run",
                 lambda: status(env, lost) == dg.DagsterRunStatus.FAILURE, timeout=180,
                 context=daemon.output)
        assert any("Exceeded maximum runtime of 20 seconds" in m for m in engine_messages(env, lost))
        wait_for("the following sync", lambda: status(env, following) == dg.DagsterRunStatus.SUCCESS,
                 timeout=180, context=daemon.output)
        # run_retries re-runs the lost sync too, once the pool is free again.
        retry = wait_for("the lost run's retry", lambda: retry_of(env, lost), timeout=180,
                         context=daemon.output)
        wait_for("the retry", lambda: status(env, retry) == dg.DagsterRunStatus.SUCCESS,
                 timeout=180, context=daemon.output)
    finally:
        for worker in workers:
            worker.stop()
        daemon.stop()

    assert pg.rows(f"select count(*), count(distinct id) from {TICKETS}") == [(7750, 7750)]
    assert pg.rows(f"select subject from {TICKETS} where id = 7") == [("changed upstream",)]
    host = socket.gethostname()
    assert celery_workers(env, first) == [f"first@{host}"]
    assert celery_workers(env, following) == [f"replacement@{host}"]
    assert celery_workers(env, retry) == [f"replacement@{host}"]
