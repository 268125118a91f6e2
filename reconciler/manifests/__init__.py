"""The YAML edge: manifest files to what they declare, every problem at file:line:col.

`reader` (read_manifests: the files, cached or parsed, checked together), `discovery` (which
files, and their bytes; what cannot be read is a problem), `walker` and `composer` (a file's
YAML events to its declarations), `parsed` (their compact form) and `cache` (the folder that
keeps it), `fields` (what an entry may hold, plainly), `problems` (every problem's words) and
`schema` (the pydantic models and the JSON Schema). The only package that reads YAML; imports
`core`, `errors`, `files` and `memory`.
"""
