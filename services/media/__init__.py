"""media: the system itself copies and keeps exactly the footage that was approved (issue 12)."""
