"""The support API's resources as Dagster assets: one multi_asset per resource, of dagster-dlt's
specs (build_dlt_asset_specs), so each resource syncs in a step (op) of its own,
`support_api__<name>`, with its own dlt pipeline. The resource's checks (checks.py) are the
asset's `check_specs`: the same step evaluates them right after the load, and evaluates them
alone, without a sync, when a run selects only the checks ("Execute checks" in the UI).

A resource that fails (a 5xx that outlasts the retries, a 404 or 401 on its path, bad data) fails
only its step: the other steps land and record their materializations, Dagster's retries re-run
only the failed step, and "re-execute from failure" only it (docs/sync-and-automation.md).

A child resource (`{resources.<parent>.<field>}` in its path) is an asset that depends on its
parent's asset. Its step builds the source with the parent in it, for the parent's records, and
loads only the child (dlt's `with_resources`): its own pipeline keeps its own copy of the
parent's cursor, so an incremental sync asks for the children of the parents changed since the
child's own last sync.
"""

import datetime
from typing import Iterable, Iterator, Optional

import dagster as dg
import dlt as dlt_lib
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData
from dlt.sources import DltSource

from ..sources.config_file import ENDPOINTS
from ..sources.settings import RETRY, SOURCE_NAME, Endpoint, RetryRules
from .checks import DEFAULT_FRESHNESS_LIMIT, Materializations, check_specs, selected_results
from .errors import sync_errors
from ..sources.gc_pauses import fewer_gc_pauses
from .metadata import snapshot, with_sync_metadata
from ..sources.progress import SyncProgress, plural
from ..warehouse.delta_tables import on_filesystem
from ..warehouse.queries import Warehouse
from .resources import SupportApiResource, WarehouseResource, pipeline_name
from ..sources import support_api_source
from .sync_config import SyncConfig, endpoints_to_rescan, with_cursor_metadata


def asset_key(name: str) -> dg.AssetKey:
    """`support_api/<name>`: the asset of the resource `name`."""
    return dg.AssetKey([SOURCE_NAME, name])


def sync_step(key: dg.AssetKey) -> str:
    """The op (step key) that syncs the asset `key`: `support_api__<name>`."""
    return key.to_python_identifier()


class SupportApiTranslator(DagsterDltTranslator):
    """Asset keys `support_api/<resource>` in the group `support_api`; a child depends on its
    parent's asset."""

    def __init__(self, endpoints: Iterable[Endpoint], destination: str) -> None:
        self.endpoints = {e.name: e for e in endpoints}
        self.destination = destination

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        endpoint = self.endpoints.get(data.resource.name)
        parent = endpoint.parent if endpoint else None
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=asset_key(data.resource.name),
                group_name=SOURCE_NAME,
                description=endpoint.description if endpoint else None,
                # The API itself is not an asset of this code location; a parent resource is.
                deps=[asset_key(parent)] if parent else [],
                kinds={"dlt", self.destination},
            )
        )


