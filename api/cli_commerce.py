"""Admin commands of the commerce room, registered on `hotline` by api.admin_cli."""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation

import click

import commerce
from api.cli_group import main, run_with_runtime
from core.errors import DomainError
from core.money import Money
from core.runtime import Runtime


def to_minor_units(text: str) -> int:
    """'680', '680.5' or '680.50' yuan -> 68050 fen, exactly (Decimal, never float)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not an amount") from None
    minor = value * 100
    if minor != minor.to_integral_value() or minor < 0:
        raise click.BadParameter("amount must be non-negative with at most 2 decimals")
    return int(minor)


@main.command("create-offer")
@click.option("--kind", type=click.Choice([k.value for k in commerce.OfferKind]), required=True)
@click.option("--title", required=True)
@click.option("--venue", required=True, help="venue, or route such as '北京南 -> 上海虹桥'")
@click.option("--starts-at", required=True, help="ISO 8601 with zone, e.g. 2026-12-24T19:30+08:00")
@click.option("--price", required=True, help="unit price in major units, e.g. 680.00")
@click.option("--capacity", type=int, required=True)
@click.option("--code", default=None, help="short code a caller can read out (generated if empty)")
def create_offer(
    kind: str, title: str, venue: str, starts_at: str, price: str, capacity: int, code: str | None
) -> None:
    """Create a bookable offer (admin)."""
    try:
        when = datetime.fromisoformat(starts_at)
    except ValueError:
        raise click.BadParameter("not an ISO 8601 time", param_hint="--starts-at") from None
    amount = to_minor_units(price)

    async def go(runtime: Runtime) -> commerce.Offer:
        async with runtime.sessions() as session, session.begin():
            return await commerce.create_offer(
                session,
                kind=kind,
                title=title,
                venue=venue,
                starts_at=when,
                price=Money(amount, runtime.settings.currency),
                capacity=capacity,
                code=code,
                currency=runtime.settings.currency,
                now=runtime.clock.now(),
            )

    try:
        offer = run_with_runtime(go)
    except DomainError as exc:
        click.echo(f"refused: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"offer {offer.code} created: id={offer.id} capacity={offer.capacity}")


@main.command("expire-holds")
def expire_holds() -> None:
    """Expire lapsed holds now (the periodic job does this every few seconds)."""
    n = run_with_runtime(commerce.expire_holds_job)
    click.echo(f"{n} orders expired")
