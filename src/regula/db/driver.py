"""Statements run on the database driver's own connection (asyncpg), for the few hottest reads (decision 0030).

SQLAlchemy's async session and its asyncpg adapter cost ~0.5 ms of CPU per audited record read of
``GET /api/v1/entries/{id}`` (the session, the ORM entity, the adapter's cursor and its greenlet switches), about
a third of the whole request's CPU in the application (issue 18 item 3, ``docs/benchmarks.md``). A
:class:`DriverStatement` is still *built* with SQLAlchemy — one definition of the SQL, checked by the same
column types — but compiled once and run by asyncpg itself: ``fetchrow``/``fetchval`` with the driver's own
statement cache, no session, no entity.

The connection is one of the application's pool (``AsyncConnection.get_raw_connection``), so the pool's limits,
its checks and the connection's set-up (time zone, application name, the JSON codecs SQLAlchemy registers on each
connection) are the same as every other statement's. Outside a transaction each statement is its own, as in
decision 0029; inside one (a test's connection) the statements join it.

Keep it for reads and their audit event. Anything that writes domain data goes through the session, where the
audit listeners see it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.expression import Executable

#: An asyncpg ``Connection`` (asyncpg ships no type information).
DriverConnection = Any

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class DriverStatement:
    """A SQLAlchemy Core statement compiled once for asyncpg: its SQL (``$1``, ``$2``…), the names of its bound
    parameters in that order, and each parameter's bind processor (a JSON column's serializer, say)."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    #: the values the statement itself binds (a ``limit(1)``, a literal compared with): used when not given
    defaults: Mapping[str, Any]

    @classmethod
    def of(cls, statement: Executable) -> DriverStatement:
        compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup or ())
        for name in names:
            if compiled.binds[name].expanding:
                raise ValueError(f"{name}: an expanding IN parameter has no fixed place in a prepared statement")
        binds = [compiled.binds[name] for name in names]
        processors = tuple(b.type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for b in binds)
        defaults = {name: b.effective_value for name, b in zip(names, binds, strict=True) if not b.required}
        return cls(str(compiled), names, processors, defaults)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for ``params`` (a name neither given nor bound by the statement is a
        ``KeyError``)."""
        out = []
        for name, processor in zip(self.names, self.processors, strict=True):
            value = params[name] if name in params else self.defaults[name]
            out.append(value if processor is None or value is None else processor(value))
        return out

    async def fetchrow(self, connection: DriverConnection, params: Mapping[str, Any]) -> Any:
        return await connection.fetchrow(self.sql, *self.args(params))

    async def fetchval(self, connection: DriverConnection, params: Mapping[str, Any]) -> Any:
        return await connection.fetchval(self.sql, *self.args(params))
