"""Commerce tables: offers with their capacity, orders, order lines and order history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UtcDateTime, id_column
from core.money import Money

from .domain import OrderStatus


class Offer(Base):
    """Something bookable with a fixed capacity. `available` is the one number the
    database guards: every hold is a conditional update on it, never read-then-write."""

    __tablename__ = "offers"

    id: Mapped[str] = id_column()
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    price_amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    capacity: Mapped[int] = mapped_column(Integer)
    available: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("available <= capacity", name="available_within_capacity"),
        Index("ix_offers_kind_starts_at", "kind", "starts_at"),
        Index("ix_offers_starts_at", "starts_at"),
    )

    @property
    def price(self) -> Money:
        return Money(self.price_amount, self.currency)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(String(8), unique=True)
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(8))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    booking_fee: Mapped[int] = mapped_column(Integer)
    delivery_fee: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    delivery_method: Mapped[str] = mapped_column(String(16))
    delivery_address: Mapped[str | None] = mapped_column(String(500), nullable=True)
    hold_expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", lazy="selectin", order_by="OrderItem.offer_id"
    )

    __table_args__ = (
        Index("ix_orders_status_hold_expires_at", "status", "hold_expires_at"),
        Index("ix_orders_created_at_id", "created_at", "id"),
    )

    @property
    def order_status(self) -> OrderStatus:
        return OrderStatus(self.status)

    def money(self, amount: int) -> Money:
        return Money(amount, self.currency)

    @property
    def total_money(self) -> Money:
        return Money(self.total, self.currency)


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), index=True)
    offer_code: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")


class OrderEvent(Base):
    """One row per status change: who (actor), through which channel, and why."""

    __tablename__ = "order_events"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
