"""campus-cctv services: one folder each, each runnable alone as `python -m services.<name>`."""
