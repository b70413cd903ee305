"""The canary: every internal of dlt and tenacity that the code relies on,
one test per assumption (docs/library-internals.md says why each is worth it). After a
version bump, a failure here names the assumption that broke and the module that relies
on it; the behaviour tests then say what it changed."""

import inspect

import pytest


def broke(assumption: str, where: str) -> str:
    return f"library internal changed: {assumption} (relied on by {where}; docs/library-internals.md)"


def test_dlt_offset_paginator_stops_on_its_private_has_next_page_flag():
    from dlt.sources.helpers.rest_client.paginators import OffsetPaginator

    paginator = OffsetPaginator(limit=10, total_path=None)
    assert hasattr(paginator, "_has_next_page"), broke(
        "OffsetPaginator keeps its state in `_has_next_page`", "support_assets/sources/__init__.py"
    )
    paginator._has_next_page = False
    assert paginator.has_next_page is False, broke(
        "setting `_has_next_page` stops OffsetPaginator", "support_assets/sources/__init__.py"
    )
    for name in ("current_value", "value_step", "param_name", "limit"):
        assert hasattr(paginator, name), broke(f"OffsetPaginator.{name}", "support_assets/sources/__init__.py")


def test_dlt_client_wraps_send_in_a_tenacity_retry_with_the_plain_send_underneath():
    import tenacity
    from dlt.sources.helpers import requests as dlt_requests

    session = dlt_requests.Client(request_max_attempts=2).session
    assert isinstance(getattr(session.send, "retry", None), tenacity.BaseRetrying), broke(
        "dlt's Client session.send carries its tenacity Retrying as `.retry`",
        "support_assets/sources/http_session.py",
    )
    assert callable(getattr(session.send, "__wrapped__", None)), broke(
        "dlt's Client session.send is the plain send wrapped (`.__wrapped__`)",
        "support_assets/sources/http_session.py",
    )
    retrying = session.send.retry.copy()
    assert "before_sleep" in inspect.signature(retrying.copy).parameters, broke(
        "tenacity Retrying.copy(before_sleep=..., sleep=...)", "support_assets/sources/http_session.py"
    )
    calls = []
    with pytest.raises(ValueError):
        retrying(lambda: calls.append(1) or (_ for _ in ()).throw(ValueError()))
    assert "attempt_number" in retrying.statistics, broke(
        "tenacity Retrying.statistics['attempt_number']", "support_assets/sources/http_session.py"
    )


def test_dlt_internal_modules_used_by_the_arrow_path_and_validation():
    from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type
    from dlt.common.normalizers.utils import generate_dlt_ids
    from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable
    from dlt.extract.items_transform import ItemTransform

    assert issubclass(CurrentLoadPackageStateNotAvailable, Exception)
    assert hasattr(ItemTransform, "__call__") and "placement_affinity" in dir(ItemTransform), broke(
        "dlt.extract.items_transform.ItemTransform as a resource step", "support_assets/sources/arrow_pages.py"
    )
    ids = generate_dlt_ids(3)
    assert len(ids) == 3 and len(set(ids)) == 3 and all(isinstance(i, str) for i in ids), broke(
        "generate_dlt_ids(n) -> n unique string ids", "support_assets/sources/arrow_pages.py"
    )
    assert py_type_to_sc_type(int) == "bigint" and coerce_value("bigint", "text", "42") == 42, broke(
        "dlt's type_helpers.py_type_to_sc_type / coerce_value", "support_assets/sources/validation.py"
    )


def test_dlt_destination_factories_capabilities_take_a_spec_instance():
    import dlt
    from dlt.common.destination.reference import Destination

    factory = dlt.destinations.duckdb
    for name in ("capabilities", "spec", "adjust_capabilities"):
        assert hasattr(factory, name), broke(f"Destination.{name}", "support_assets/warehouse/destinations.py")
    assert list(inspect.signature(Destination.capabilities).parameters)[1:3] == ["config", "naming"], broke(
        "Destination.capabilities(config, naming)", "support_assets/warehouse/destinations.py"
    )
    assert factory.adjust_capabilities.__func__ is Destination.adjust_capabilities.__func__, broke(
        "dlt's duckdb factory keeps the base adjust_capabilities (which reads no configuration)",
        "support_assets/warehouse/destinations.py",
    )


def test_dagster_dbt_warns_of_a_missing_dbt_core_adapter_with_the_message_metrics_filters():
    from dagster_dbt import DbtCliResource

    from support_assets.defs.metrics import _NO_ADAPTER

    source = inspect.getsource(DbtCliResource.cli)
    assert _NO_ADAPTER in source and "get_dagster_logger" in inspect.getsource(inspect.getmodule(DbtCliResource)), broke(
        "DbtCliResource.cli logs this warning on dagster's builtin logger when it cannot create a dbt-core adapter",
        "support_assets/defs/metrics.py (dbt-core is in .venv-dbt, not in the code location's process)",
    )
