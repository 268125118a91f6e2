"""`--log-level` (cli/console.py, cli/group.py): which lines reach stderr; at debug, one line per
HTTP attempt, scrubbed, for apply and audit --remote against the emulator."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest

from reconciler.cli.console import http_debug, set_log_level, stderr_log, stderr_warning
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from tests.harness import Cli, WorkFolder

# Credentials that look like real ones: the `cli` fixture fails on COR_CLIENT_SECRET printed
KEY = "ak_live_7Hq2Xv9Lm4Rt8Wz1"
SECRET = "sk_live_Pz3Nq8Vb5Kd1Xr7Yc2Tm6"
MANIFEST = "source: SAP\nclients:\n" + "".join(
    f"  - id: C{n}\n    name: Client {n}\n" for n in range(5)
)
DEBUG_LINE = re.compile(
    r"debug: (GET|POST|PUT|DELETE) (/\S*): (.+) in \d+ ms \(attempt \d+(; .+)?\)"
)


@pytest.fixture
def _level() -> Iterator[None]:
    yield
    set_log_level("info")  # what every run of the group starts with


@pytest.mark.usefixtures("_level")
def test_warning_keeps_only_warnings_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    set_log_level("warning")
    for line in ("requesting an access token", "retrying x", "warning: y", "error: z"):
        stderr_log(line)
    stderr_warning("took over the lock of the state s.json, left by ...")
    assert capsys.readouterr().err == (
        "warning: y\nerror: z\ntook over the lock of the state s.json, left by ...\n"
    )
    set_log_level("info")
    stderr_log("retrying x")
    assert capsys.readouterr().err == "retrying x\n"


@pytest.mark.usefixtures("_level")
def test_only_debug_hands_the_client_a_sink() -> None:
    assert http_debug() is None
    set_log_level("debug")
    assert http_debug() is stderr_log
    with pytest.raises(ValueError, match="unknown log level"):
        set_log_level("verbose")


@pytest.fixture
def cor(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An emulator of this test's own, reached with a key and secret that look real."""
    with EmulatorServer(
        EmulatorConfig(port=0, token=None, api_key=KEY, client_secret=SECRET)
    ) as server:
        monkeypatch.setenv("COR_API_URL", server.url)
        monkeypatch.setenv("COR_AUTH_URL", f"{server.url}/v1")
        monkeypatch.setenv("COR_READ_API_URL", f"{server.url}/v1")
        monkeypatch.setenv("COR_API_KEY", KEY)
        monkeypatch.setenv("COR_CLIENT_SECRET", SECRET)
        yield server.url


def requests_served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=5) as answer:
        return int(json.load(answer)["total"])


def debug_lines(err: str) -> list[re.Match[str]]:
    found = [DEBUG_LINE.fullmatch(line) for line in err.splitlines() if line.startswith("debug")]
    assert all(found), err
    return [match for match in found if match]


def test_the_debug_log_of_apply_and_audit_has_a_line_per_request_and_no_secret(
    cli: Cli, work_folder: WorkFolder, cor: str
) -> None:
    work_folder({"sap.yaml": MANIFEST})
    code, out, err = cli("--log-level", "debug", "apply", "manifests", "--auto-approve")
    assert code == 0, err
    lines = debug_lines(err)
    assert len(lines) == requests_served(cor) == 6  # the token, then one create per record
    assert lines[0].group(1, 2, 3) == ("POST", "/v1/oauth/token", "200 OK")
    created = {
        line[4]
        for line in lines[1:]
        if line.group(1, 2, 3)[:2] == ("POST", "/v2/integrations/clients")
    }
    assert created == {f"; client SAP/C{n}" for n in range(5)}
    assert KEY not in err + out
    assert "Bearer" not in err
    assert "access_token" not in err

    before = requests_served(cor)
    code, out, err = cli("--log-level", "debug", "audit", "manifests", "--remote")
    assert code == 0, err
    lines = debug_lines(err)
    assert len(lines) == requests_served(cor) - before >= 2  # the token, then the reads
    assert all(line[1] == "GET" for line in lines[1:])
    assert KEY not in err + out
    assert "Bearer" not in err


def test_info_is_todays_output_and_warning_drops_the_info_lines(
    cli: Cli, work_folder: WorkFolder, cor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    work_folder({"sap.yaml": MANIFEST})
    code, _, err = cli("apply", "manifests", "--auto-approve", "--state", "one.json")
    assert code == 0
    assert "requesting an access token" in err
    assert "debug:" not in err
    monkeypatch.setenv("RECONCILER_LOG", "warning")
    # a new state: the records exist, this apply adopts them
    code, out, err = cli("apply", "manifests", "--auto-approve", "--state", "two.json")
    assert code == 0, err
    assert err == ""
    assert out.splitlines()[-1].startswith("Apply complete: 5 created")
