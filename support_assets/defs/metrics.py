"""The support metrics: the dbt project in dbt/ as Dagster assets (dagster-dbt), downstream of
the synced tables (docs/metrics.md).

- Each model is asset `support_metrics/<model>` in group `support_metrics`, kinds dbt and
  the warehouse; each dbt source `support_api.<table>` is the sync's asset `support_api/<table>`,
  so the lineage graph runs from the sync to the models.
- Each dbt test is an asset check on its model (dagster-dbt; tests of severity error block).
- Automation: eager after a sync, never while one runs, never when a blocking check on an
  upstream asset failed (METRICS_CONDITION).
- Only where the endpoints sync every table the models read (SOURCE_TABLES), on DuckDB or
  PostgreSQL.
- The manifest: `make install` builds it (`dbt parse`); the code location builds it when it
  loads only if it is missing or older than a file of the dbt project (fresh clone without
  make, an edited model), which costs a few seconds once.
- dbt runs as a command from .venv-dbt (`make install`, dbt/requirements.txt): dbt-core is
  not installed beside Dagster, so no run's process imports it (1.9 s and 70 MB a run,
  docs/performance.md). dagster-dbt supports that; it only needs the dbt executable.
"""

import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ..sources.settings import SOURCE_NAME
from ..warehouse.dbt_profile import DBT_TARGETS, dbt_environment
from ..warehouse.warehouse_destination import DestinationError
from .resources import PROJECT_ROOT, WarehouseResource

GROUP = "support_metrics"
AUTOMATION_SENSOR = f"{GROUP}_automation"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
# The synced tables the models read (dbt/models/sources.yml; test_lineage.py keeps this true).
SOURCE_TABLES = ("customer_support_data", "customers", "ticket_comments")
# What `dbt parse` reads: a change to any of them makes the manifest stale.
_PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models/**/*", "macros/**/*")
# dbt from its own venv (`make install`), else the one on PATH; when neither exists, dagster-dbt's
# error names the venv's path.
_DBT_VENV = PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt"
DBT_EXECUTABLE = str(_DBT_VENV) if _DBT_VENV.exists() else (shutil.which("dbt") or str(_DBT_VENV))
# Before each dbt command, dagster-dbt creates a dbt-core adapter in this process, used only
# for row counts and column metadata, which these assets do not fetch. Without dbt-core here it
# logs this warning, with a traceback, on every metrics run: dropped, as nothing is missing.
_NO_ADAPTER = "An error was encountered when creating a handle to the dbt adapter"

# After each sync (a dependency updated, or the model is missing), not while a sync or the
# model itself runs (both in eager), and only when the blocking checks of the synced tables it
# reads passed (primary_key_unique, required_not_null: checks.py). An upstream model's dbt
# tests are left to dbt: `dbt build` skips what is downstream of a failed test, and waiting for
# them here would split each update into one run per layer of models.
METRICS_CONDITION = (
    dg.AutomationCondition.eager()
    & dg.AutomationCondition.all_deps_blocking_checks_passed().ignore(dg.AssetSelection.groups(GROUP))
).with_label("eager, upstream blocking checks passed")


class _WithoutDbtCoreAdapter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_NO_ADAPTER)


logging.getLogger("dagster.builtin").addFilter(_WithoutDbtCoreAdapter())


class SupportMetricsTranslator(DagsterDbtTranslator):
    """Sources -> the sync's assets `support_api/<table>`; models -> `support_metrics/<model>`
    in group support_metrics, kinds dbt and the warehouse, with METRICS_CONDITION."""

    def __init__(self, destination: str) -> None:
        super().__init__()
        self.destination = destination

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([SOURCE_NAME, dbt_resource_props["name"]])
        return dg.AssetKey([GROUP, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> Optional[str]:
        return GROUP

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> Optional[dg.AutomationCondition]:
        return METRICS_CONDITION

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Optional[DbtProject]) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        # The manifest names the adapter it was parsed with (duckdb); the runs use the warehouse's.
        return spec.replace_attributes(kinds={"dbt", self.destination})


def metrics_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    """The dbt project, its manifest built first if it is missing or stale."""
    project = DbtProject(project_dir=project_dir)
    if _manifest_is_stale(project):
        # What dagster-dbt's project.preparer runs, with this environment's dbt, into a folder
        # of this process's own, then moved into place in one step: `dagster dev`'s code
        # server and daemon load the code location at the same time.
        own = project.target_path / f"parse-{os.getpid()}"
        DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", "--quiet"], target_path=own
        ).wait()
        os.replace(project.project_dir / own / "manifest.json", project.manifest_path)
        shutil.rmtree(project.project_dir / own, ignore_errors=True)
    return project


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    return any(
        path.stat().st_mtime > built
        for pattern in _PROJECT_FILES
        for path in project.project_dir.glob(pattern)
        if path.is_file()
    )


@contextmanager
def dbt_warehouse(warehouse: WarehouseResource) -> Iterator[None]:
    """dbt/profiles.yml's variables, set for the dbt processes started in the block: dagster-dbt
    hands them the environment of this process. Restored after."""
    try:
        variables = dbt_environment(warehouse.destination, warehouse.duckdb_path)
    except DestinationError as exc:  # waiting will not make a setting appear
        raise dg.Failure(str(exc), allow_retries=False) from None
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_metrics_assets(destination: str, project: DbtProject) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name=GROUP,
        dagster_dbt_translator=SupportMetricsTranslator(destination),
        # The syncs' pool: on DuckDB, dbt and a sync would fight over the file's lock.
        pool=SOURCE_NAME,
    )
    def support_metrics(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        with dbt_warehouse(warehouse):
            yield from dbt.cli(["build"], context=context).stream()

    return support_metrics


def build_metrics_definitions(
    destination: str, synced_tables: Iterable[str] = SOURCE_TABLES, project_dir: Path = DBT_PROJECT_DIR
) -> dg.Definitions:
    """The metrics' assets and the dbt resource. None on a destination without a dbt target in
    dbt/profiles.yml, nor when the endpoints do not sync every table the models read (a
    SUPPORT_API_CONFIG without comments, say): the sync works there, the metrics could not."""
    if destination not in DBT_TARGETS or not set(SOURCE_TABLES) <= set(synced_tables):
        return dg.Definitions()
    project = metrics_project(project_dir)
    return dg.Definitions(
        assets=[build_metrics_assets(destination, project)],
        # Evaluates METRICS_CONDITION (run by the daemon: `make ui`, `dagster dev`): named for
        # the UI, and on from the start, with no click in the UI needed.
        sensors=[
            dg.AutomationConditionSensorDefinition(
                AUTOMATION_SENSOR,
                target=dg.AssetSelection.groups(GROUP),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=30,
                description="Updates the support metrics after each sync (docs/metrics.md).",
            )
        ],
        resources={"dbt": DbtCliResource(project_dir=project, target=destination, dbt_executable=DBT_EXECUTABLE)},
    )
