"""`reconciler audit` (cli/audit_command.py) against the emulator on loopback: all agree after
an apply; out-of-band changes reported in every format; offline without credentials or the lock;
a read that fails is an error, not a deletion.

The comparison itself: tests/core/test_audit.py and test_drift.py; the parallel reads:
tests/actions/test_readback.py; the renderers: tests/output/test_audit_*.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.state.store import StateStore
from tests.harness import Cli, QuietHandler, RunningEmulator, WorkFolder, serving
from tests.samples import SALESFORCE


@pytest.fixture
def cli(cli: Cli, emulator: RunningEmulator) -> Cli:
    """The shared runner (tests/conftest.py), and the emulator's static token is never printed,
    even by a run that was not given it."""

    def invoke(*args: str) -> tuple[int, str, str]:
        code, out, err = cli(*args)
        assert emulator.token not in out + err
        return code, out, err

    return invoke


@pytest.fixture
def applied(work_folder: WorkFolder, emulator_env: RunningEmulator, cli: Cli) -> Path:
    """A work folder whose manifests (tests/samples.py's SALESFORCE) were applied to the
    emulator."""
    folder = work_folder({"salesforce.yaml": SALESFORCE})
    assert cli("apply", "--auto-approve")[0] == 0
    return folder


def mutate(emulator: RunningEmulator, kind: str, ext_id: str, **change: Any) -> None:
    emulator.mutate(kind=kind, source="SALESFORCE", id=ext_id, **change)


def cor_ids(workdir: Path) -> dict[str, int]:
    state = json.loads((workdir / "reconciler.state.json").read_text(encoding="utf-8"))
    return {record["id"]: record["cor_id"] for record in state["resources"]}


def test_remote_audit_agrees_after_apply(applied: Path, cli: Cli) -> None:
    code, out, err = cli("audit", "--remote", "--detailed-exitcode")
    assert (code, out) == (0, "Audit: all agree.\n")
    assert err == "Read 7 records from COR in 3 requests.\n"  # a page of each kind's list
    code, out, _ = cli("audit", "--remote", "--format", "json", "--detailed-exitcode")
    assert code == 0
    assert json.loads(out)["summary"]["disagreements"] == 0
    assert json.loads(out)["remote"] is True
    code, out, _ = cli("audit", "--remote", "--format", "markdown")
    assert (code, out.splitlines()[1]) == (0, "### reconciler audit: all agree")


def test_remote_audit_reports_out_of_band_changes_in_every_format(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    ids = cor_ids(applied)
    mutate(emulator, "client", "SF-ACC-2", set={"name": "Globex Renamed"})
    mutate(emulator, "product", "SF-PROD-2", delete=True)
    mutate(
        emulator, "product", "SF-PROD-3", set={"client_id": "SF-ACC-1", "brand_id": "SF-BRAND-1"}
    )
    mutate(emulator, "product", "SF-PROD-1", set={"description": "Out of band"})
    expected = [
        "drift in COR: deleted (1):",
        f"  product SALESFORCE/SF-PROD-2 (cor_id {ids['SF-PROD-2']}): not found in COR",
        "drift in COR: renamed (1):",
        f"  client SALESFORCE/SF-ACC-2 (cor_id {ids['SF-ACC-2']}): "
        'name "Globex" → "Globex Renamed"',
        "drift in COR: re-parented (1):",
        f"  product SALESFORCE/SF-PROD-3 (cor_id {ids['SF-PROD-3']}): "
        f'client_id "SF-ACC-2" (cor_id {ids["SF-ACC-2"]}) → "SF-ACC-1" (cor_id {ids["SF-ACC-1"]}); '
        f'brand_id "SF-BRAND-2" (cor_id {ids["SF-BRAND-2"]}) → '
        f'"SF-BRAND-1" (cor_id {ids["SF-BRAND-1"]})',
        "drift in COR: changed (1):",
        f"  product SALESFORCE/SF-PROD-1 (cor_id {ids['SF-PROD-1']}): "
        'description (not set) → "Out of band"',
        "Audit: 4 disagreements.",
    ]
    code, out, _ = cli("audit", "--remote", "--detailed-exitcode", "--parallelism", "3")
    assert (code, out.splitlines()) == (2, expected)
    assert cli("audit", "--remote", "--parallelism", "1")[:2] == (0, out)
    assert cli("audit", "--detailed-exitcode")[:2] == (0, "Audit: all agree.\n")

    code, out, _ = cli("audit", "--remote", "--format", "json", "--detailed-exitcode")
    document = json.loads(out)
    assert code == 2
    assert [(f["category"], f["id"], f["cor_id"]) for f in document["findings"]] == [
        ("deleted", "SF-PROD-2", ids["SF-PROD-2"]),
        ("renamed", "SF-ACC-2", ids["SF-ACC-2"]),
        ("reparented", "SF-PROD-3", ids["SF-PROD-3"]),
        ("changed", "SF-PROD-1", ids["SF-PROD-1"]),
    ]
    assert document["findings"][1]["details"] == {
        "changes": [{"field": "name", "before": "Globex", "after": "Globex Renamed"}]
    }
    assert document["findings"][2]["details"]["references"][0] == {
        "field": "client_id",
        "kind": "client",
        "before": {"id": "SF-ACC-2", "cor_id": ids["SF-ACC-2"]},
        "after": {"id": "SF-ACC-1", "cor_id": ids["SF-ACC-1"]},
    }
    assert document["summary"]["disagreements"] == 4

    code, out, _ = cli("audit", "--remote", "--format", "markdown", "--detailed-exitcode")
    assert code == 2
    assert out.startswith("<!-- reconciler:audit manifests=manifests -->\n")
    assert "### reconciler audit: 4 disagreements\n" in out
    for row in ("deleted | 0 | 0 | 1", "renamed | 1 | 0 | 0", "re-parented | 0 | 0 | 1"):
        assert f"| drift in COR: {row} |\n" in out
    for line in expected[1:-1:2]:
        assert f"\n{line.strip()}\n" in out


def test_offline_audit_needs_no_credentials_nor_the_lock(
    applied: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COR_TOKEN")
    manifest = applied / "manifests" / "salesforce.yaml"
    manifest.write_text(
        SALESFORCE.replace("name: Globex\n", "name: Globex\n  - id: SF-ACC-3\n    name: New\n")
        .replace("Home Kit", "Home Kit 2")
        .split("  - id: SF-PROD-3")[0],
        encoding="utf-8",
    )
    state = applied / "reconciler.state.json"
    before = state.read_bytes()
    ids = cor_ids(applied)
    with StateStore.open(state):  # held by an "apply": an audit reads without the lock
        code, out, err = cli("audit", "--detailed-exitcode")
    assert (code, err) == (2, "")
    assert out.splitlines() == [
        "declared, never applied (1):",
        "  client SALESFORCE/SF-ACC-3",
        "recorded, no longer declared (1):",
        f"  product SALESFORCE/SF-PROD-3 (cor_id {ids['SF-PROD-3']})",
        "Audit: 2 disagreements.",
    ]
    assert state.read_bytes() == before
    code, _, err = cli("audit", "--remote")
    assert code == 3
    assert "COR_TOKEN" in err


class _FlakyReadApi(ThreadingHTTPServer):
    """Relays GETs to the emulator's read API, but always answers 503 for the paths in `broken`
    and 503 once for `flaky`: what COR's main API does on a bad day."""

    def __init__(self, upstream: str, broken: tuple[str, ...], flaky: str) -> None:
        self.upstream, self.broken, self.flaky = upstream, broken, flaky
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _Relay)


