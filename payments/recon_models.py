"""Reconciliation tables: imports (each a recorded run), the counterparty's lines of every
source in one table, Stripe payouts, reconciliation runs, their differences and the
resolutions finance wrote (never deleted; a later run finds them by key and fingerprint)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column

KEY = String(120).with_variant(String(120, collation="C"), "postgresql")


class ReconImport(Base):
    __tablename__ = "recon_imports"

    id: Mapped[str] = id_column()
    source: Mapped[str] = mapped_column(String(16))  # stripe | carrier | partner
    kind: Mapped[str] = mapped_column(String(24))  # stripe_range | stripe_payout | file
    params: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a file's digest
    actor: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    rows_read: Mapped[int] = mapped_column(BigInteger)
    rows_new: Mapped[int] = mapped_column(BigInteger)
    rows_changed: Mapped[int] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ReconLine(Base):
    """One line as the counterparty booked it; amounts signed (a refund is negative)."""

    __tablename__ = "recon_lines"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Keys compare byte-wise ("C"): a day's sorts and index inserts stay fast whatever the
    # database's locale (a linguistic collation is several times slower).
    line_id: Mapped[str] = mapped_column(KEY, primary_key=True)
    match_key: Mapped[str] = mapped_column(KEY)
    kind: Mapped[str] = mapped_column(String(24))  # charge | refund | dispute | adjustment | ...
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    net: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # ok | failed | pending | ...
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    settled_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    payout_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(120), nullable=True)
    category: Mapped[str | None] = mapped_column(String(40), nullable=True)
    charge_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payment_intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    our_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    import_id: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        # BRIN (migration 0018): lines arrive a day's file at a time, in `at` order; a btree
        # kept up to date line by line was a fifth of a day's carrier import.
        Index(
            "ix_recon_lines_at",
            "at",
            postgresql_using="brin",
            postgresql_with={"autosummarize": "on"},
        ),
        # The other sources' few lines share those pages with the carrier's million a day: a
        # btree finds them without reading a day of carrier lines (recon._result_sql names
        # the source as a constant, so the planner can use this partial index).
        Index(
            "ix_recon_lines_source_at",
            "source",
            "at",
            postgresql_where=text("source <> 'carrier'"),
            sqlite_where=text("source <> 'carrier'"),
        ),
        # Only Stripe's lines have a payout: the others cost this index nothing.
        Index(
            "ix_recon_lines_payout",
            "payout_id",
            postgresql_where=text("payout_id IS NOT NULL"),
            sqlite_where=text("payout_id IS NOT NULL"),
        ),
    )


class ReconPayout(Base):
    __tablename__ = "recon_payouts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    arrival_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    import_id: Mapped[str] = mapped_column(String(32))


class ReconRun(Base):
    __tablename__ = "recon_runs"

    id: Mapped[str] = id_column()
    source: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    period_end: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    payout_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    window_hours: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    summary: Mapped[str] = mapped_column(Text)  # JSON: per category count and amounts
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ReconItem(Base):
    """One difference (or match) of a run: our side and theirs, grouped by match key."""

    __tablename__ = "recon_items"

    id: Mapped[str] = id_column()
    run_id: Mapped[str] = mapped_column(ForeignKey("recon_runs.id"))
    category: Mapped[str] = mapped_column(String(32))
    match_key: Mapped[str] = mapped_column(String(120))
    our_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    their_ref: Mapped[str | None] = mapped_column(String(400), nullable=True)
    order_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    our_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    their_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    their_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    our_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    their_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    our_count: Mapped[int] = mapped_column(Integer)
    their_count: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(32))
    resolution_id: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (Index("ix_recon_items_run", "run_id", "category"),)


class ReconResolution(Base):
    """A difference finance explained; audited (who, when, why) and never deleted."""

    __tablename__ = "recon_resolutions"

    id: Mapped[str] = id_column()
    source: Mapped[str] = mapped_column(String(16))
    match_key: Mapped[str] = mapped_column(String(120))
    fingerprint: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(2000))
    actor: Mapped[str] = mapped_column(String(80))
    run_id: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_recon_resolutions_key", "source", "match_key", "fingerprint"),)
