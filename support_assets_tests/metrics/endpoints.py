"""The endpoints of a code location that has the metrics: the default configuration, where it
syncs every table the models read (issue 15's four resources), else that plus the missing ones
(for a branch whose configuration predates them)."""

from support_assets.defs.metrics import SOURCE_TABLES
from support_assets.sources.settings import ENDPOINTS, Endpoint

_PATHS = {
    "customers": "/v1/customers",
    "ticket_comments": "/v1/resource/{resources.customer_support_data.id}/comments",
}


def endpoints_with_metrics() -> tuple:
    names = {endpoint.name for endpoint in ENDPOINTS}
    missing = [table for table in SOURCE_TABLES if table not in names]
    return (*ENDPOINTS, *(Endpoint(name, _PATHS[name]) for name in missing))
