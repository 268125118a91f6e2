"""The scrubber (cor/scrub.py): every form a secret takes in a message is hidden, whatever its
case; short secrets only where they stand alone; answers scrubbed through and through."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from reconciler.cor.scrub import REDACTED, Scrubber, forms, scrubbed

SECRET = 'Tok/en+x=y\\z"q-0123456789'


@pytest.mark.parametrize(
    "shown",
    [
        pytest.param(SECRET, id="as-is"),
        pytest.param(SECRET.upper(), id="upper-case"),
        pytest.param(SECRET.lower(), id="lower-case"),
        pytest.param(SECRET.swapcase(), id="any-case"),
        pytest.param(repr(SECRET)[1:-1], id="repr"),
        pytest.param(repr(repr(SECRET))[1:-1], id="repr-twice"),
        pytest.param(repr(SECRET.encode())[2:-1], id="bytes-repr"),
        pytest.param(json.dumps(SECRET)[1:-1], id="json-escaped"),
        pytest.param(json.dumps(SECRET)[1:-1].replace("/", "\\/"), id="json-escaped-slash"),
        pytest.param(json.dumps(json.dumps(SECRET))[1:-1], id="json-escaped-twice"),
        pytest.param(quote(SECRET), id="url-quoted"),
        pytest.param(quote(SECRET, safe=""), id="url-quoted-slash"),
        pytest.param(quote_plus(SECRET), id="url-quoted-plus"),
        pytest.param(quote_plus(SECRET).lower(), id="url-quoted-lower-case-hex"),
    ],
)
def test_every_form_of_a_secret_is_hidden(shown: str) -> None:
    scrub = Scrubber(lambda: [SECRET])
    text = f"before {shown} after"
    hidden = scrub(text)
    assert hidden.startswith("before ")
    assert hidden.endswith(" after")
    assert REDACTED in hidden
    assert "0123456789" not in hidden  # no part of the secret is left
    assert scrub.found_in(text.encode())


def test_text_without_a_secret_is_unchanged() -> None:
    scrub = Scrubber(lambda: [SECRET])
    assert scrub("nothing to hide") == "nothing to hide"
    assert not scrub.found_in(b'{"id": 1}')
    assert Scrubber(lambda: [])("no secrets at all") == "no secrets at all"


def test_short_secrets_are_hidden_only_where_they_stand_alone() -> None:
    scrub = Scrubber(lambda: ["k3y"])
    assert scrub("key K3Y refused; monk3ys stay") == f"key {REDACTED} refused; monk3ys stay"


def test_new_secrets_are_picked_up() -> None:
    seen = ["first-secret-0123"]
    scrub = Scrubber(lambda: seen)
    assert scrub("second-secret-4567") == "second-secret-4567"
    seen.append("second-secret-4567")
    assert scrub("second-secret-4567 first-secret-0123") == f"{REDACTED} {REDACTED}"


def test_forms_include_the_secret_itself() -> None:
    assert "plain-secret-0123" in forms("plain-secret-0123")


def test_an_answer_is_scrubbed_through_and_through() -> None:
    scrub = Scrubber(lambda: [SECRET])
    answer = {"id": 1, "echo": [SECRET.lower(), {SECRET: "x"}], "ok": True}
    assert scrubbed(answer, scrub) == {"id": 1, "echo": [REDACTED, {REDACTED: "x"}], "ok": True}
