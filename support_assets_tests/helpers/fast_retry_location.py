"""The project's code location with short retry waits, for CLI tests of failing paths
(the defaults wait 2, 4, 8 s at both layers)."""

from support_assets.sources.settings import RetryRules
from support_assets.definitions import build_definitions

defs = build_definitions(retry=RetryRules(backoff_factor=0.01, max_wait=0.05, request_timeout=2))
