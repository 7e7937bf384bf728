"""Tables of the payments room: attempts, refunds, webhook receipts, phone accounts, ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column


class Payment(Base):
    """One payment attempt for one order (card: one PaymentIntent; or one carrier charge)."""

    __tablename__ = "payments"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    order_number: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    method: Mapped[str] = mapped_column(String(24))  # card | carrier_billing
    status: Mapped[str] = mapped_column(String(24), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    booking_fee: Mapped[int] = mapped_column(BigInteger)
    delivery_fee: Mapped[int] = mapped_column(BigInteger)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    disputed_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    pay_token: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    pay_token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    setup_intent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    setup_client_secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    intent_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    payment_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_account_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Finance: the order's channel (takings per channel) and the gateway's own ids and fee.
    channel: Mapped[str | None] = mapped_column(String(8), nullable=True)
    charge_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    balance_transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fee_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # None: not known

    __table_args__ = (Index("ix_payments_created_at", "created_at"),)


class PaymentHistory(Base):
    """Who moved a payment from which status to which, and why."""

    __tablename__ = "payment_history"

    id: Mapped[str] = id_column()
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(80))
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(300))


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[str] = id_column()
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|succeeded|unknown|failed
    reason: Mapped[str] = mapped_column(String(300))
    ticket_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    gateway_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    balance_transaction_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_refunds_gateway_ref", "gateway_ref"),)


class WebhookReceipt(Base):
    """A Stripe event id seen once; the primary key makes the second delivery a no-op."""

    __tablename__ = "stripe_webhook_receipts"

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PaymentIncident(Base):
    """Something a supervisor must look at (e.g. paid after the hold lapsed and sold out)."""

    __tablename__ = "payment_incidents"

    id: Mapped[str] = id_column()
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PhoneAccount(Base):
    """A subscriber's operator account: carrier billing debits it down to -credit_limit."""

    __tablename__ = "phone_accounts"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(String(32), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    credit_limit: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PhoneAccountMovement(Base):
    __tablename__ = "phone_account_movements"

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("phone_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # + credit (top-up, refund), - charge
    kind: Mapped[str] = mapped_column(String(16))  # topup | charge | refund
    reference: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("kind", "reference"),)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    payment_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    refund_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    memo: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)

    __table_args__ = (Index("ix_ledger_transactions_payment_id", "payment_id"),)


class LedgerEntry(Base):
    """One line: amount > 0 is a debit, < 0 a credit; a transaction's lines sum to zero."""

    __tablename__ = "ledger_entries"

    id: Mapped[str] = id_column()
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_ledger_entries_account", "account", "currency"),)