def retry_policy(rules: RetryRules = RETRY) -> dg.RetryPolicy:
    """Mirrors the HTTP layer's rules, for failures that outlast its own retries and that
    errors.sync_errors does not classify (it turns every error raised in the asset's body
    into a RetryRequested with an exact wait, or a Failure without retry)."""
    return dg.RetryPolicy(
        max_retries=rules.max_retries,
        delay=rules.backoff_factor,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def build_support_api_assets(
    endpoints: Iterable[Endpoint] = ENDPOINTS,
    destination: str = "duckdb",
    retry: RetryRules = RETRY,
    pipelines_dir: Optional[str] = None,
    freshness_limit: datetime.timedelta = DEFAULT_FRESHNESS_LIMIT,
) -> list[dg.AssetsDefinition]:
    """One asset, in a step of its own with its checks, per resource of the config file."""
    endpoints = tuple(endpoints)
    translator = SupportApiTranslator(endpoints, destination)
    # A placeholder for the specs: only its resources' names are read, no request is made; each
    # run builds its own source and pipeline (support_api.syncing, warehouse.sync_pipeline).
    # Building it here also runs rest_api's validation of the config file's resources, so a
    # resource rest_api would reject stops the load, not a run.
    placeholder = support_api_source("http://unused.invalid", "", endpoints, arrow=False)
    return [
        _resource_asset(
            endpoint, endpoints, placeholder.with_resources(endpoint.name), translator, retry, pipelines_dir,
            freshness_limit,
        )
        for endpoint in endpoints
    ]


def _resource_asset(
    endpoint: Endpoint,
    endpoints: tuple[Endpoint, ...],
    placeholder: DltSource,
    translator: SupportApiTranslator,
    retry: RetryRules,
    pipelines_dir: Optional[str],
    freshness_limit: datetime.timedelta,
) -> dg.AssetsDefinition:
    key = asset_key(endpoint.name)
    pipeline = pipeline_name(endpoint.name)
    # The source loads this resource only; a child's source also holds its parents, to request
    # the children of their records, without loading them.
    only = [endpoint.name]

    @dg.multi_asset(
        name=sync_step(key),
        specs=build_dlt_asset_specs(
            dlt_source=placeholder,
            dlt_pipeline=dlt_lib.pipeline(
                pipeline_name=pipeline, dataset_name=SOURCE_NAME, pipelines_dir=pipelines_dir
            ),
            dagster_dlt_translator=translator,
        ),
        # In this step, after the load: no step (and no process, with multiprocess or Celery)
        # of their own.
        check_specs=check_specs(endpoint, freshness_limit),
        # The asset, its checks, or both (the checks alone evaluate without a sync).
        can_subset=True,
        # One step of the pool at a time (limit 1, dagster.yaml): the steps and runs that write
        # the warehouse never overlap, and the checks never read it while a sync writes it.
        pool=SOURCE_NAME,
        # No retry_policy argument here. The retries live in the body instead:
        # sync_errors raises RetryRequested with RetryRules' exact waits (2, 4, 8 s, at most
        # 3 retries) or a Failure without retry, so they hold however the sync is started
        # (job, Materialize button, `dagster asset materialize`, dg.materialize). The policy
        # of the same numbers is on the sync job (jobs.py), for anything left unclassified.
        # A failed blocking check fails the step after its materialization is stored, with
        # Dagster's DagsterAssetCheckFailedError, which no retry policy re-runs.
    )
    def sync_resource(
        context: dg.AssetExecutionContext,
        sync: SyncConfig,
        dlt: DagsterDltResource,
        support_api: SupportApiResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        # The materializations the checks compare (column schema, the last sync's `total`): as
        # stored before this step, then with its own once it yields it.
        stored = Materializations.stored(context.instance, key) if context.selected_asset_check_keys else None
        if key in context.selected_asset_keys:
            yield from _sync(context, sync, dlt, support_api, warehouse, stored)
        elif stored is not None:
            yield from selected_results(context, endpoint, warehouse, stored, freshness_limit)

    def _sync(
        context: dg.AssetExecutionContext,
        sync: SyncConfig,
        dlt: DagsterDltResource,
        support_api: SupportApiResource,
        warehouse: WarehouseResource,
        stored: Optional[Materializations],
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """The sync, then the selected checks (`stored` not None), on the sync's own pipeline and
        connection rather than a pipeline and a connection of their own (but on filesystem)."""
        # sync_config.py: incremental (default), full_refresh or backfill; the whole range where
        # the last sync ran out of drift passes (docs/consistency.md).
        plan = sync.plan(endpoints_to_rescan(context.instance, {key: endpoint}, [key]))
        context.log.info(f"{endpoint.name}: {plan.sync_type.value} sync (dlt pipeline {pipeline})")
        if plan.rescan:
            context.log.warning(f"{endpoint.name}: the last sync may have missed records; reading its whole range")
        progress = SyncProgress(log=context.log.info)
        # sync_errors: retry what can pass, fail at once on the rest, naming the resource.
        # `syncing` stops the pages fetched ahead when the sync ends, failed or cancelled included.
        with sync_errors(context, retry, endpoint.name), warehouse.sync_pipeline(pipeline) as dlt_pipeline, \
                fewer_gc_pauses(), support_api.syncing(endpoints, progress, plan, retry, only) as source:
            load = warehouse.load_settings  # from the destination's capabilities
            context.log.info(
                f"destination {warehouse.destination}: {load.loader_file_format} files,"
                f" merge strategy {load.merge_strategy}"
                + (f", {load.table_format} tables" if load.table_format else "")
            )
            before = snapshot(dlt_pipeline, [endpoint.name])
            results = dlt.run(
                context=context,
                dlt_source=source,
                dlt_pipeline=dlt_pipeline,
                dagster_dlt_translator=translator,
                loader_file_format=load.loader_file_format,
                table_format=load.table_format,
            )
            # One connection for the metadata's and the checks' queries, opened after the load.
            # Not on the filesystem destination: reading its Delta tables needs their
            # `table_format` from the schema at the destination, which the sync's own pipeline
            # does not hold; there the checks read through a pipeline of their own, after the sync.
            on_the_sync = not on_filesystem(dlt_pipeline)
            with Warehouse(dlt_pipeline).connected() as db:
                results = with_sync_metadata(
                    results, progress, dlt_pipeline, sync_type=plan.sync_type.value, before=before,
                    log=context.log, warehouse=db,
                )
                for result in with_cursor_metadata(results, dlt_pipeline, {key: endpoint}, plan, context.log.info):
                    yield result
                    if stored is not None:
                        stored = stored.after(result.metadata or {})
                # Evaluated here, yielded once the sync's connection and HTTP session are closed.
                checks = [] if stored is None or not on_the_sync else list(
                    selected_results(context, endpoint, warehouse, stored, freshness_limit, synced=db)
                )
        counts = progress.endpoints.get(endpoint.name)
        records, pages = (counts.records, counts.pages) if counts else (0, 0)
        context.log.info(f"{endpoint.name}: fetched {plural(records, 'record')} in {plural(pages, 'page')}")
        yield from checks
        if stored is not None and not on_the_sync:
            yield from selected_results(context, endpoint, warehouse, stored, freshness_limit)

    return sync_resource