class _Relay(QuietHandler):
    server: _FlakyReadApi

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(self.path)
        status, body = 503, b'{"name": "ServiceUnavailableError"}'
        if self.path not in server.broken and (
            self.path != server.flaky or server.seen.count(self.path) > 1
        ):
            headers = {"Authorization": self.headers["Authorization"]}
            answer = httpx.get(server.upstream + self.path, headers=headers)
            status, body = answer.status_code, answer.content
        self.answer(status, body)


@pytest.fixture
def flaky(applied: Path, emulator: RunningEmulator) -> Iterator[_FlakyReadApi]:
    ids = cor_ids(applied)
    broken = ("/v1/clients?page=1&perPage=50", f"/v1/clients/{ids['SF-ACC-1']}")
    server = _FlakyReadApi(emulator.url, broken, "/v1/brands?page=1&perPage=50")
    with serving(server):
        yield server


def test_a_failed_read_is_an_error_and_the_rest_is_reported(
    applied: Path,
    emulator: RunningEmulator,
    flaky: _FlakyReadApi,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COR_TOKEN")  # the key and secret, exchanged for a token
    monkeypatch.setenv("COR_API_KEY", emulator.api_key)
    monkeypatch.setenv("COR_CLIENT_SECRET", emulator.client_secret)
    mutate(emulator, "client", "SF-ACC-2", set={"name": "Globex Renamed"})
    ids = cor_ids(applied)
    url = f"http://127.0.0.1:{flaky.server_address[1]}/v1"
    options = ["--remote", "--read-api-url", url, "--retry-attempts", "3", "--retry-max-wait", "1"]
    code, out, err = cli("audit", *options, "--detailed-exitcode")
    assert code == 1
    lines = out.splitlines()
    assert lines[1].startswith(f"  client SALESFORCE/SF-ACC-2 (cor_id {ids['SF-ACC-2']}): name ")
    assert lines[2] == "read failed (1):"
    assert lines[3].startswith(
        f"  client SALESFORCE/SF-ACC-1 (cor_id {ids['SF-ACC-1']}): "
        f"GET /v1/clients/{ids['SF-ACC-1']}: 503 ServiceUnavailableError (gave up after "
    )
    assert lines[4:] == ["Audit: 1 disagreement; 1 record could not be read."]
    assert flaky.seen.count("/v1/brands?page=1&perPage=50") == 2  # retried, then read
    assert not any(path.startswith("/v1/brands/") for path in flaky.seen)  # all in the list
    assert f"retrying client SALESFORCE/SF-ACC-1: GET /v1/clients/{ids['SF-ACC-1']} in " in err
    assert "retrying brands page 1: GET /v1/brands in " in err
    warning = "warning: the clients list: page 1 could not be read: GET /v1/clients: 503 "
    assert err.count(warning) == 1
    assert "); 2 records not found in it read by COR id instead\n" in err.split(warning)[1]
    assert err.endswith("Read 7 records from COR in 5 requests.\n")  # a page a kind; 2 by id

    code, out, err = cli("audit", *options, "--format", "json")
    document = json.loads(out)
    assert code == 1
    assert [f["id"] for f in document["findings"]] == ["SF-ACC-2"]
    assert [(e["id"], e["cor_id"]) for e in document["errors"]] == [("SF-ACC-1", ids["SF-ACC-1"])]
    assert document["summary"]["read_errors"] == 1
    code, out, err = cli("audit", *options, "--format", "markdown")
    assert code == 1
    assert "> **Incomplete**: COR could not be read for 1 record" in out
    for secret in ("demo-secret", "ZGVtby1rZXk6ZGVtby1zZWNyZXQ="):  # and base64(key:secret)
        assert secret not in out + err


def test_a_wrong_read_api_url_is_not_mistaken_for_deletions(
    applied: Path, emulator: RunningEmulator, cli: Cli
) -> None:
    code, out, _ = cli("audit", "--remote", "--read-api-url", f"{emulator.url}/nope")
    assert code == 1
    assert "drift in COR: deleted" not in out
    assert "read failed (7):" in out
    assert out.splitlines()[-1] == "Audit: 0 disagreements; 7 records could not be read."


@pytest.mark.parametrize(
    "args", [["audit", "--format", "yaml"], ["audit", "--parallelism", "0"], ["audit", "nowhere"]]
)
def test_invalid_input_exits_3(applied: Path, cli: Cli, args: list[str]) -> None:
    assert cli(*args)[0] == 3


def test_a_corrupt_state_exits_3(applied: Path, cli: Cli) -> None:
    (applied / "reconciler.state.json").write_text("{", encoding="utf-8")
    code, out, err = cli("audit", "--format", "json")
    assert code == 3
    assert json.loads(out)["outcome"] == "invalid"
    assert "reconciler.state.json" in err


def test_a_manifest_over_max_file_size_exits_3(
    applied: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (applied / "manifests" / "big.yaml").write_text("# padding\n" * 200, encoding="utf-8")
    code, out, err = cli("audit", "--max-file-size", "1KiB")
    assert (code, out) == (3, "")
    assert "manifests/big.yaml:1:1: the file is larger than 1 KiB" in err
    monkeypatch.setenv("RECONCILER_MAX_FILE_SIZE", "1KiB")
    assert cli("audit")[0] == 3
    monkeypatch.delenv("RECONCILER_MAX_FILE_SIZE")
    assert cli("audit")[0] == 0  # under the default limit (64MiB): read
