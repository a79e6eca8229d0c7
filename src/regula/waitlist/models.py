"""The individualized queue: one entry per citizen per OCI, by municipality of origin, consolidated by UF
(Portaria GM/MS 3.492/2024 as amended, art. 14 §1–2), with its whole history kept."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Optional, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import relationship
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Relationship, SQLModel

from regula.db.base import utcnow

# Statuses in which an entry still occupies the citizen's place for that OCI (mirrors states.ACTIVE_STATUSES;
# a test keeps them equal). One active entry per citizen per OCI is enforced by a partial unique index.
ACTIVE_STATUS_SQL = (
    "status IN ('aguardando_teleconsulta', 'solicitada', 'em_analise', 'devolvida', 'autorizada', 'agendada', "
    "'confirmada', 'em_atendimento', 'faltou', 'suspensa')"
)


class RegulationScope(SQLModel, table=True):
    """How far a health region's queues reach, as its PAR defines (Portaria 3.492/2024 art. 9): the region
    itself, its macro-region, or the whole UF."""

    __tablename__ = "regulation_scope"
    __audited__ = True

    health_region_code: str = Field(sa_column=Column(String(5), primary_key=True))
    scope_kind: str = Field(sa_column=Column(String(10), nullable=False))  # region | macro | uf
    # The CIB/CIR approval of the region's PAR: for six months after it, referrals may name a secondary
    # procedure compatible with an OCI instead of the OCI (amendment to 3.492/2024, art. 14 §2).
    par_approved_on: date | None = Field(default=None, sa_column=Column(Date))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class PriorityPolicyVersion(SQLModel, table=True):
    """A version of the priority policy of one queue (``queue_key`` = ``OCI:kind:code``), of every queue of an OCI
    (``OCI:*``) or the default (``*``). The newest version of the most specific key applies."""

    __tablename__ = "priority_policy"
    __audited__ = True
    __table_args__ = (UniqueConstraint("queue_key", "version"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    queue_key: str = Field(sa_column=Column(String(40), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    params: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class QueueCapacity(SQLModel, table=True):
    """Capacity offered per week for an OCI in a scope: the PAR's planned quantity (art. 9 IV as amended) until
    provider agendas give the real figure. Estimates of waiting time come from it."""

    __tablename__ = "queue_capacity"
    __audited__ = True

    oci_code: str = Field(sa_column=Column(String(10), primary_key=True))
    scope_kind: str = Field(sa_column=Column(String(10), primary_key=True))
    scope_code: str = Field(sa_column=Column(String(7), primary_key=True))
    weekly_capacity: int = Field(sa_column=Column(Integer, nullable=False))
    source: str = Field(default="par", sa_column=Column(String(10), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


_T = TypeVar("_T")


def _daily(name: str, kind: type[_T]) -> hybrid_property[_T | None]:
    """``WaitlistEntry.<name>``, one of the daily figures kept in ``waitlist_standing`` (``kind`` types it)."""

    def get(entry: WaitlistEntry) -> _T | None:
        standing = entry._standing()
        return cast("_T | None", getattr(standing, name)) if standing is not None else None

    def expression(cls: Any) -> ColumnElement[_T | None]:
        return _standing_sql(name)

    return hybrid_property(get, expr=expression)


class WaitlistEntry(SQLModel, table=True):
    __tablename__ = "waitlist_entry"
    __audited__ = True
    __table_args__ = (
        Index(
            "uq_waitlist_entry_active_citizen_oci",
            "citizen_id",
            "oci_code",
            unique=True,
            postgresql_where=text(ACTIVE_STATUS_SQL),
        ),
        # A queue's waiting entries. What the daily work rewrites (score, position, estimates) is not here at all but
        # in ``waitlist_standing`` (decision 0034), whose own pages keep room for heap-only rewrites.
        Index(
            "ix_waitlist_entry_queue",
            "oci_code",
            "scope_kind",
            "scope_code",
            postgresql_where=text("status = 'autorizada'"),
        ),
        Index("ix_waitlist_entry_status_uf", "status", "uf"),
        UniqueConstraint("external_source", "external_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    protocol: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    citizen_id: int = Field(sa_column=Column(BigInteger, ForeignKey("citizen.id"), nullable=False, index=True))
    oci_code: str = Field(sa_column=Column(String(10), nullable=False))
    catalog_competencia: str = Field(sa_column=Column(String(6), nullable=False))
    # During the six months after the PAR's approval a referral may name a secondary procedure compatible
    # with the OCI instead of the OCI (amendment, art. 14 §2); it is kept as asked and mapped to the OCI.
    requested_procedure_code: str | None = Field(default=None, sa_column=Column(String(10)))
    cid_code: str = Field(sa_column=Column(String(4), nullable=False))
    risk_class: str = Field(sa_column=Column(String(10), nullable=False))
    risk_justification: str = Field(sa_column=Column(Text, nullable=False))
    checklist: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    # The OCI's referral protocol the referral was checked against (art. 10 §1 III; decision 0020): its version
    # (0 = the default protocol, none stored; NULL = before protocols were data) and the exams declared.
    protocol_version: int | None = Field(default=None, sa_column=Column(Integer))
    exams: list[str] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    requesting_cnes: str = Field(sa_column=Column(String(7), nullable=False))
    requesting_ine: str | None = Field(default=None, sa_column=Column(String(10)))
    professional_cns: str | None = Field(default=None, sa_column=Column(String(15)))
    professional_cbo: str | None = Field(default=None, sa_column=Column(String(6)))
    # Municipality of origin (the citizen's residence when referred) and the queue it belongs to.
    municipality_ibge: str = Field(sa_column=Column(String(7), ForeignKey("municipality.ibge_code"), nullable=False))
    uf: str = Field(sa_column=Column(String(2), nullable=False))
    scope_kind: str = Field(sa_column=Column(String(10), nullable=False))
    scope_code: str = Field(sa_column=Column(String(7), nullable=False))
    status: str = Field(sa_column=Column(String(24), nullable=False))
    status_changed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    external_source: str | None = Field(default=None, sa_column=Column(String(32)))
    external_id: str | None = Field(default=None, sa_column=Column(String(64)))
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    authorized_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    max_days: int = Field(sa_column=Column(Integer, nullable=False))
    suspended_days: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    paused_since: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    escalated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    created_by: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))

    # Its standing row (decision 0034), loaded with the entry (a LEFT join: an entry outer-joined in a query stays
    # optional). View-only: the figures are written in SQL only (the refresh, ``service.recompute_positions``,
    # ``service.rescore``).
    standing: Optional["WaitlistStanding"] = Relationship(  # noqa: UP037, UP045 (SQLModel resolves the name)
        sa_relationship=relationship("WaitlistStanding", lazy="joined", uselist=False, viewonly=True)
    )

    def audit_place(self) -> tuple[str | None, str | None]:
        return self.uf, self.municipality_ibge

    # Its daily figures, through the standing row: on an entry, the loaded row's value; in a query, a correlated
    # look-up by the key.
    score: ClassVar[hybrid_property[int | None]] = _daily("score", int)
    policy_id: ClassVar[hybrid_property[int | None]] = _daily("policy_id", int)
    position: ClassVar[hybrid_property[int | None]] = _daily("position", int)
    queue_size: ClassVar[hybrid_property[int | None]] = _daily("queue_size", int)
    estimate_from: ClassVar[hybrid_property[date | None]] = _daily("estimate_from", date)
    estimate_to: ClassVar[hybrid_property[date | None]] = _daily("estimate_to", date)
    position_updated_at: ClassVar[hybrid_property[datetime | None]] = _daily("position_updated_at", datetime)

    def _standing(self) -> WaitlistStanding | None:
        """The loaded standing row, or None before it was ever loaded (an entry just inserted: its row is made by
        the database's trigger, and an async session cannot load it lazily)."""
        loaded = sa_inspect(self).attrs.standing.loaded_value
        return loaded if isinstance(loaded, WaitlistStanding) else None


class WaitlistStanding(SQLModel, table=True):
    """A waiting entry's daily figures, one row per entry (decision 0034): what the nightly refresh and every
    repositioning rewrite, kept apart from the entry's ~400-byte row so that each rewrite copies ~60 bytes. Made
    with the entry by a trigger (migration 0026, for every writer at once); cleared of its position by another when
    the entry leaves its queue. Half-full pages and no index but the key keep the rewrites heap-only."""

    __tablename__ = "waitlist_standing"
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)

    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), primary_key=True))
    score: int | None = Field(default=None, sa_column=Column(BigInteger))
    policy_id: int | None = Field(default=None, sa_column=Column(BigInteger, ForeignKey("priority_policy.id")))
    position: int | None = Field(default=None, sa_column=Column(Integer))
    queue_size: int | None = Field(default=None, sa_column=Column(Integer))
    estimate_from: date | None = Field(default=None, sa_column=Column(Date))
    estimate_to: date | None = Field(default=None, sa_column=Column(Date))
    position_updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


