"""Where a state lives: the `--state` value read as a file path or a store's URL
(docs/state-backends.md).

Pure: no file, network or import of a store's library. `locate` turns the text into a
`StateLocation`: a `Path` (the state file, the default and unchanged), a `PostgresLocation` or an
`S3Location`. Credentials never come from here: a URL holding a password (or any user
information, for S3) is refused with a hint, so that nothing that reaches an output, a log, the
lock or a saved plan can hold one. What a location prints (`str`) is the URL as given, which
therefore holds no secret. Imports the standard library, `core/text` and `errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reconciler.core.text import printable
from reconciler.errors import UsageError

DEFAULT_STATE_NAME = "default"
DEFAULT_SCHEMA = "reconciler"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # a state's name in a database
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a schema: an unquoted PostgreSQL identifier
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # S3's rules for a bucket name
_MAX_KEY = 900  # bytes; S3 allows 1,024, and the journal's objects add a suffix
_SCHEMES = ("postgres://", "postgresql://", "s3://")
_PASSWORD_HINT = (
    "give the password through the environment (PGPASSWORD, a ~/.pgpass file or "
    "PGSERVICE, or DATABASE_URL with `postgres://` alone); a state's URL is printed, logged "
    "and kept in saved plans, so it never holds one (docs/state-backends.md)"
)
_AWS_HINT = (
    "S3 credentials come from the AWS chain only (AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role: docs/state-backends.md)"
)


@dataclass(frozen=True)
class PostgresLocation:
    """A state in PostgreSQL: rows of the tables in `schema`, under the name `state`."""

    url: str  # as given (no password), for messages
    conninfo: str = field(repr=False)  # what libpq connects with; may be DATABASE_URL's
    state: str = DEFAULT_STATE_NAME
    schema: str = DEFAULT_SCHEMA

    def __str__(self) -> str:
        return printable(self.url)


@dataclass(frozen=True)
class S3Location:
    """A state as the object `key` of `bucket`, its journal and lock objects beside it."""

    bucket: str
    key: str
    endpoint_url: str | None = None  # a non-AWS store (MinIO, SeaweedFS...); None: AWS

    def __str__(self) -> str:
        return printable(f"s3://{self.bucket}/{self.key}")


StateLocation: TypeAlias = "Path | PostgresLocation | S3Location"


def is_url(text: str) -> bool:
    """Whether `--state` names a store by URL rather than a file."""
    return text.lower().startswith(_SCHEMES)


def locate(
    text: str, *, s3_endpoint_url: str | None = None, environ: Mapping[str, str] | None = None
) -> StateLocation:
    """The state `text` names. UsageError (saying what is wrong) for a URL that is not one of
    a store, holds a credential, or names a state, schema, bucket or key badly."""
    if not is_url(text):
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", text):
            scheme = text.split("://", 1)[0]
            raise UsageError(
                f"--state {printable(text)!r}: reconciler has no {printable(scheme)!r} store; "
                "give a file path, postgres://... or s3://BUCKET/KEY"
            )
        return Path(text)
    env = environ if environ is not None else {}
    if text.lower().startswith("s3://"):
        return _s3(text, s3_endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or None, env)
    return _postgres(text, env)


def _split(text: str) -> tuple[str, str, str, str, str]:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise UsageError(f"--state {printable(text)!r} holds a control character")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as error:
        raise UsageError(f"--state {printable(text)!r} is not a URL: {error}") from None
    return parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment


def _postgres(text: str, env: Mapping[str, str]) -> PostgresLocation:
    scheme, netloc, path, query, fragment = _split(text)
    if fragment:
        raise UsageError(f"--state {printable(text)!r}: a PostgreSQL URL has no #fragment")
    userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
    if ":" in userinfo:
        raise UsageError(f"--state holds a password; {_PASSWORD_HINT}")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise UsageError(f"--state {printable(text)!r}: its query is not name=value&...") from None
    state, schema, rest = DEFAULT_STATE_NAME, DEFAULT_SCHEMA, []
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise UsageError(f"--state {printable(text)!r} gives {printable(name)!r} twice")
        seen.add(name)
        if name == "password":
            raise UsageError(f"--state holds a password; {_PASSWORD_HINT}")
        if name == "state":
            state = value
        elif name == "schema":
            schema = value
        else:
            rest.append((name, value))
    if not _NAME.fullmatch(state):
        raise UsageError(
            f"--state {printable(text)!r}: state={printable(state)!r} is not a state's name "
            "(letters, digits, _ . -; at most 63, starting with a letter or digit)"
        )
    if not _SCHEMA.fullmatch(schema):
        raise UsageError(
            f"--state {printable(text)!r}: schema={printable(schema)!r} is not a schema's name "
            "(lower-case letters, digits and _, at most 63, not starting with a digit)"
        )
    conninfo = urlunsplit((scheme, netloc, path, urlencode(rest), ""))
    database_url = env.get("DATABASE_URL", "")
    if not netloc and path in ("", "/") and database_url:
        conninfo = _with_params(database_url, rest)  # the environment's: may hold a password
    return PostgresLocation(text, conninfo, state, schema)


def _with_params(url: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return url
    joiner = "&" if "?" in url else "?"
    return url + joiner + urlencode(params)


def _s3(text: str, endpoint_url: str | None, env: Mapping[str, str]) -> S3Location:
    _, netloc, path, query, fragment = _split(text)
    if "@" in netloc:
        raise UsageError(f"--state holds user information before the bucket; {_AWS_HINT}")
    if query or fragment:
        raise UsageError(
            f"--state {printable(text)!r}: an S3 state is s3://BUCKET/KEY, without ?query or "
            "#fragment (the endpoint is --s3-endpoint-url or AWS_ENDPOINT_URL)"
        )
    key = path[1:]
    if not _BUCKET.fullmatch(netloc) or ".." in netloc:
        raise UsageError(
            f"--state {printable(text)!r}: {printable(netloc)!r} is not a bucket's name (3 to "
            "63 lower-case letters, digits, dots and hyphens)"
        )
    if not key or key.endswith("/") or len(key.encode("utf-8", "replace")) > _MAX_KEY:
        raise UsageError(
            f"--state {printable(text)!r}: give the state object's key after the bucket "
            f"(s3://BUCKET/path/to/state.json), not ending with / and at most {_MAX_KEY} bytes"
        )
    if any(part in (".", "..") for part in key.split("/")):
        raise UsageError(f"--state {printable(text)!r}: the key holds a . or .. part")
    endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL") or None
    if endpoint is not None:
        _check_endpoint(endpoint)
    return S3Location(netloc, key, endpoint)


def _check_endpoint(endpoint: str) -> None:
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"the S3 endpoint {printable(endpoint)!r} is not an http:// or https:// URL"
        )
    if "@" in parts.netloc:
        raise UsageError(f"the S3 endpoint holds user information; {_AWS_HINT}")
