"""The state store: the only memory of which COR record each external id became.

`store` (load_state for reading; StateStore for commands that write: journal, compaction,
lock), `codec` (the State value and the one home of the file's shapes), `values` (what its
ids, texts and numbers may be), `journal` (the write-ahead journal), `lock` (one writer at a
time, naming its holder), `schema` (the pydantic models that judge and explain a file that is
not plainly valid). Imports `core`, `errors`, `files` and `memory` (docs/state.md).
"""
