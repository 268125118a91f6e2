"""Reads the recorded records back from COR's main API, in parallel (docs/audit.md).

Orchestration over injected edges, like `apply.py`: the CLI injects `read` (`CorClient.read`, which
retries 429, 5xx and lost connections), so this is tested with the emulator or any fake. Up to
`parallelism` reads are in flight together on worker threads. A not-found answer says the record is
gone; any other API error is that record's failure, and the other reads go on. The stop policy
(stopping.py) is apply's: an authentication failure (every later read would fail the same way) or
an interrupt stops the reads (those not yet sent are dropped, and it is raised); COR down as a
whole (requests in a row giving up) stops them too, each read not sent then Unread, saying why.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from reconciler.actions.edges import Read
from reconciler.actions.stopping import STOPS_AT_ONCE, StopPolicy
from reconciler.core.drift import Answer, Gone, Unread
from reconciler.core.resources import Record, ResourceKey
from reconciler.errors import ApiError, NotFoundError, TransientError

_NO_ROUTE = "RouteNotFoundError"  # the path itself is unknown: a wrong URL, not a gone record


def read_path(record: Record) -> str:
    """Where the read API serves a record: `clients/25855`, by COR id."""
    return f"{record.key.kind.plural}/{record.cor_id}"


def read_records(
    records: Iterable[Record],
    read: Read,
    *,
    parallelism: int = 8,
    policy: StopPolicy | None = None,
) -> dict[ResourceKey, Answer]:
    """COR's answer for every record, in apply order; AuthError stops and is raised. When
    `policy` (stopping.py) says COR is down, the reads not yet sent are Unread, saying why."""
    ordered = sorted(records, key=lambda record: record.key.sort_key())
    if not ordered:
        return {}
    stop = threading.Event()
    watch = policy or StopPolicy()

    def one(record: Record) -> Answer:
        return _read_one(record, read, stop, watch)

    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="read") as pool:
        try:
            answers = list(pool.map(one, ordered))
        except BaseException:  # AuthError, Ctrl-C: the queued reads end at once, unsent
            stop.set()
            raise
    return {record.key: answer for record, answer in zip(ordered, answers, strict=True)}


def _read_one(record: Record, read: Read, stop: threading.Event, watch: StopPolicy) -> Answer:
    if stop.is_set():
        return Unread(f"not read: the reads were stopped ({watch.reason or 'interrupted'})")
    try:
        answer = dict(read(read_path(record), subject=str(record.key)))
    except STOPS_AT_ONCE:
        stop.set()
        raise
    except NotFoundError as error:
        watch.answered()
        if error.name == _NO_ROUTE:
            return Unread(f"{error} (is the read API URL right?)")
        return Gone()
    except TransientError as error:
        if watch.failed(error):
            stop.set()
        return Unread(str(error))
    except ApiError as error:
        watch.answered()
        return Unread(str(error))
    watch.answered()
    return answer
