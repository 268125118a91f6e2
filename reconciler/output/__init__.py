"""Pure renderers: plans, applies and audits as text, JSON and Markdown.

One module per subject and format (`plan_text`, `plan_json`, `plan_markdown`, `apply_text`,
`audit_text`, `audit_json`, `audit_markdown`, `failure_json`), sharing `style` (how user text is
shown), `json_shapes` (keys, records and field changes in JSON) and `comment` (a pull-request
comment's limit, marker and fences); `progress` redraws a status line through an injected
write. Imports core values (and `actions.outcomes`) only; output is deterministic.
"""
