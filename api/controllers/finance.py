"""Finance routes: reconciliation runs and their differences, counterparty file imports and
the daily takings report (the finance role only). Controllers only; rules live in payments/
(and fulfillment/ for partner invoices)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

import fulfillment
import payments
from api.deps import RuntimeDep, ServicesDep
from api.finance_dates import period, zone_for
from api.idempotency import strict_body
from api.security import PrincipalDep, finance_only
from core.errors import ValidationFailed
from core.money import major_units
from core.runtime import Runtime
from core.text import BOM, spreadsheet_line

TAGS = ["finance"]
SOURCES: dict[str, payments.ReconSource] = {
    **payments.RECON_SOURCES,
    fulfillment.RECON_PARTNER.name: fulfillment.RECON_PARTNER,
}
FILES: dict[str, payments.FileFormat] = {
    "carrier": payments.CARRIER_FILE,
    "partner": fulfillment.PARTNER_FILE,
}
CSV = "text/csv"


class ReconIn(msgspec.Struct, forbid_unknown_fields=True):
    source: str
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    payout: Annotated[str, msgspec.Meta(pattern=r"^po_[A-Za-z0-9]{1,60}$")] | None = None
    window_hours: Annotated[int, msgspec.Meta(ge=0, le=24 * 31)] | None = None


class ResolutionIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


def run_json(run: payments.ReconRun, open_counts: dict[str, int] | None = None) -> dict[str, Any]:
    summary = payments.recon.summary_of(run)
    if open_counts is not None:
        for category, entry in summary.items():
            entry["open"] = open_counts.get(category, 0) if category != "matched" else 0
    return {
        "id": run.id,
        "source": run.source,
        "from": run.period_start.isoformat() if run.period_start else None,
        "to": run.period_end.isoformat() if run.period_end else None,
        "payout": run.payout_id,
        "window_hours": run.window_hours,
        "status": run.status,
        "summary": summary,
        "actor": run.actor,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "items_csv": f"/v1/finance/reconciliations/{run.id}/items.csv",
    }


def import_json(imp: payments.ReconImport) -> dict[str, Any]:
    return {
        "id": imp.id,
        "source": imp.source,
        "kind": imp.kind,
        "params": imp.params,
        "sha256": imp.sha256,
        "status": imp.status,
        "rows_read": imp.rows_read,
        "rows_new": imp.rows_new,
        "rows_changed": imp.rows_changed,
        "error": imp.error,
        "started_at": imp.started_at.isoformat(),
        "finished_at": imp.finished_at.isoformat() if imp.finished_at else None,
    }


async def run_reconciliation(
    runtime: Runtime,
    gateway: object,
    body: ReconIn,
    actor: str,
    progress: payments.recon.Progress | None = None,
) -> payments.ReconRun:
    """Shared by the route and the CLI: Stripe is imported first (range or payout), the
    files of the other sources are imported on their own (POST /v1/finance/imports/...)."""
    source = SOURCES.get(body.source)
    if source is None:
        raise ValidationFailed.field("source", f"must be one of {', '.join(sorted(SOURCES))}")
    if body.payout is not None and (body.source != "stripe" or body.from_ or body.to):
        raise ValidationFailed.field("payout", "only for source stripe, without from and to")
    hours = runtime.settings.recon_window_hours if body.window_hours is None else body.window_hours
    now, sessions = runtime.clock.now(), runtime.sessions
    start = end = None
    if body.payout is None:
        start, end = period(body.from_, body.to, runtime.settings.zone)
    if body.source == "stripe":
        await payments.import_stripe(
            sessions,
            payments.reports_of(gateway),
            start=start,
            end=end,
            payout_id=body.payout,
            actor=actor,
            now=now,
            progress=progress,
        )
    return await payments.recon.reconcile(
        sessions,
        source,
        start=start,
        end=end,
        payout_id=body.payout,
        window=timedelta(hours=hours),
        actor=actor,
        now=now,
        progress=progress,
    )


@post(
    "/v1/finance/reconciliations",
    tags=TAGS,
    summary="Run a reconciliation: {source, from, to} or {source: stripe, payout}",
    guards=[finance_only],
    status_code=201,
    opt={"problems": {404: "payout not imported", 409: "needs PostgreSQL", 503: "Stripe down"}},
)
async def create_reconciliation(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    services: ServicesDep,
    principal: PrincipalDep,
    data: JSONBody[ReconIn],
) -> dict[str, Any]:
    """Imports Stripe's side first when the source is stripe; the run's summary per category."""
    body = await strict_body(request, ReconIn)
    run = await run_reconciliation(runtime, services.gateway, body, principal.actor)
    async with runtime.sessions() as session:
        counts = await payments.recon.open_counts(session, run.id)
    return run_json(run, counts)


@get(
    "/v1/finance/reconciliations/{run_id:str}",
    tags=TAGS,
    summary="A reconciliation run: summary per category (count, amounts, open differences)",
    guards=[finance_only],
    opt={"problems": {404: "no such run"}},
)
async def get_reconciliation(run_id: FromPath[str], runtime: RuntimeDep) -> dict[str, Any]:
    async with runtime.sessions() as session:
        run = await payments.recon.get_run(session, run_id)
        counts = await payments.recon.open_counts(session, run.id)
    return run_json(run, counts)


ITEM_HEADER = (
    "item_id",
    "category",
    "match_key",
    "order_number",
    "our_ref",
    "their_ref",
    "currency",
    "our_amount",
    "their_amount",
    "difference",
    "their_currency",
    "our_status",
    "their_status",
    "our_count",
    "their_count",
    "at",
    "resolved",
    "resolution_note",
    "resolved_by",
    "resolved_at",
)


def _amount(value: int | None) -> Any:
    return "" if value is None else major_units(value)


async def _items_csv(runtime: Runtime, run_id: str, tz: Any) -> AsyncIterator[str]:
    async with runtime.sessions() as session:
        yield BOM + spreadsheet_line(ITEM_HEADER)
        async for item, res in payments.recon.items(session, run_id):
            diff = (item.their_amount or 0) - (item.our_amount or 0)
            yield spreadsheet_line(
                (
                    item.id,
                    item.category,
                    item.match_key,
                    item.order_number or "",
                    item.our_ref or "",
                    item.their_ref or "",
                    item.currency or "",
                    _amount(item.our_amount),
                    _amount(item.their_amount),
                    major_units(diff),
                    item.their_currency or "",
                    item.our_status or "",
                    item.their_status or "",
                    item.our_count,
                    item.their_count,
                    item.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if item.at else "",
                    "yes" if res is not None else "no",
                    res.note if res is not None else "",
                    res.actor if res is not None else "",
                    res.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if res else "",
                )
            )


@get(
    "/v1/finance/reconciliations/{run_id:str}/items.csv",
    tags=TAGS,
    summary="A run's differences, one row per difference (CSV for Excel: BOM, major units)",
    guards=[finance_only],
    media_type=CSV,
    opt={"problems": {404: "no such run"}},
)
async def reconciliation_items_csv(
    run_id: FromPath[str],
    runtime: RuntimeDep,
    tz: Annotated[str | None, QueryParameter(max_length=16)] = None,
) -> Stream:
    zone = zone_for(tz, runtime.settings.zone)
    async with runtime.sessions() as session:
        await payments.recon.get_run(session, run_id)  # 404 before the stream starts
    return Stream(
        _items_csv(runtime, run_id, zone),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="reconciliation-{run_id}.csv"'},
    )


@post(
    "/v1/finance/reconciliations/{run_id:str}/items/{item_id:str}/resolution",
    tags=TAGS,
    summary="Resolve a difference with a note (kept for good; survives re-runs)",
    guards=[finance_only],
    status_code=201,
    opt={"problems": {404: "no such difference", 409: "a match needs no resolution"}},
)
async def resolve_item(
    request: Request[Any, Any, Any],
    run_id: FromPath[str],
    item_id: FromPath[str],
    runtime: RuntimeDep,
    principal: PrincipalDep,
    data: JSONBody[ResolutionIn],
) -> dict[str, Any]:
    body = await strict_body(request, ResolutionIn)
    async with runtime.sessions() as session, session.begin():
        item, res = await payments.recon.resolve(
            session,
            run_id,
            item_id,
            note=body.note,
            actor=principal.actor,
            now=runtime.clock.now(),
        )
        return {
            "item_id": item.id,
            "category": item.category,
            "match_key": item.match_key,
            "resolution": {
                "id": res.id,
                "note": res.note,
                "actor": res.actor,
                "at": res.at.isoformat(),
            },
        }


@post(
    "/v1/finance/imports/{source:str}",
    tags=TAGS,
    summary="Import a carrier settlement or partner invoice file (text/csv body; idempotent)",
    guards=[finance_only],
    status_code=201,
    opt={
        "problems": {422: "bad file (line and column named), or no such file source"},
        "accepts": ("text/csv", "application/octet-stream", "text/plain"),
    },
)
async def import_file(
    request: Request[Any, Any, Any],
    source: FromPath[str],
    runtime: RuntimeDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """The body is the CSV file itself, streamed to the database; README documents columns."""
    fmt = FILES.get(source)
    if fmt is None:
        raise ValidationFailed.field("source", f"must be one of {', '.join(sorted(FILES))}")
    imp = await payments.import_file(
        runtime.sessions,
        fmt,
        request.stream(),
        name=request.headers.get("x-file-name", "upload")[:200],
        actor=principal.actor,
        tz=runtime.settings.timezone,
        now=runtime.clock.now(),
    )
    return import_json(imp)


@get(
    "/v1/finance/reports/daily",
    tags=TAGS,
    summary="Daily takings per channel and method: fees, refunds, disputes, partner costs, net",
    guards=[finance_only],
    opt={"problems": {422: "bad from, to or tz"}},
)
async def daily_report(
    runtime: RuntimeDep,
    start: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
    end: Annotated[str | None, QueryParameter(name="to", max_length=40)] = None,
    tz: Annotated[str | None, QueryParameter(max_length=16)] = None,
) -> dict[str, Any]:
    zone = zone_for(tz, runtime.settings.zone)
    lo, hi = period(start, end, zone)
    name = "UTC" if zone is not runtime.settings.zone else runtime.settings.timezone
    async with runtime.sessions() as session:
        rows = [
            payments.finance_reports.row_json(r)
            async for r in payments.finance_reports.daily(session, start=lo, end=hi, tz=name)
        ]
    return {"from": lo.isoformat(), "to": hi.isoformat(), "time_zone": name, "items": rows}


async def _daily_csv(runtime: Runtime, lo: Any, hi: Any, name: str) -> AsyncIterator[str]:
    async with runtime.sessions() as session:
        rows = payments.finance_reports.daily(session, start=lo, end=hi, tz=name)
        async for line in payments.finance_reports.daily_csv(rows):
            yield line


@get(
    "/v1/finance/reports/daily.csv",
    tags=TAGS,
    summary="Daily takings as CSV for Excel (BOM, major units with currency)",
    guards=[finance_only],
    media_type=CSV,
    opt={"problems": {422: "bad from, to or tz"}},
)
async def daily_report_csv(
    runtime: RuntimeDep,
    start: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
    end: Annotated[str | None, QueryParameter(name="to", max_length=40)] = None,
    tz: Annotated[str | None, QueryParameter(max_length=16)] = None,
) -> Stream:
    zone = zone_for(tz, runtime.settings.zone)
    lo, hi = period(start, end, zone)
    name = "UTC" if zone is not runtime.settings.zone else runtime.settings.timezone
    async with runtime.sessions() as session:
        payments.require_postgres(session)
    return Stream(
        _daily_csv(runtime, lo, hi, name),
        media_type=CSV,
        headers={"Content-Disposition": 'attachment; filename="daily-takings.csv"'},
    )


ROUTES: list[Any] = [
    create_reconciliation,
    get_reconciliation,
    reconciliation_items_csv,
    resolve_item,
    import_file,
    daily_report,
    daily_report_csv,
]
