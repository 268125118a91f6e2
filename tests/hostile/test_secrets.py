"""Hostile inputs, "Secrets" (docs/hostile-inputs.md): credentials that cannot go into a
header, and servers that echo a token back in another form.

Each row runs `reconciler apply` in-process against a real server of its own on 127.0.0.1
(tests/cor/servers.py) and asserts `assert_clean` with every form of the secret (as it is, in
lower case, escaped, URL-encoded); a credential refused before any request also asserts that
the server saw no connection.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from tests.cor.servers import RawServer, Reply, Request, answering, response
from tests.harness import Cli, WorkFolder
from tests.hostile.checks import assert_clean

TOKEN = 'S3cretToken/with+odd=chars\\and"quotes-0123456789'
MANIFEST = {"sap.yaml": "source: SAP\nclients:\n  - id: C-1\n    name: Client one\n"}
APPLY = ("apply", "--auto-approve", "--retry-attempts", "2", "--retry-max-wait", "0")


def forms(secret: str) -> list[str]:
    """What must never be printed: the secret and the forms it takes escaped or encoded."""
    return [
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    ]


def _apply(
    cli: Cli, server: RawServer, monkeypatch: pytest.MonkeyPatch, **env: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("COR_API_URL", server.url)
    monkeypatch.setenv("COR_AUTH_URL", f"{server.url}/v1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cli(*APPLY)


# --- credentials checked before any request ---------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "says"),
    [
        pytest.param(
            {"COR_TOKEN": TOKEN + "\n"},
            "COR_TOKEN holds a newline at its end",
            id="token-trailing-newline",
        ),
        pytest.param(
            {"COR_TOKEN": "tökén-0123456789"},
            "COR_TOKEN holds a non-ASCII character at position 2",
            id="token-non-ascii",
        ),
        pytest.param(
            {"COR_API_KEY": "key with-space-0123", "COR_CLIENT_SECRET": TOKEN},
            "COR_API_KEY holds a space at position 4",
            id="api-key-with-space",
        ),
        pytest.param(
            {"COR_API_KEY": "key-0123456789", "COR_CLIENT_SECRET": "\x1b]0;title\x07" + TOKEN},
            "COR_CLIENT_SECRET holds a control character at its start",
            id="client-secret-control-character",
        ),
    ],
)
def test_a_credential_that_is_not_visible_ascii_is_refused_before_any_request(
    cli: Cli,
    work_folder: WorkFolder,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    says: str,
) -> None:
    work_folder(MANIFEST)
    with RawServer(answering(response(201, {"id": 1}))) as server:
        code, out, err = _apply(cli, server, monkeypatch, **variables)
    secrets = [form for value in variables.values() for form in forms(value.strip())]
    assert_clean(
        code, out, err, exit_code=3, says=[says, "its value is not shown"], secrets=secrets
    )
    assert server.connections == 0, "a request was made with a credential that cannot be sent"
    assert "Illegal header value" not in err


# --- a token echoed back ----------------------------------------------------------------------


def _echo_created(connection: socket.socket, request: Request) -> None:
    connection.sendall(response(201, {"id": request.bearer, "name": "Client one"}))


def _echo_in_error(shape: Callable[[Request], str]) -> Reply:
    def reply(connection: socket.socket, request: Request) -> None:
        connection.sendall(response(400, {"name": "ValidationError", "message": shape(request)}))

    return reply


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        pytest.param(_echo_created, "carries no numeric id", id="token-echoed-in-created-answer"),
        pytest.param(
            _echo_in_error(lambda r: f"token {r.bearer.lower()} is not allowed here"),
            "400 ValidationError",
            id="token-echoed-in-lower-case",
        ),
        pytest.param(
            _echo_in_error(lambda r: f"GET /check?token={quote_plus(r.bearer)} failed"),
            "400 ValidationError",
            id="token-echoed-url-encoded",
        ),
        pytest.param(
            _echo_in_error(lambda r: json.dumps({"authorization": f"Bearer {r.bearer}"})),
            "400 ValidationError",
            id="token-echoed-json-escaped",
        ),
        pytest.param(
            _echo_in_error(lambda r: f"header was {repr(r.bearer).upper()}"),
            "400 ValidationError",
            id="token-echoed-escaped-upper-case",
        ),
    ],
)
def test_a_token_the_server_echoes_is_never_printed(
    cli: Cli, work_folder: WorkFolder, monkeypatch: pytest.MonkeyPatch, reply: Reply, says: str
) -> None:
    work_folder(MANIFEST)
    with RawServer(reply) as server:
        code, out, err = _apply(cli, server, monkeypatch, COR_TOKEN=TOKEN)
    assert_clean(code, out, err, exit_code=1, says=[says, "[redacted]"], secrets=forms(TOKEN))
    assert [request.bearer for request in server.requests] == [TOKEN]


def _issuing(access_token: str, then: bytes) -> Reply:
    """An auth endpoint that issues `access_token`; the API answers `then`."""

    def reply(connection: socket.socket, request: Request) -> None:
        if request.path.startswith("/v1/oauth/"):
            grant = {"access_token": access_token, "expires_in": 3600}
            connection.sendall(response(200, grant))
        else:
            connection.sendall(then)

    return reply


ISSUED = "IssuedT0ken-abcdefghijklmnop"


@pytest.mark.parametrize(
    ("reply", "says", "api_requests"),
    [
        pytest.param(
            _issuing(ISSUED, response(400, {"message": f"who is {ISSUED.lower()}?"})),
            "[redacted]",
            1,
            id="issued-token-echoed-in-lower-case",
        ),
        pytest.param(
            _issuing(ISSUED + "\n", response(201, {"id": 1})),
            "answered with an access_token that holds a newline at its end",
            0,
            id="issued-token-with-newline",
        ),
    ],
)
def test_a_token_the_server_issues_is_checked_and_scrubbed(
    cli: Cli,
    work_folder: WorkFolder,
    monkeypatch: pytest.MonkeyPatch,
    reply: Reply,
    says: str,
    api_requests: int,
) -> None:
    work_folder(MANIFEST)
    pair = {"COR_API_KEY": "key-0123456789", "COR_CLIENT_SECRET": "secret-0123456789"}
    with RawServer(reply) as server:
        code, out, err = _apply(cli, server, monkeypatch, **pair)
    secrets = [*forms(ISSUED), *forms(pair["COR_CLIENT_SECRET"])]
    assert_clean(code, out, err, exit_code=1, says=says, secrets=secrets)
    sent = [r for r in server.requests if r.path.startswith("/v2/")]
    assert len(sent) == api_requests, "a request was sent (or retried) with a broken token"
    assert "Illegal header value" not in err
