"""Test-control endpoints under `/_emulator/`: NOT part of COR, no authentication.

Part of the emulator subpackage; pure handlers over the `Emulator` (`app.py`), called under its
lock. They let tests, the demo and benchmarks look at and steer the emulated account:
records, injected faults, out-of-band changes, the settings switchable at run time (`config`),
reset, and statistics of requests and of the random faults that struck.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.core.resources import KINDS, Kind
from reconciler.emulator.errors import validation_error
from reconciler.emulator.faults import parse_fault
from reconciler.emulator.messages import Request, Response, Route, json_object, text_or_none
from reconciler.emulator.model import record_view
from reconciler.emulator.store import DELETED_IDS, check_deleted_ids

if TYPE_CHECKING:
    from reconciler.emulator.app import Emulator


def list_records(emulator: Emulator, request: Request, route: Route) -> Response:
    records = [record_view(entity) for entity in emulator.store.entities()]
    return Response(200, {"records": records})


def list_faults(emulator: Emulator, request: Request, route: Route) -> Response:
    return Response(200, {"faults": emulator.faults.pending()})


def add_fault(emulator: Emulator, request: Request, route: Route) -> Response:
    fault = parse_fault(json_object(request.body))
    emulator.faults.add(fault)
    return Response(201, {"fault": fault.describe()})


def clear_faults(emulator: Emulator, request: Request, route: Route) -> Response:
    emulator.faults.clear()
    return Response(200, {"faults": []})


def mutate(emulator: Emulator, request: Request, route: Route) -> Response:
    """`{"kind","source","id","set":{field: value|null}}` or `{..., "delete": true}`: a change
    or a deletion made in COR itself; a deletion frees or keeps the id (`Store.deleted_ids`)."""
    body = json_object(request.body)
    unknown = sorted(set(body) - {"kind", "source", "id", "set", "delete"})
    if unknown:
        raise validation_error(f"unknown field(s): {', '.join(unknown)}")
    kind = _kind(body.get("kind"))
    source, ext_id = text_or_none(body.get("source")), text_or_none(body.get("id"))
    if source is None or ext_id is None:
        raise validation_error("source and id are required strings")
    changes, delete = body.get("set"), body.get("delete", False)
    if delete is True and changes is None:
        entity = emulator.store.delete_out_of_band(kind, source, ext_id)
    elif isinstance(changes, dict) and delete is False:
        entity = emulator.store.overwrite(kind, source, ext_id, changes)
    else:
        raise validation_error('send either "set": {field: value} or "delete": true')
    return Response(200, {"record": record_view(entity)})


def show_config(emulator: Emulator, request: Request, route: Route) -> Response:
    return Response(200, {"config": {"deleted_ids": emulator.store.deleted_ids}})


def set_config(emulator: Emulator, request: Request, route: Route) -> Response:
    """`{"deleted_ids": "freed"|"kept"}`: switched until the next reset; answers the effective
    configuration. Every key is optional (`{}` changes nothing)."""
    body = json_object(request.body)
    unknown = sorted(set(body) - {"deleted_ids"})
    if unknown:
        raise validation_error(f"unknown field(s): {', '.join(unknown)}")
    if "deleted_ids" in body:
        try:
            emulator.store.deleted_ids = check_deleted_ids(body["deleted_ids"])
        except ValueError:
            raise validation_error(
                f"deleted_ids must be one of: {', '.join(DELETED_IDS)}"
            ) from None
    return show_config(emulator, request, route)


def reset(emulator: Emulator, request: Request, route: Route) -> Response:
    """Forget entities, COR id counters, faults, statistics and issued tokens; the settings of
    `config` go back to the configured ones; the random faults start over (same seed, same
    sequence; the rate-limit bucket full)."""
    emulator.store.reset()
    emulator.faults.clear()
    emulator.chaos.reset()
    emulator.tokens.reset()
    emulator.stats.clear()
    return Response(200, {"reset": True})


def stats(emulator: Emulator, request: Request, route: Route) -> Response:
    counts: dict[str, Any] = dict(sorted(emulator.stats.items()))
    return Response(
        200,
        {"requests": counts, "total": sum(counts.values()), "faults": emulator.chaos.counts()},
    )


def _kind(value: Any) -> Kind:
    for kind in KINDS:
        if value in (kind.value, kind.plural):
            return kind
    raise validation_error("kind must be client, brand or product")