def _standing_sql(name: str) -> ColumnElement[Any]:
    """A daily figure of the entry in a query: a correlated look-up of its standing row by the key. Statements that
    read the figures of many entries join ``waitlist_standing`` themselves instead."""
    table = WaitlistStanding.__table__  # type: ignore[attr-defined]
    entry = WaitlistEntry.__table__  # type: ignore[attr-defined]
    expression: ColumnElement[Any] = select(table.c[name]).where(table.c.entry_id == entry.c.id).scalar_subquery()
    return expression


class EntryEvent(SQLModel, table=True):
    """The entry's history, append-only (the database refuses UPDATE and DELETE): every transition with its
    actor, time and reason, every score change with the old and new score and policy version."""

    __tablename__ = "waitlist_entry_event"
    __table_args__ = (Index("ix_waitlist_entry_event_entry", "entry_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    entry_id: int = Field(sa_column=Column(BigInteger, ForeignKey("waitlist_entry.id"), nullable=False))
    occurred_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("clock_timestamp()")),
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # created | transition | score | note
    from_status: str | None = Field(default=None, sa_column=Column(String(24)))
    to_status: str | None = Field(default=None, sa_column=Column(String(24)))
    reason_code: str | None = Field(default=None, sa_column=Column(String(32)))
    reason_text: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB(none_as_null=True)))
    actor_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    actor_username: str | None = Field(default=None, sa_column=Column(String(64)))
    actor_role: str | None = Field(default=None, sa_column=Column(String(20)))
