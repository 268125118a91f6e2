"""A local emulator of COR's Integrations API: a real HTTP server for the demo and the tests.

Its own subpackage: it shares nothing with the client code but the documented contract
(`reconciler.core.resources`: kinds, sources and field tables). Layout, from the wire inwards:

    server.py    HTTP, threads, keep-alive, latency, signals (the only module touching sockets)
    app.py       routing and the endpoints, behind one lock; control.py: /_emulator/ endpoints
    messages.py  Request / Response / Route values;  faults.py: injected faults
    chaos.py     random faults for rehearsals: rate limit, random 5xx, lost answers
    store.py     entities and business rules;  fields.py: body shapes;  model.py: answer shapes
    auth.py      tokens;  errors.py: the error answers

See docs/emulator.md for every behaviour the contract leaves open and how it is answered here.
"""

from __future__ import annotations

from reconciler.emulator.server import EmulatorConfig, EmulatorServer, serve
from reconciler.emulator.store import Store

__all__ = ["EmulatorConfig", "EmulatorServer", "Store", "serve"]
