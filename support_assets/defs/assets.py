"""The support API's endpoints as Dagster assets: dagster-dlt's `@dlt_assets`, one asset per
endpoint, all materialized by one step (the op `support_api`)."""

from typing import Iterable, Iterator, Optional

import dagster as dg
import dlt as dlt_lib
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from ..sources.config_file import ENDPOINTS
from ..sources.settings import RETRY, SOURCE_NAME, Endpoint, RetryRules
from .errors import sync_errors
from ..sources.gc_pauses import fewer_gc_pauses
from .metadata import snapshot, with_sync_metadata
from ..sources.progress import SyncProgress, plural
from .resources import SupportApiResource, WarehouseResource
from ..sources import support_api_source
from .sync_config import SyncConfig, endpoints_to_rescan, with_cursor_metadata


class SupportApiTranslator(DagsterDltTranslator):
    """Asset keys `support_api/<endpoint>` in the group `support_api`."""

    def __init__(self, endpoints: Iterable[Endpoint], destination: str) -> None:
        self.descriptions = {e.name: e.description for e in endpoints}
        self.destination = destination

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        name = data.resource.name
        return (
            super()
            .get_asset_spec(data)
            .replace_attributes(
                key=dg.AssetKey([SOURCE_NAME, name]),
                group_name=SOURCE_NAME,
                description=self.descriptions.get(name) or None,
                deps=[],  # the API is not an asset of this code location
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
) -> dg.AssetsDefinition:
    endpoints = tuple(endpoints)
    translator = SupportApiTranslator(endpoints, destination)
    endpoint_by_key = {dg.AssetKey([SOURCE_NAME, e.name]): e for e in endpoints}

    @dlt_assets(
        name=SOURCE_NAME,
        # Placeholders for the specs: only the source's resource names are read, no request
        # is made; the run builds its own source and pipeline (support_api.syncing, warehouse).
        dlt_source=support_api_source("http://unused.invalid", "", endpoints, arrow=False),
        dlt_pipeline=dlt_lib.pipeline(
            pipeline_name=SOURCE_NAME, dataset_name=SOURCE_NAME, pipelines_dir=pipelines_dir
        ),
        dagster_dlt_translator=translator,
        pool=SOURCE_NAME,
        # No retry_policy argument on @dlt_assets. The retries live in the body instead:
        # sync_errors raises RetryRequested with RetryRules' exact waits (2, 4, 8 s, at most
        # 3 retries) or a Failure without retry, so they hold however the sync is started
        # (job, Materialize button, `dagster asset materialize`, dg.materialize). The policy
        # of the same numbers is on the sync job (jobs.py), for anything left unclassified.
    )
    def support_api_assets(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        dlt: DagsterDltResource,
        support_api: SupportApiResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult]:
        # sync_config.py: incremental (default), full_refresh or backfill; whole ranges where the
        # last sync ran out of drift passes (docs/consistency.md).
        rescan = endpoints_to_rescan(context.instance, endpoint_by_key, context.selected_asset_keys)
        plan = config.plan(rescan)
        context.log.info(f"{plan.sync_type.value} sync")
        for name in rescan:
            context.log.warning(f"{name}: the last sync may have missed records; reading its whole range")
        progress = SyncProgress(log=context.log.info)
        # sync_errors: retry what can pass, fail at once on the rest. `syncing` stops the pages
        # fetched ahead when the sync ends, failed or cancelled included.
        with sync_errors(context, retry), warehouse.sync_pipeline() as pipeline, fewer_gc_pauses(), \
                support_api.syncing(endpoints, progress, plan, retry) as source:
            load = warehouse.load_settings  # from the destination's capabilities
            context.log.info(
                f"destination {warehouse.destination}: {load.loader_file_format} files,"
                f" merge strategy {load.merge_strategy}"
                + (f", {load.table_format} tables" if load.table_format else "")
            )
            before = snapshot(pipeline, [e.name for e in endpoints])
            results = dlt.run(
                context=context,
                dlt_source=source,
                dlt_pipeline=pipeline,
                dagster_dlt_translator=translator,
                loader_file_format=load.loader_file_format,
                table_format=load.table_format,
            )
            results = with_sync_metadata(
                results, progress, pipeline, sync_type=plan.sync_type.value, before=before, log=context.log
            )
            yield from with_cursor_metadata(results, pipeline, endpoint_by_key, plan, context.log.info)
        context.log.info(f"fetched {plural(progress.records, 'record')} in {plural(progress.pages, 'page')}")

    return support_api_assets
