"""The audit service fixtures, shared by the CLI tests."""

from tests.audit.test_audit_service import cfg, js

__all__ = ["cfg", "js"]
