"""COR's answers (cor/answers.py), as the client reads them: every failure classified into
the error family, its message, and COR ids read from a body."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.cor.answers import cor_id_of
from reconciler.cor.client import RetryPolicy
from reconciler.errors import (
    ApiError,
    AuthError,
    DeletionError,
    DuplicateError,
    NotFoundError,
    RequestRejectedError,
    TransientError,
)
from tests.cor.fake_cor import (
    CLIENTS,
    CREATE,
    HTML_502,
    UPDATE,
    FakeCor,
    answer,
)

# --- classification ----------------------------------------------------------------------

CUSTOM = {"status": 400, "name": "CORCustomError"}
ENVELOPE = {"statusCode": 400, "status": "error"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "name", "code"),
    [
        # by name (and the name wins over the status)
        (
            409,
            {"name": "DuplicateExternalIdError"},
            DuplicateError,
            "DuplicateExternalIdError",
            None,
        ),
        (
            400,
            {"name": "DuplicateExternalIdError"},
            DuplicateError,
            "DuplicateExternalIdError",
            None,
        ),
        (404, {"name": "ClientNotFoundError"}, NotFoundError, "ClientNotFoundError", None),
        (400, {"name": "BrandNotFoundError"}, NotFoundError, "BrandNotFoundError", None),
        (409, {"name": "ProductNotFoundError"}, NotFoundError, "ProductNotFoundError", None),
        (400, {"name": "DeletionError"}, DeletionError, "DeletionError", None),
        (409, {"name": "DeletionError"}, DeletionError, "DeletionError", None),
        (400, {"name": "ValidationError"}, RequestRejectedError, "ValidationError", None),
        (404, {"name": "ValidationError"}, RequestRejectedError, "ValidationError", None),
        (503, {"name": "ValidationError"}, RequestRejectedError, "ValidationError", None),
        (422, {"name": "InvalidSourceError"}, RequestRejectedError, "InvalidSourceError", None),
        # by code (CORCustomError), which also wins over the status
        (400, {**CUSTOM, "code": "ZC004"}, DuplicateError, "CORCustomError", "ZC004"),
        (400, {**CUSTOM, "code": "ZC001"}, NotFoundError, "CORCustomError", "ZC001"),
        (409, {**CUSTOM, "code": "ZC001"}, NotFoundError, "CORCustomError", "ZC001"),
        # by status
        (403, {**CUSTOM, "code": "ZC999"}, AuthError, "CORCustomError", "ZC999"),
        (400, {**CUSTOM, "code": "CTR006"}, RequestRejectedError, "CORCustomError", "CTR006"),
        (404, {}, NotFoundError, None, None),
        (409, {"message": "conflict"}, DuplicateError, None, None),
        (417, {"message": "business rule"}, RequestRejectedError, None, None),
        (422, {}, RequestRejectedError, None, None),
        (429, {}, TransientError, None, None),
        (500, {}, TransientError, None, None),
        (501, {}, TransientError, None, None),
        (503, {}, TransientError, None, None),
        (504, {}, TransientError, None, None),
        # enveloped errors
        (
            400,
            {**ENVELOPE, "name": "DuplicateExternalIdError"},
            DuplicateError,
            "DuplicateExternalIdError",
            None,
        ),
        (
            404,
            {**ENVELOPE, "error": "ProductNotFoundError"},
            NotFoundError,
            "ProductNotFoundError",
            None,
        ),
        (
            400,
            {**ENVELOPE, "error": {**CUSTOM, "code": "ZC004"}},
            DuplicateError,
            "CORCustomError",
            "ZC004",
        ),
        (400, {"error": "invalid_request"}, RequestRejectedError, "invalid_request", None),
        # not JSON at all
        (502, HTML_502, TransientError, None, None),
        (400, b"Bad Request", RequestRejectedError, None, None),
        (404, b"", NotFoundError, None, None),
    ],
)
def test_error_classification(
    cor: FakeCor,
    status: int,
    body: object,
    kind: type[ApiError],
    name: str | None,
    code: str | None,
) -> None:
    cor.queue(f"{CLIENTS}/X", answer(status, body))
    error = cor.fail(cor.client(retry=RetryPolicy(max_attempts=1)), UPDATE, kind)
    assert (error.status, error.name, error.code) == (status, name, code)
    assert str(error).startswith(f"PUT {CLIENTS}/X: {status} ")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            409,
            {"name": "DuplicateExternalIdError", "message": "taken"},
            "409 DuplicateExternalIdError: taken",
        ),
        (400, {**CUSTOM, "code": "ZC004", "message": "exists"}, "400 CORCustomError ZC004: exists"),
        (404, {"message": "no such client"}, "404 Not Found: no such client"),
        (400, {"error_description": "bad form"}, "400 Bad Request: bad form"),
        (
            422,
            {"message": ["name is required", "id is required"]},
            '422 Unprocessable Entity: ["name is required", "id is required"]',
        ),
        (404, b"", "404 Not Found"),
    ],
)
def test_error_message_tells_method_path_status_name_and_message(
    cor: FakeCor, status: int, body: object, expected: str
) -> None:
    cor.queue(CLIENTS, answer(status, body))
    error = cor.fail(cor.client(), CREATE, None)
    assert str(error) == f"POST {CLIENTS}: {expected}"


def test_long_and_html_bodies_are_cut_to_one_short_line(cor: FakeCor) -> None:
    cor.queue(CLIENTS, answer(400, {"message": "x" * 5000}), answer(502, HTML_502))
    client = cor.client(retry=RetryPolicy(max_attempts=1))
    long = cor.fail(client, CREATE, RequestRejectedError)
    assert len(str(long)) < len(f"POST {CLIENTS}: 400 Bad Request: ") + 201
    html = cor.fail(client, CREATE, TransientError)
    assert "502 Bad Gateway: 502 Bad Gateway nginx" in str(html)
    assert "<" not in str(html)


# --- cor_id_of ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"id": 25855}, 25855), ({"id": "25855"}, 25855), ({"id": " 42 "}, 42), ({"id": 7.0}, 7)],
)
def test_cor_id_of_reads_numeric_ids(body: dict[str, Any], expected: int) -> None:
    assert cor_id_of(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": None},
        {"id": ""},
        {"id": "SF-ACC-1"},
        {"id": "12a"},
        {"id": True},
        {"id": -1},
        {"id": 1.5},
        {"id": [1]},
        {"cor_id": 25855},
    ],
)
def test_cor_id_of_rejects_anything_else(body: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as info:
        cor_id_of(body)
    assert type(info.value) is ApiError
    assert "no numeric id" in str(info.value)
