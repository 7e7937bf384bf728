"""An agent's own notification inbox (escalations that named them), cursor paginated."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, FromQuery, QueryParameter

import ticketing
from api.deps import RuntimeDep, SessionDep
from api.security import PrincipalDep, agents_only

T = ["ticketing"]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]


@get(
    "/v1/me/notifications",
    guards=[agents_only],
    tags=T,
    summary="The logged-in agent's notifications, newest first",
    opt={"problems": {422: "validation failed (limit, cursor)"}},
)
async def my_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    unread: FromQuery[bool | None] = None,
    cursor: Cursor = None,
    limit: FromQuery[int] = 50,
) -> dict[str, Any]:
    page = await ticketing.list_notifications(
        session, principal, unread=unread, cursor=cursor, limit=limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@post(
    "/v1/me/notifications/{notification_id:str}/read",
    guards=[agents_only],
    status_code=200,
    tags=T,
    summary="Mark one of my notifications read",
    opt={"problems": {404: "no such notification (or not yours)"}},
)
async def mark_read(
    notification_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return await ticketing.mark_read(session, principal, notification_id, now=runtime.clock.now())


ROUTES: list[Any] = [my_notifications, mark_read]
