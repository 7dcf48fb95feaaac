"""The results database: one schema in SQLite (embedded default) or PostgreSQL (shared)."""

from host.errors import StoreError
from host.store.location import DB, StoreLocation, default_path, locate
from host.store.results_store import ResultsStore, read_run

__all__ = ["DB", "ResultsStore", "StoreError", "StoreLocation", "default_path", "locate", "read_run"]
