"""What a test does when a server of the machine (PostgreSQL, MariaDB) does not answer: skip,
except under CI=true, where it fails: CI has the server (.ci/run starts it), so its absence
is a broken machine, not a reason to pass."""

import os
from typing import NoReturn

import pytest


def unreachable(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: .ci/run starts it)", pytrace=False)
    pytest.skip(message)
