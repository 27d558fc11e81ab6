"""What the platform services share: a database they may only learn at start.

A service is built when the application is composed, but with an embedded
PostgreSQL the connection string exists only once the server is up. So a
service takes either a :class:`~bitnexus.repo.Database` or a function that
returns the running one, and asks for it on each operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from bitnexus.repo import Database
from bitnexus.services.pool import Service

__all__ = ["DatabaseService", "DatabaseSource"]

#: A database, or a function returning the running one (resolved per operation).
DatabaseSource: TypeAlias = "Database | Callable[[], Database]"


class DatabaseService(Service):
    """A :class:`Service` over the repo.

    Args:
        db: the database, or a function returning it.
    """

    def __init__(self, db: DatabaseSource) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        """The database to run this operation on."""
        db = self._db
        return db if isinstance(db, Database) else db()
