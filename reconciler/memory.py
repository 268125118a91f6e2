"""Holding hundreds of thousands of records cheaply: the one pause of the garbage collector.

Shared by the edges and the CLI (never the core): reading manifests and the state, and planning
over them. Imports the standard library only.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc() -> Iterator[None]:
    """Pauses the cyclic garbage collector while hundreds of thousands of acyclic values are
    made (records, manifest entries): each collection would rescan all made so far, for nothing
    to free (3x slower); reference counting still frees everything. At the end, what was made
    goes straight to the oldest generation, as if it had survived collections: resumed plainly,
    the collector would first scan all of it (0.1 s at 100,000 products), then again. Nested
    pauses resume only at the outermost end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():  # else someone froze objects on purpose: leave them
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def spare_the_last_collection() -> None:
    """For a process about to end: what it made will never be freed by a collection, so the
    interpreter's last collection at exit, which would scan every object still alive (a plan's
    100,000 records: 0.2 s), is spared them."""
    gc.freeze()
