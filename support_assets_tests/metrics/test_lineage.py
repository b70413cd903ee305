"""The lineage of the code location: each model downstream of the sync's support_api/* assets,
in group support_metrics, kinds dbt and the warehouse, its dbt tests as checks, the automation
condition on it; the synced assets with Dagster's freshness policy."""

from datetime import timedelta

import dagster as dg

from support_assets.definitions import build_definitions
from support_assets.defs.metrics import GROUP, METRICS_CONDITION, SOURCE_TABLES
from support_assets.sources.config_file import ENDPOINTS

MODELS = {
    "ticket_metrics": {"support_api/customer_support_data", "support_api/ticket_comments"},
    "daily_ticket_metrics": {f"{GROUP}/ticket_metrics"},
    "customer_metrics": {"support_api/customers", f"{GROUP}/ticket_metrics"},
}


def upstream(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    found, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def test_each_model_is_downstream_of_the_synced_tables(warehouse):
    graph = build_definitions(ENDPOINTS, warehouse=warehouse).resolve_asset_graph()

    for model, parents in MODELS.items():
        node = graph.get(dg.AssetKey([GROUP, model]))
        assert {p.to_user_string() for p in node.parent_keys} == parents
        assert node.group_name == GROUP
        assert node.kinds == {"dbt", "duckdb"}
        assert node.automation_condition == METRICS_CONDITION
        assert dg.AssetKey(["support_api", "customer_support_data"]) in upstream(graph, node.key)
        checks = {key.name for key in graph.asset_check_keys if key.asset_key == node.key}
        assert f"unique_{model}_{'day' if model.startswith('daily') else model.split('_')[0] + '_id'}" in checks
        assert any(name.startswith("not_null_") for name in checks)
    read = {p.path[1] for m in MODELS for p in graph.get(dg.AssetKey([GROUP, m])).parent_keys if p.path[0] == "support_api"}
    assert read == set(SOURCE_TABLES)
    relationships = {key.name for key in graph.asset_check_keys if "_in_" in key.name}
    assert relationships == {
        "ticket_metrics_ticket_in_tickets",
        "ticket_metrics_customer_in_customers",
        "customer_metrics_customer_in_customers",
    }


def test_the_models_kinds_follow_the_warehouse(tmp_path, monkeypatch):
    from support_assets.defs.resources import WarehouseResource

    warehouse = WarehouseResource(destination="postgres", pipelines_dir=str(tmp_path / "dlt"))
    graph = build_definitions(ENDPOINTS, warehouse=warehouse).resolve_asset_graph()
    assert graph.get(dg.AssetKey([GROUP, "ticket_metrics"])).kinds == {"dbt", "postgres"}


def test_the_synced_assets_have_a_freshness_policy_from_support_freshness_hours(warehouse, monkeypatch):
    monkeypatch.setenv("SUPPORT_FRESHNESS_HOURS", "6")
    graph = build_definitions(ENDPOINTS, warehouse=warehouse).resolve_asset_graph()

    synced = [node for node in graph.asset_nodes if node.group_name == "support_api"]
    assert synced
    for node in synced:
        assert node.freshness_policy == dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=6))
    # The models follow their upstream through automation, not a window of their own.
    assert graph.get(dg.AssetKey([GROUP, "ticket_metrics"])).freshness_policy is None


def test_the_pk_and_not_null_checks_block_what_is_downstream(warehouse):
    graph = build_definitions(ENDPOINTS, warehouse=warehouse).resolve_asset_graph()
    blocking = {
        key.name for key in graph.asset_check_keys
        if key.asset_key.path[0] == "support_api" and graph.get(key).blocking
    }
    assert blocking == {"primary_key_unique", "required_not_null"}


def test_a_sensor_that_is_on_from_the_start_evaluates_the_models_conditions(warehouse):
    defs = build_definitions(ENDPOINTS, warehouse=warehouse)
    sensor = defs.resolve_sensor_def("support_metrics_automation")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    assert sensor.asset_selection.resolve(graph) == {dg.AssetKey([GROUP, m]) for m in MODELS}
