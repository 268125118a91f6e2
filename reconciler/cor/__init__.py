"""The COR edge: requests to COR's APIs and their answers (docs/client.md).

`client` (CorClient: the only module that talks HTTP), `auth` (tokens), `retry` (the retry
policy), `answers` (errors classified, ids and bodies read in every shape COR may send),
`endpoints` (the default URLs, and which request each change becomes), `bodies` (an answer
read within its limits), `deadline` (the whole-attempt deadline), `scrub` (secrets hidden in
every form). Imports `core` and `errors`; httpx only in `client`.
"""
