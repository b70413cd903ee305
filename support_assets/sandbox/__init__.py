"""Offline customer-support REST API on loopback, for demos, integration tests and benchmarks."""

from .faults import Drift, Fault
from .server import SandboxServer

__all__ = ["Drift", "Fault", "SandboxServer"]
