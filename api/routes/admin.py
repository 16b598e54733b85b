"""Dead-letter tools (admin scope): parked changes and failed deliveries, listed and retried,
and a hotel's bookings sent again. A hotel's admin key reaches its own hotel; an operator's
key (scope `operator`) every hotel."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth.guard import Principal, same_hotel
from api.context import ApiContext, pool_of
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import BODY, OPT, QueryId, errors, note, parse_query
from api.schemas import DeadLetterQuery, DeliveryRetryRequest, Requeued, ResendRequest
from bridge import parked
from bridge.capture.install import primary_keys
from bridge.delivery import retry
from bridge.live_status import Moves
from bridge.reconcile import Resent, resend
from bridge.service import build_stages

ParkedId = Annotated[int, PathParameter(ge=1, le=9_223_372_036_854_775_807)]
Limit = Annotated[int | None, QueryParameter(ge=1, le=1000)]
PARKED = f"{PREFIX}/admin/parked-changes"


class ParkedChanges(msgspec.Struct):
    parked_changes: list[parked.Parked]


class FailedDeliveries(msgspec.Struct):
    failed: list[retry.FailedDelivery]


def reach(principal: Principal, hotel_id: int | None) -> int | None:
    """The hotel a call acts on: the one named, or every hotel (None), for an operator's key;
    a hotel's admin key only its own (another's is 404, as everywhere)."""
    if "operator" in principal.scopes:
        return hotel_id
    if hotel_id is not None:
        same_hotel(principal, hotel_id)
    return principal.hotel_id


@get(
    PARKED,
    tags=["admin"],
    operation_id="listParkedChanges",
    operation_class=Documented,
    opt=OPT("admin", query=True),
    responses=errors(404),
    summary="Parked changes, oldest first",
)
async def list_parked(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: QueryId = None,
    limit: Limit = None,
) -> ParkedChanges:
    q = parse_query(request, DeadLetterQuery)
    note(request, "parked.list", "parked_change", None, {"hotel_id": q.hotel_id})
    scope = reach(principal, q.hotel_id)
    async with pool_of(ctx).connection() as conn:
        return ParkedChanges(await parked.list_parked(conn, scope, q.limit))


@get(
    f"{PARKED}/{{parked_id:int}}",
    tags=["admin"],
    operation_id="getParkedChange",
    operation_class=Documented,
    opt=OPT("admin"),
    responses=errors(404),
    summary="One parked change, with the change as it was parked",
)
async def show_parked(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    parked_id: ParkedId,
) -> parked.Parked:
    note(request, "parked.show", "parked_change", str(parked_id))
    async with pool_of(ctx).connection() as conn:
        return await parked.show(conn, parked_id, reach(principal, None))


@post(
    f"{PARKED}/{{parked_id:int}}/retry",
    tags=["admin"],
    operation_id="retryParkedChange",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(404),
    summary="Apply a parked change again through the bridge's stages",
    description="Applied: it is removed (`applied: true`). Failing again: it stays parked "
    "with the new error (`applied: false`, `error`).",
)
async def retry_parked(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    parked_id: ParkedId,
) -> parked.RetryResult:
    note(request, "parked.retry", "parked_change", str(parked_id))
    moves = Moves()
    stages = build_stages(ctx.settings, ctx.cache, moves)
    async with pool_of(ctx).connection() as conn:
        keys = await primary_keys(conn, ctx.settings.watched_tables)
        result = await parked.retry(conn, stages, keys, parked_id, reach(principal, None))
    if result.applied:
        # Answers kept from the caches before the change was applied are older than them now.
        moved = moves.written()
        await ctx.retire(sorted(moved.hotels), every=moved.every)
    note(
        request,
        "parked.retry",
        "parked_change",
        str(parked_id),
        result={"applied": result.applied, "error": result.error},
    )
    return result


@delete(
    f"{PARKED}/{{parked_id:int}}",
    tags=["admin"],
    operation_id="dropParkedChange",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(404),
    summary="Drop a parked change for good (answers it as it was)",
)
async def drop_parked(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    parked_id: ParkedId,
) -> parked.Parked:
    note(request, "parked.drop", "parked_change", str(parked_id))
    async with pool_of(ctx).connection() as conn:
        dropped = await parked.drop(conn, parked_id, reach(principal, None))
    note(
        request,
        "parked.drop",
        "parked_change",
        str(parked_id),
        result={"table": dropped.table_name, "op": dropped.op, "error": dropped.error},
    )
    return dropped


@get(
    f"{PREFIX}/admin/deliveries/failed",
    tags=["admin"],
    operation_id="listFailedDeliveries",
    operation_class=Documented,
    opt=OPT("admin", query=True),
    responses=errors(404),
    summary="Failed deliveries, each with the later events of its reservation it holds",
)
async def failed_deliveries(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: QueryId = None,
    limit: Limit = None,
) -> FailedDeliveries:
    q = parse_query(request, DeadLetterQuery)
    note(request, "deliveries.failed", "delivery", None, {"hotel_id": q.hotel_id})
    scope = reach(principal, q.hotel_id)
    async with pool_of(ctx).connection() as conn:
        return FailedDeliveries(await retry.failed(conn, scope, q.limit))


@post(
    f"{PREFIX}/admin/deliveries/retry",
    tags=["admin"],
    operation_id="retryDeliveries",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(*BODY, 404),
    summary="Requeue failed deliveries (a hotel's, or one reservation's)",
)
async def retry_deliveries(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    data: JSONBody[DeliveryRetryRequest],
) -> Requeued:
    booking = str(data.booking_id) if data.booking_id else None
    asked = {"hotel_id": data.hotel_id, "booking_id": booking}
    note(request, "deliveries.retry", "booking" if booking else "delivery", booking, asked)
    scope = reach(principal, data.hotel_id)
    async with pool_of(ctx).connection() as conn, conn.transaction():
        queued = await retry.requeue(conn, data.booking_id, scope)
    note(
        request,
        "deliveries.retry",
        "booking" if booking else "delivery",
        booking,
        asked,
        {"queued": queued},
    )
    return Requeued(queued)


@post(
    f"{PREFIX}/admin/deliveries/resend",
    tags=["admin"],
    operation_id="resendBookings",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(*BODY, 404, 409),
    summary="Send every booking of a hotel (or of a window) again",
    description="An `updated` event with its current state for every reservation of the "
    "hotel (with `since`, those whose check_out is on or after it), queued behind each "
    "reservation's open events. 409 when the hotel does not sync.",
)
async def resend_bookings(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    data: JSONBody[ResendRequest],
) -> Resent:
    asked = {"since": data.since}
    note(request, "deliveries.resend", "hotel", str(data.hotel_id), asked)
    reach(principal, data.hotel_id)
    async with pool_of(ctx).connection() as conn:
        resent = await resend(conn, data.hotel_id, data.since)
    note(
        request,
        "deliveries.resend",
        "hotel",
        str(data.hotel_id),
        asked,
        {"queued": resent.queued, "held_by_failed": resent.held_by_failed},
    )
    return resent


ROUTES = [
    list_parked,
    show_parked,
    retry_parked,
    drop_parked,
    failed_deliveries,
    retry_deliveries,
    resend_bookings,
]
