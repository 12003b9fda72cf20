"""Workflow service: the regulation's processes as explicit state machines (issue #4)."""
