"""ingest: the only service that talks to cameras and recorders; owns the camera inventory."""
