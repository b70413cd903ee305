"""The code location holds what the README says it holds."""

import dagster as dg
from dagster_dlt import DagsterDltResource

from support_assets.sources.settings import Endpoint
from support_assets.definitions import build_definitions, defs
from support_assets.defs.resources import SupportApiResource, WarehouseResource
from support_assets.defs.sync_config import SyncConfig
from support_assets_tests.helpers import offset_endpoint


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def synced_keys(definitions: dg.Definitions) -> set[dg.AssetKey]:
    """The assets a sync materializes; not the metrics (docs/metrics.md), nor the stubs of the
    tables their dbt sources name where no endpoint syncs them."""
    graph = definitions.resolve_asset_graph()
    return {key for key in graph.materializable_asset_keys if key.path[0] == "support_api"}


RESOURCES = ["customer_support_data", "customers", "agents", "ticket_comments"]
KEYS = [dg.AssetKey(["support_api", name]) for name in RESOURCES]


def test_one_asset_per_resource_of_the_file_in_the_support_api_group():
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs() if spec.key in synced_keys(defs)}

    assert sorted(specs) == sorted(KEYS)
    for spec in specs.values():
        assert spec.group_name == "support_api"
        assert spec.kinds == {"dlt", "duckdb"}
        assert spec.description


def test_each_resource_syncs_in_a_step_of_its_own_in_the_pool():
    ops = {
        assets.op.name: (set(assets.keys), assets.op.pool)
        for assets in defs.assets
        if assets.op.name.startswith("support_api__")  # not the metrics (docs/metrics.md)
    }

    assert ops == {f"support_api__{name}": ({key}, "support_api") for name, key in zip(RESOURCES, KEYS)}


def test_the_lineage_graph_shows_the_child_under_its_parent():
    graph = defs.resolve_asset_graph()
    tickets, customers, agents, comments = KEYS

    assert graph.get(comments).parent_keys == {tickets}
    # the metrics (docs/metrics.md) are children too
    assert {key for key in graph.get(tickets).child_keys if key.path[0] == "support_api"} == {comments}
    assert all(not graph.get(key).parent_keys for key in (tickets, customers, agents))


def test_a_child_declared_by_a_resolve_param_depends_on_its_parent():
    endpoints = [
        offset_endpoint("customer_support_data", "/v1/resource"),
        Endpoint.of(
            "ticket_comments",
            "/v1/resource/{ticket_id}/comments",
            endpoint={"params": {"ticket_id": {"type": "resolve", "resource": "customer_support_data", "field": "id"}}},
        ),
    ]

    graph = build_definitions(endpoints).resolve_asset_graph()

    assert graph.get(dg.AssetKey(["support_api", "ticket_comments"])).parent_keys == {
        dg.AssetKey(["support_api", "customer_support_data"])
    }


def test_resources_and_the_sync_job():
    resources = defs.resources
    assert isinstance(resources["dlt"], DagsterDltResource)
    assert isinstance(resources["support_api"], SupportApiResource)
    assert isinstance(resources["warehouse"], WarehouseResource)
    assert isinstance(resources["sync"], SyncConfig)
    assert defs.resolve_job_def("support_api_sync").asset_layer.executable_asset_keys == set(KEYS)


def test_the_api_key_is_not_part_of_the_resource_config():
    fields = SupportApiResource.model_fields
    assert "api_key" not in fields
    assert "base_url" in fields


def test_a_second_endpoint_is_one_more_line_of_configuration():
    endpoints = [offset_endpoint("customer_support_data", "/v1/resource"), offset_endpoint("customers", "/v1/customers")]

    keys = synced_keys(build_definitions(endpoints))

    assert keys == {
        dg.AssetKey(["support_api", "customer_support_data"]),
        dg.AssetKey(["support_api", "customers"]),
    }
