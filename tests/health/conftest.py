"""The `health` fixture: see harness.py."""

from tests.health.harness import health

__all__ = ["health"]
