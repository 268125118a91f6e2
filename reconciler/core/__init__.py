"""The functional core: reconciler's vocabulary and every decision, as pure functions.

`manifests → validate → plan → (limits) → render`, and for apply `plan → schedule → send →
record` (docs/architecture.md). Nothing here touches a file, the network, the clock or the
terminal: values in, values out. `resources` (kinds, sources, fields, keys, records),
`validation` (checks across files), `diff` and `plan` (declared against recorded), `limits`
(deletion limits, and the plan made with them), `saved_plan` (what `plan --out` promises),
`audit` and `drift` (where manifests, state and COR disagree). Imports only `core`, `errors`
and the standard library (pydantic for saved plans; deepdiff in `diff` alone).
"""
