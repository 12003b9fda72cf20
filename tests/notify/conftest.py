"""The `notify` fixture: see harness.py."""

from tests.notify.harness import notify

__all__ = ["notify"]
