"""Keeping secrets out of text: every form a credential or token can take in a message.

Part of the COR edge, free of HTTP: the client hands `Scrubber` the secrets of the moment
(credentials, and every token COR handed back) and scrubs each message, log line and answer
with it. Imports the standard library only.

A secret is hidden in the forms a server, a library or a log can turn it into: as it is;
backslash-escaped (`repr`) and JSON-escaped (`\\"`, `\\\\`, `\\/`); URL-encoded (`quote`,
`quote_plus`); each of those escaped once more; and in any letter case (the search ignores
case, so `SECRET`, `secret` and `%2f` / `%2F` are all caught). A secret shorter than
`SHORT` characters is hidden only where it stands alone, so that words holding it stay whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
SHORT = 8  # a secret this short is hidden only where it stands alone

_Form = Callable[[str], str]
_FORMS: tuple[_Form, ...] = (
    lambda text: repr(text)[1:-1],
    lambda text: json.dumps(text)[1:-1],
    lambda text: json.dumps(text)[1:-1].replace("/", "\\/"),
    lambda text: quote(text, safe=""),
    lambda text: quote(text),
    quote_plus,
)


def forms(secret: str) -> set[str]:
    """`secret` and what it becomes escaped or encoded, once or twice."""
    found = {secret}
    for _ in range(2):
        found |= {form(text) for text in found for form in _FORMS}
    return found


def _pattern(secrets: Iterable[str]) -> str:
    long: set[str] = set()
    short: set[str] = set()
    for secret in secrets:
        (long if len(secret) >= SHORT else short).update(forms(secret))
    parts = [re.escape(text) for text in sorted(long, key=len, reverse=True)]
    if short:
        alone = "|".join(re.escape(text) for text in sorted(short, key=len, reverse=True))
        parts.append(f"(?<![A-Za-z0-9])(?:{alone})(?![A-Za-z0-9])")
    return "|".join(parts)


class Scrubber:
    """Hides every form of the given secrets; compiled once per set of secrets (one search per
    text), so scrubbing costs one regex search where nothing is found."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        self._secrets = secrets
        self._compiled: tuple[tuple[str, ...], re.Pattern[str] | None, re.Pattern[bytes] | None]
        self._compiled = ((), None, None)

    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[bytes] | None]:
        secrets = tuple(self._secrets())
        known, text, raw = self._compiled  # one tuple: a thread sees the old or the new
        if secrets != known:
            pattern = _pattern(secrets)
            text = re.compile(pattern, re.IGNORECASE) if pattern else None
            raw = re.compile(pattern.encode("utf-8"), re.IGNORECASE) if pattern else None
            self._compiled = (secrets, text, raw)
        return text, raw

    def __call__(self, text: str) -> str:
        pattern, _ = self._patterns()
        return text if pattern is None else pattern.sub(REDACTED, text)

    def found_in(self, content: bytes) -> bool:
        """Whether `content` (an answer's body) holds any form of a secret."""
        _, pattern = self._patterns()
        return pattern is not None and pattern.search(content) is not None


def scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    """`value` (a decoded JSON answer) with `scrub` applied to every string in it, keys too."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(key): scrubbed(item, scrub) for key, item in value.items()}
    if isinstance(value, list):
        return [scrubbed(item, scrub) for item in value]
    return value
