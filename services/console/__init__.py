"""console: the one door for people — web UI (Chinese first) and HTTP API."""
