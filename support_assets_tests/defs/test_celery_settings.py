"""How SUPPORT_CELERY_* turn into the executor's and the workers' Celery settings."""

import yaml
from dagster._config import validate_config
from dagster_celery import celery_executor

from support_assets.defs.celery_executor import CelerySettings, executor_from_env
from support_assets.definitions import build_definitions


def test_without_a_broker_the_code_location_runs_steps_in_the_runs_process(monkeypatch):
    monkeypatch.delenv("SUPPORT_CELERY_BROKER_URL", raising=False)
    monkeypatch.delenv("SUPPORT_EXECUTOR", raising=False)

    assert executor_from_env() is None
    job = build_definitions().resolve_job_def("support_api_sync")
    assert job.executor_def.name == "in_process"


def test_a_broker_url_switches_every_job_to_the_celery_executor(monkeypatch):
    monkeypatch.setenv("SUPPORT_CELERY_BROKER_URL", "redis://:secret-pw@redis.internal:6379/0")
    monkeypatch.setenv("SUPPORT_CELERY_QUEUE", "support_api")

    job = build_definitions().resolve_job_def("support_api_sync")

    assert job.executor_def.name == "support_api_celery"


def test_redis_keeps_results_itself_and_amqp_returns_them_as_messages():
    redis = CelerySettings.from_env({"SUPPORT_CELERY_BROKER_URL": "redis://:pw@h:6379/0"})
    amqp = CelerySettings.from_env({"SUPPORT_CELERY_BROKER_URL": "amqp://u:pw@h:5672//"})
    explicit = CelerySettings.from_env({
        "SUPPORT_CELERY_BROKER_URL": "amqp://u:pw@h:5672//",
        "SUPPORT_CELERY_BACKEND_URL": "redis://h:6379/1",
        "SUPPORT_CELERY_QUEUE": "support_api",
    })

    assert (redis.backend, redis.queue) == ("redis://:pw@h:6379/0", "dagster")
    assert amqp.backend == "rpc://"
    assert (explicit.backend, explicit.queue) == ("redis://h:6379/1", "support_api")
    assert CelerySettings.from_env({}) is None


def test_the_executor_config_names_variables_not_passwords(monkeypatch):
    monkeypatch.setenv("SUPPORT_CELERY_BACKEND_URL", "redis://:backend-pw@h:6379/1")
    settings = CelerySettings(broker="amqp://u:broker-pw@h//", backend="redis://:backend-pw@h:6379/1",
                              queue="support_api")

    config = settings.executor_config()

    assert config["broker"] == {"env": "SUPPORT_CELERY_BROKER_URL"}
    assert config["backend"] == {"env": "SUPPORT_CELERY_BACKEND_URL"}
    assert config["config_source"]["task_default_queue"] == "support_api"
    assert "pw" not in repr(config)
    # And dagster-celery accepts it.
    assert validate_config(celery_executor.config_schema.config_type, config).success


def test_the_workers_config_file_is_the_executors_config_without_a_password(tmp_path, monkeypatch, capsys):
    from dagster._config import post_process_config

    from support_assets.defs import celery_worker

    monkeypatch.setenv("SUPPORT_CELERY_BROKER_URL", "amqp://u:broker-pw@h:5672//")
    monkeypatch.setenv("SUPPORT_CELERY_BACKEND_URL", "redis://:backend-pw@h:6379/1")
    monkeypatch.setenv("SUPPORT_CELERY_QUEUE", "support_api")
    path = tmp_path / "celery-worker.yaml"

    assert celery_worker.main([str(path)]) == 0

    text = path.read_text()
    assert "pw" not in text
    # What `dagster-celery worker start -y` reads: the execution.config block, whose
    # env references it resolves when the worker starts.
    config = yaml.safe_load(text)["execution"]["config"]
    assert config == CelerySettings.from_env().executor_config()
    schema = celery_executor.config_schema.config_type
    assert validate_config(schema, config).success
    resolved = post_process_config(schema, config).value
    assert (resolved["broker"], resolved["backend"]) == ("amqp://u:broker-pw@h:5672//", "redis://:backend-pw@h:6379/1")
    assert "-q support_api" in capsys.readouterr().out


def test_without_a_broker_the_workers_config_file_is_refused_by_name(tmp_path, monkeypatch, capsys):
    from support_assets.defs import celery_worker

    monkeypatch.delenv("SUPPORT_CELERY_BROKER_URL", raising=False)
    path = tmp_path / "celery-worker.yaml"

    assert celery_worker.main([str(path)]) == 2

    assert "SUPPORT_CELERY_BROKER_URL is not set" in capsys.readouterr().err
    assert not path.exists()
