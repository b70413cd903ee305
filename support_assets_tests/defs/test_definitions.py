"""The code location holds what the README says it holds."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from support_assets.sources.settings import Endpoint
from support_assets.definitions import build_definitions, defs
from support_assets.defs.resources import SupportApiResource, WarehouseResource


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def synced_keys(definitions: dg.Definitions) -> set[dg.AssetKey]:
    """The assets a sync materializes; not the metrics (docs/metrics.md), nor the stubs of the
    tables their dbt sources name where no endpoint syncs them."""
    graph = definitions.resolve_asset_graph()
    return {key for key in graph.materializable_asset_keys if key.path[0] == "support_api"}


def test_one_asset_per_endpoint_in_the_support_api_group():
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if spec.key in synced_keys(defs)}

    assert list(specs) == [dg.AssetKey(["support_api", "customer_support_data"])]
    spec = specs[dg.AssetKey(["support_api", "customer_support_data"])]
    assert spec.group_name == "support_api"
    assert spec.kinds == {"dlt", "duckdb"}
    assert spec.description


def test_resources_and_the_sync_job():
    resources = defs.resources
    assert isinstance(resources["dlt"], DagsterDltResource)
    assert isinstance(resources["support_api"], SupportApiResource)
    assert isinstance(resources["warehouse"], WarehouseResource)
    assert defs.resolve_job_def("support_api_sync").asset_layer.executable_asset_keys == {
        dg.AssetKey(["support_api", "customer_support_data"])
    }


def test_the_api_key_is_not_part_of_the_resource_config():
    fields = SupportApiResource.model_fields
    assert "api_key" not in fields
    assert "base_url" in fields


def test_a_second_endpoint_is_one_more_line_of_configuration():
    endpoints = [Endpoint("customer_support_data", "/v1/resource"), Endpoint("customers", "/v1/customers")]

    keys = synced_keys(build_definitions(endpoints))

    assert keys == {
        dg.AssetKey(["support_api", "customer_support_data"]),
        dg.AssetKey(["support_api", "customers"]),
    }
