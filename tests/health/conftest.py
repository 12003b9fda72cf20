"""The `health` fixture and its database: see harness.py."""

from tests.health.harness import health, health_database

__all__ = ["health", "health_database"]
