"""`--refresh` for `plan` and `apply`: read what COR holds now, before planning.

Part of the CLI shell: reads the recorded records through COR's main API (the reader
`actions/readback.py`, shared with `audit --remote`) and hands the pure core's refresh
(`core/refresh.py`) to `make_plan`. A record that could not be read makes the refresh fail
(exit 1): a plan made on a guess could create a duplicate in COR.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from reconciler.cli.connection import ConnectionOptions
from reconciler.cli.console import stderr_log
from reconciler.core.limits import PlanOptions, of_sources
from reconciler.core.resources import Record, ResourceKey
from reconciler.errors import ReconcileError
from reconciler.output.style import counted

if TYPE_CHECKING:
    from reconciler.core.refresh import Refreshed

_SHOWN = 5  # read errors named in the message; the rest are counted


def read_live_state(
    records: Mapping[ResourceKey, Record], options: PlanOptions, connection: ConnectionOptions
) -> Refreshed | None:
    """COR's view of the recorded records (of `options.sources`, if given), or None without
    --refresh. ReconcileError (exit 1) if any record could not be read."""
    if not options.refresh:
        return None
    from reconciler.core.refresh import refresh  # only with --refresh

    if options.sources:
        records = of_sources(options.sources, records)
    if not records:
        return refresh({}, {})
    from reconciler.actions.readback import read_live  # threads: only when COR is read

    with connection.connect().client() as client:
        reading = read_live(records.values(), client.read, parallelism=connection.parallelism)
    live = refresh(records, reading.answers)
    if live.errors:
        lines = [f"  {error.key} (cor_id {error.cor_id}): {error.message}" for error in live.errors]
        more = len(lines) - _SHOWN
        shown = lines[:_SHOWN] + ([f"  and {more} more"] if more > 0 else [])
        raise ReconcileError(
            f"the refresh could not read {counted(len(live.errors), 'record')} from COR, so "
            "nothing was planned:\n" + "\n".join(shown)
        )
    stderr_log(
        f"Refreshed {counted(len(records), 'record')} from COR in "
        f"{counted(reading.requests, 'request')}."
    )
    return live
