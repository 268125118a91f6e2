"""COR's answers, read in every shape the docs leave open: errors classified, ids and bodies
unwrapped.

Part of the COR edge, free of HTTP: the client hands it a status and a body. COR's docs leave
open whether an error is told by name, by code or by HTTP status (cor-api.md, "Open
questions"), so all three are read: name, then code, then status. Bodies come bare or in an
envelope (`{"statusCode", "status", "data"}`), and an error may hide in a 2xx envelope.
Imports the standard library, core values and `errors` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.resources import parse_cor_id
from reconciler.core.text import printable
from reconciler.errors import (
    ApiError,
    AuthError,
    DeletionError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
    TransientError,
)

SNIPPET_CHARS = 200

_BY_NAME: dict[str, type[ApiError]] = {
    "DuplicateExternalIdError": DuplicateError,
    "DeletionError": DeletionError,
    "ValidationError": RequestRejectedError,
    "InvalidSourceError": RequestRejectedError,
}
_BY_CODE: dict[str, type[ApiError]] = {"ZC001": NotFoundError, "ZC004": DuplicateError}
_BY_STATUS = {401: AuthError, 403: AuthError, 404: NotFoundError, 409: DuplicateError}


@dataclass(frozen=True)
class Failure:
    """A non-2xx answer as COR told it; `message` is COR's text or a snippet of the body;
    `phrase` the HTTP reason phrase of the status (shown when COR names nothing)."""

    status: int
    name: str | None = None
    code: str | None = None
    message: str = ""
    phrase: str = ""

    @property
    def label(self) -> str:
        told = " ".join(part for part in (self.name, self.code) if part)
        return told or self.phrase

    def summary(self) -> str:
        head = f"{self.status} {self.label}".rstrip()
        return f"{head}: {self.message}" if self.message else head

    def error_class(self) -> type[ApiError]:
        """Name, then code, then HTTP status: whichever COR uses, the most specific wins."""
        name = self.name or ""
        found = (
            (NotFoundError if name.endswith("NotFoundError") else _BY_NAME.get(name))
            or _BY_CODE.get(self.code or "")
            or _BY_STATUS.get(self.status)
        )
        if found is not None:
            return found
        if self.status >= 500 or self.status == 429:
            return TransientError
        return RequestRejectedError if self.status >= 400 else ApiError


def read_failure(
    status: int, content: bytes, text: str, phrase: str, scrub: Callable[[str], str]
) -> Failure:
    """Name, code and message from any of COR's error shapes, or a body snippet.

    `scrub` runs before truncation, so that no secret is cut in half and left in view."""
    body = decode_json(content)
    if not isinstance(body, dict):
        return Failure(status, message=snippet(scrub(text)), phrase=phrase)
    error = body.get("error")
    fields = {**body, **error} if isinstance(error, dict) else body
    name = _text(fields.get("name")) or (error if isinstance(error, str) and error else None)
    message = fields.get("message") or fields.get("error_description") or fields.get("detail")
    if not isinstance(message, str):
        message = json.dumps(message, sort_keys=True) if message else ""
    code = _text(fields.get("code"))
    name, code = (snippet(scrub(told)) if told else None for told in (name, code))
    return Failure(status, name, code, snippet(scrub(message)), phrase)


def enveloped_error_status(body: Mapping[str, Any]) -> int | None:
    """An error wrapped in a 2xx answer: {"statusCode": 400, "status": "error", ...}."""
    for key in ("statusCode", "status"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 400:
            return value
    return None


def unwrapped(body: dict[str, Any]) -> dict[str, Any]:
    """The record of a 2xx answer: the body itself, or its `data` inside an envelope."""
    data = body.get("data")
    enveloped = "statusCode" in body or "status" in body
    return data if enveloped and isinstance(data, dict) else body


def cor_id_of(body: Mapping[str, Any]) -> int:
    """COR's numeric id from an answer: an int, or a string of digits."""
    value = body.get("id")
    cor_id = parse_cor_id(value)
    if cor_id is None:
        raise ApiError(f"COR's answer carries no numeric id (id: {snippet(repr(value))})")
    return cor_id


def decode_json(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:  # not JSON, not UTF-8, or a number past Python's 4,300-digit limit
        return None


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) or None


def snippet(text: str) -> str:
    """One line of at most SNIPPET_CHARS, printable (core/text.printable: a server cannot write
    control characters to the terminal); an HTML page loses its tags."""
    if text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    text = text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
    return printable(text)
