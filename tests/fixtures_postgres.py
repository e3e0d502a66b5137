"""Fixtures that start the packaged PostgreSQL cluster (filled in by the storage work)."""
