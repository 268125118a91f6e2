"""Orchestration over injected edges: what a command does, with COR and the state handed in.

`apply` (a plan through `send`, each success recorded before anything depends on it),
`adoption` (records that already exist in COR: adopt, import), `readback` (the recorded records
read back from COR, for the audit), `scheduler` (which change waits for which), `stopping`
(which failures stop a run), `outcomes` (what happened, record by record), `edges` (the
interfaces of what is injected: Send, Read, Recorder). Imports `core`, `errors` and the plain
parts of `cor` (endpoints, answers); tested with the emulator or fakes.
"""
