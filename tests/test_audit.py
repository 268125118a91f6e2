"""`reconciler audit`: the pure comparison (tables), the renderers (goldens, the Markdown budget),
the parallel reads and the client's GET, and the command against the emulator on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.actions.readback import read_records
from reconciler.cli import run
from reconciler.cor.client import CorClient, Credentials, RetryPolicy
from reconciler.core.audit import (
    Audit,
    Category,
    Finding,
    Link,
    ReadError,
    Reference,
    audit_offline,
    build_audit,
)
from reconciler.core.diff import FieldChange
from reconciler.core.drift import Answer, Gone, Unread, audit_drift
from reconciler.core.resources import Kind, Record, ResourceKey
from reconciler.emulator.server import EmulatorConfig, EmulatorServer
from reconciler.errors import ApiError, AuthError, NotFoundError, TransientError
from reconciler.output.audit_json import render_audit_json
from reconciler.output.audit_markdown import render_audit_markdown
from reconciler.output.audit_text import audit_summary, render_audit_text
from reconciler.output.comment import COMMENT_LIMIT
from reconciler.state.store import StateStore
from tests.builders import declared, desired_of, key, recorded, state_of
from tests.test_e2e import MANIFEST

C, B, P = Kind.CLIENT, Kind.BRAND, Kind.PRODUCT
ACME = declared("client", "SF", "C1", name="Acme")
ACME_R = recorded("client", "SF", "C1", 25001, name="Acme")
BRAND = declared("brand", "SF", "B1", name="Brand", client_id="C1")
BRAND_R = recorded("brand", "SF", "B1", 3001, name="Brand", client_id="C1")
PROD_R = recorded("product", "SF", "P1", 52001, name="Prod", client_id="C1", brand_id="B1")


# --- the offline comparison: manifests + state in, findings out ---------------------------------

# fmt: off
OFFLINE: list[tuple[str, list[Any], list[Record], set[ResourceKey], list[Finding]]] = [
    ("all agree", [ACME, BRAND], [ACME_R, BRAND_R], set(), []),
    ("declared, never applied", [ACME], [], set(),
     [Finding(Category.NOT_APPLIED, ACME.key, None, {"name": "Acme"})]),
    ("recorded, no longer declared", [], [ACME_R], set(),
     [Finding(Category.NOT_DECLARED, ACME_R.key, 25001, {"name": "Acme"})]),
    ("differs, field by field", [declared("client", "SF", "C1", name="Acme Inc", phone="1")],
     [ACME_R], set(),
     [Finding(Category.DIFFERS, ACME.key, 25001, changes=(
         FieldChange("name", "Acme", "Acme Inc"), FieldChange("phone", None, "1")))]),
    ("protection recorded differently", [replace(ACME, protect=True)], [ACME_R], set(),
     [Finding(Category.DIFFERS, ACME.key, 25001, changes=(
         FieldChange("protect", "false", "true"),))]),
    ("a brand's client is not recorded", [], [BRAND_R], set(), [
        Finding(Category.NOT_DECLARED, BRAND_R.key, 3001, BRAND_R.attributes),
        Finding(Category.DANGLING, BRAND_R.key, 3001,
                references=(Reference("client_id", C, Link("C1", None)),))]),
    ("a client of another source does not count",
     [], [recorded("client", "SAP", "C1", 1, name="x"), BRAND_R], set(), [
        Finding(Category.NOT_DECLARED, key("client", "SAP", "C1"), 1, {"name": "x"}),
        Finding(Category.NOT_DECLARED, BRAND_R.key, 3001, BRAND_R.attributes),
        Finding(Category.DANGLING, BRAND_R.key, 3001,
                references=(Reference("client_id", C, Link("C1", None)),))]),
    ("a product's brand is not recorded", [], [ACME_R, PROD_R], set(), [
        Finding(Category.NOT_DECLARED, ACME_R.key, 25001, ACME_R.attributes),
        Finding(Category.NOT_DECLARED, PROD_R.key, 52001, PROD_R.attributes),
        Finding(Category.DANGLING, PROD_R.key, 52001,
                references=(Reference("brand_id", B, Link("B1", None)),))]),
    ("in doubt and declared: not reported as never applied", [ACME], [], {ACME.key},
     [Finding(Category.IN_DOUBT, ACME.key, declared=True)]),
    ("in doubt, not declared", [], [], {ACME.key},
     [Finding(Category.IN_DOUBT, ACME.key, declared=False)]),
]
# fmt: on


@pytest.mark.parametrize(
    ("desired", "records", "in_doubt", "expected"),
    [case[1:] for case in OFFLINE],
    ids=[case[0] for case in OFFLINE],
)
def test_offline_findings(
    desired: list[Any], records: list[Record], in_doubt: set[ResourceKey], expected: list[Finding]
) -> None:
    found = build_audit(audit_offline(desired_of(*desired), state_of(*records), in_doubt))
    assert list(found.findings) == expected


# --- drift: the state's records + COR's answers in, findings and errors out ---------------------

RECORDS = state_of(
    ACME_R,
    recorded("client", "SF", "C2", 25002, name="Other", phone="555"),
    BRAND_R,
    PROD_R,
    recorded("product", "SF", "P2", 52002, name="Gone", client_id="C9", brand_id="B1"),
)
SAME = {"id": 52001, "name": "Prod", "client_id": 25001, "brand_id": 3001}

# fmt: off
DRIFT: list[tuple[str, ResourceKey, Answer, list[Finding], list[str]]] = [
    ("the same", PROD_R.key, SAME, [], []),
    ("enveloped, ids as strings", PROD_R.key,
     {"data": {"id": "52001", "name": "Prod", "client_id": "25001", "brand_id": " 3001 "}}, [], []),
    ("a field not returned is not compared", key("client", "SF", "C2"), {"id": 25002}, [], []),
    ("a number equals its string", key("client", "SF", "C2"),
     {"id": 25002, "name": "Other", "phone": 555}, [], []),
    ("deleted", PROD_R.key, Gone(), [Finding(Category.DELETED, PROD_R.key, 52001)], []),
    ("renamed", ACME_R.key, {"id": 25001, "name": "Acme 2"},
     [Finding(Category.RENAMED, ACME_R.key, 25001,
              changes=(FieldChange("name", "Acme", "Acme 2"),))], []),
    ("re-parented to another recorded client", BRAND_R.key,
     {"id": 3001, "name": "Brand", "client_id": 25002},
     [Finding(Category.REPARENTED, BRAND_R.key, 3001, references=(
         Reference("client_id", C, Link("C1", 25001), Link("C2", 25002)),))], []),
    ("re-parented to a brand the state does not know, or to none", PROD_R.key,
     {**SAME, "client_id": None, "brand_id": 9},
     [Finding(Category.REPARENTED, PROD_R.key, 52001, references=(
         Reference("client_id", C, Link("C1", 25001), Link(None, None)),
         Reference("brand_id", B, Link("B1", 3001), Link(None, 9))))], []),
    ("other fields; null is not set", key("client", "SF", "C2"),
     {"id": 25002, "name": "Other", "phone": None, "website": "w"},
     [Finding(Category.CHANGED, key("client", "SF", "C2"), 25002, changes=(
         FieldChange("phone", "555", None), FieldChange("website", None, "w")))], []),
    ("a dangling reference is not re-parenting", key("product", "SF", "P2"),
     {"id": 52002, "name": "Gone", "client_id": 1, "brand_id": 3001}, [], []),
    ("read failed", ACME_R.key, Unread("GET /v1/clients/25001: 503"), [],
     ["GET /v1/clients/25001: 503"]),
    ("an empty answer", ACME_R.key, {"data": None}, [],
     ["COR's answer holds no record (neither id nor name)"]),
    ("another record answered", ACME_R.key, {"id": 7, "name": "Acme"}, [],
     ["COR answered with another record (id 7)"]),
    ("a reference that is no id", BRAND_R.key, {"id": 3001, "client_id": "abc"}, [],
     ['COR\'s client_id is not a COR id ("abc")']),
]
# fmt: on


@pytest.mark.parametrize(
    ("key_", "answer", "findings", "errors"),
    [case[1:] for case in DRIFT],
    ids=[case[0] for case in DRIFT],
)
def test_drift(
    key_: ResourceKey, answer: Answer, findings: list[Finding], errors: list[str]
) -> None:
    found, failed = audit_drift(RECORDS, {key_: answer})
    assert found == findings
    assert [error.message for error in failed] == errors
    assert all(error.cor_id == RECORDS[key_].cor_id for error in failed)


# --- renderers ----------------------------------------------------------------------------------

PRODUCT = {"name": "Widget", "client_id": "SF-ACC-1", "brand_id": "SF-BRAND-1"}
HOSTILE = 'Evil ```\n</details><!-- --> <img src=x> | "quoted"'


def mixed_audit() -> Audit:
    """Every category and a read error; built from values, so the goldens read like a story."""
    desired = desired_of(
        declared("client", "SALESFORCE", "SF-NEW", name="New client"),
        declared("client", "SALESFORCE", "SF-ACC-1", name="Acme Corporation", phone="+1 555"),
        declared("client", "SALESFORCE", "SF-DOUBT", name="Maybe"),
        declared("brand", "SALESFORCE", "SF-BRAND-1", name=HOSTILE, client_id="SF-ACC-1"),
        declared("product", "SALESFORCE", "SF-PROD-1", **PRODUCT),
    )
    records = state_of(
        recorded("client", "SALESFORCE", "SF-ACC-1", 25001, name="Acme Corp"),
        recorded("brand", "SALESFORCE", "SF-BRAND-1", 3001, name="Brand", client_id="SF-ACC-1"),
        recorded("brand", "SALESFORCE", "odd id\n2", 3002, name="Old", client_id="SF-GONE"),
        recorded("product", "SALESFORCE", "SF-PROD-1", 52001, **PRODUCT),
    )
    in_doubt = {key("client", "SALESFORCE", "SF-DOUBT"), key("product", "SAP", "LOST")}
    findings = audit_offline(desired, records, in_doubt)
    answers: dict[ResourceKey, Answer] = {
        key("client", "SALESFORCE", "SF-ACC-1"): {"id": 25001, "name": "Acme Corp", "phone": "1"},
        key("brand", "SALESFORCE", "SF-BRAND-1"): {"id": 3001, "name": "B", "client_id": 25009},
        key("brand", "SALESFORCE", "odd id\n2"): Unread("GET /v1/brands/3002: 503 (gave up)"),
        key("product", "SALESFORCE", "SF-PROD-1"): Gone(),
    }
    drift, errors = audit_drift(records, answers)
    return build_audit([*findings, *drift], errors, remote=True)


def test_goldens(golden: Callable[[str, str], None]) -> None:
    audit = mixed_audit()
    golden("audit-mixed/audit.txt", render_audit_text(audit))
    golden("audit-mixed/audit.json", render_audit_json(audit))
    golden("audit-mixed/audit.md", render_audit_markdown(audit, paths=["manifests", "a--b"]))


def test_offline_goldens(golden: Callable[[str, str], None]) -> None:
    desired = desired_of(ACME, declared("brand", "SF", "B1", name="Brand 2", client_id="C1"))
    records = state_of(BRAND_R, PROD_R)
    audit = build_audit(audit_offline(desired, records, {key("client", "SF", "C3")}))
    golden("audit-offline/audit.txt", render_audit_text(audit))
    golden("audit-offline/audit.json", render_audit_json(audit))
    golden("audit-offline/audit.md", render_audit_markdown(audit, paths=["manifests"]))


def test_output_is_deterministic() -> None:
    audit = mixed_audit()
    shuffled = build_audit(reversed(audit.findings), reversed(audit.errors), remote=True)
    for render in (render_audit_text, render_audit_json):
        assert render(audit) == render(shuffled)


def test_one_line_per_finding_whatever_the_text() -> None:
    text = render_audit_text(mixed_audit())
    lines = text.splitlines()
    audit = mixed_audit()
    headings = len({f.category for f in audit.findings}) + 1  # + read failed
    assert len(lines) == len(audit.findings) + len(audit.errors) + headings + 1
    assert '"odd id\\n2"' in text
    assert lines[-1] == "Audit: 11 disagreements; 1 record could not be read."


def test_colour_only_when_asked() -> None:
    assert "\033[" not in render_audit_text(mixed_audit())
    assert "\033[31mdrift in COR: renamed (1):\033[0m" in render_audit_text(
        mixed_audit(), color=True
    )


@pytest.mark.parametrize(
    ("findings", "errors", "line"),
    [
        (0, 0, "Audit: all agree."),
        (1, 0, "Audit: 1 disagreement."),
        (1200, 0, "Audit: 1,200 disagreements."),
        (0, 2, "Audit: 0 disagreements; 2 records could not be read."),
    ],
)
def test_summary_line(findings: int, errors: int, line: str) -> None:
    audit = build_audit(
        [Finding(Category.NOT_APPLIED, key("client", "SF", str(i))) for i in range(findings)],
        [ReadError(key("client", "SF", str(i)), i, "x") for i in range(errors)],
    )
    assert audit_summary(audit) == line


def outside_fences(markdown: str) -> str:
    """The Markdown with every fenced block removed: what GitHub renders as Markdown."""
    kept, fence = [], ""
    for line in markdown.splitlines():
        if fence:
            fence = "" if line == fence else fence
        elif line.startswith("```"):
            fence = line
        else:
            kept.append(line)
    return "\n".join(kept)


def test_markdown_keeps_user_text_inside_fences() -> None:
    text = render_audit_markdown(mixed_audit(), paths=["x --> <b>"])
    rendered = outside_fences(text)
    for needle in ("Evil", "<img", "odd id", "SF-ACC-1", "503"):
        assert needle not in rendered
    assert rendered.count("</details>") == 10  # the one in a name stays in its fence
    assert text.splitlines()[0] == "<!-- reconciler:audit manifests=x%20%2D-%3E%20%3Cb%3E -->"


def many_findings(count: int) -> Audit:
    """Built directly, so 100,000 findings stay fast."""
    return build_audit(
        [Finding(Category.NOT_APPLIED, key("client", "SF", f"C{i:06}")) for i in range(count)]
        + [Finding(Category.DELETED, key("product", "SF", "P1"), 52001)],
        remote=True,
    )


def test_100_000_findings_stay_within_the_comment_limit() -> None:
    text = render_audit_markdown(many_findings(100_000), paths=["manifests"], artifacts_hint="ART")
    assert len(text) <= COMMENT_LIMIT
    assert len(text) > COMMENT_LIMIT - 200  # the room is used, not wasted
    assert text.startswith("<!-- reconciler:audit manifests=manifests -->\n")
    assert "### reconciler audit: 100,001 disagreements\n" in text
    assert "| declared, never applied | 100,000 | 0 | 0 |\n" in text
    assert "| drift in COR: deleted | 0 | 0 | 1 |\n" in text
    assert "product SF/P1 (cor_id 52001): not found in COR\n" in text  # drift first
    shown = text.count("\nclient SF/C")
    assert f"\n… and {100_000 - shown:,} more; ART\n" in text


@pytest.mark.parametrize("limit", [1_500, 1_700, 2_000, 3_000, 5_000, 20_000])
def test_markdown_never_exceeds_the_limit(limit: int) -> None:
    audit = mixed_audit()
    text = render_audit_markdown(audit, paths=["manifests"], limit=limit)
    assert len(text) <= limit
    assert "| drift in COR: deleted | 0 | 0 | 1 |" in text
    full = render_audit_markdown(audit, paths=["manifests"])
    assert (text == full) == (limit >= len(full))


def test_markdown_when_not_even_the_frames_fit() -> None:
    audit = mixed_audit()
    head = render_audit_markdown(audit, paths=["m"]).split("<details>")[0]
    text = render_audit_markdown(audit, paths=["m"], limit=len(head) + 120)
    assert "Details left out to fit the comment limit" in text
    with pytest.raises(ValueError, match="too small"):
        render_audit_markdown(audit, paths=["m"], limit=100)


# --- parallel reads (readback) and the client's GET ---------------------------------------------


def test_reads_run_in_parallel_and_classify_failures() -> None:
    records = [
        recorded("client", "SF", f"C{i}", 25000 + i, name="x") for i in range(4)
    ]  # fmt: skip
    barrier = threading.Barrier(4, timeout=10)  # breaks unless 4 reads are in flight together
    failures: dict[str, ApiError] = {
        "clients/25001": NotFoundError("404 ClientNotFoundError", status=404),
        "clients/25002": NotFoundError("404 RouteNotFoundError", name="RouteNotFoundError"),
        "clients/25003": TransientError("GET /v1/clients/25003: 503 (gave up after 5 attempts)"),
    }

    def read(path: str) -> Mapping[str, Any]:
        barrier.wait()
        if path in failures:
            raise failures[path]
        return {"id": 25000, "name": "x"}

    answers = read_records(records, read, parallelism=4)
    assert list(answers.values()) == [
        {"id": 25000, "name": "x"},
        Gone(),
        Unread("404 RouteNotFoundError (is the read API URL right?)"),
        Unread("GET /v1/clients/25003: 503 (gave up after 5 attempts)"),
    ]


def test_an_authentication_failure_stops_the_reads() -> None:
    records = [recorded("client", "SF", f"C{i}", i, name="x") for i in range(20)]
    calls: list[str] = []

    def read(path: str) -> Mapping[str, Any]:
        calls.append(path)
        raise AuthError("401: refused", status=401)

    with pytest.raises(AuthError):
        read_records(records, read, parallelism=1)
    assert calls == ["clients/0"]


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> CorClient:
    return CorClient(
        api_url="https://integrations.test",
        auth_url="https://auth.test/v1",
        read_api_url="https://read.test/v1/",
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
        retry=RetryPolicy(max_attempts=3),
        **kw,
    )


def test_client_read_gets_the_main_api_with_retries_and_unwraps() -> None:
    seen: list[httpx.Request] = []
    answers = [
        httpx.Response(503),
        httpx.Response(200, json={"statusCode": 200, "status": "success", "data": {"id": 7}}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    with mock_client(handler, credentials=Credentials(token="S3CRET-token")) as client:
        assert client.read("clients/7") == {"id": 7}
    assert [str(r.url) for r in seen] == ["https://read.test/v1/clients/7"] * 2
    assert {r.method for r in seen} == {"GET"}
    assert seen[0].headers["Authorization"] == "Bearer S3CRET-token"
    assert seen[0].content == b""


def test_client_read_renews_a_refused_token_and_maps_not_found() -> None:
    tokens = iter(["T0KEN-1", "T0KEN-2"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth/token":
            return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 3600})
        if request.headers["Authorization"] == "Bearer T0KEN-1":
            return httpx.Response(401)
        return httpx.Response(404, json={"name": "ClientNotFoundError", "code": "ZC001"})

    pair = Credentials(api_key="K3Y-key", client_secret="S3CRET-secret")
    with mock_client(handler, credentials=pair) as client, pytest.raises(NotFoundError) as caught:
        client.read("clients/9")
    assert str(caught.value).startswith("GET /v1/clients/9: 404 ClientNotFoundError ZC001")


# --- the command against the emulator on loopback -----------------------------------------------

TOKEN = "audit-S3CRET-token"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(port=0, token=TOKEN)) as server:
        yield server


@pytest.fixture
def applied(tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work directory whose manifests (tests/test_e2e.py's) were applied to the emulator."""
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "salesforce.yaml").write_text(MANIFEST, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("RECONCILER_STATE", "NO_COLOR", "COR_API_KEY", "COR_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COR_API_URL", emulator.url)
    monkeypatch.setenv("COR_AUTH_URL", f"{emulator.url}/v1")
    monkeypatch.setenv("COR_READ_API_URL", f"{emulator.url}/v1")
    monkeypatch.setenv("COR_TOKEN", TOKEN)
    assert run(["apply", "--auto-approve"]) == 0
    return tmp_path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    return code, out, err


def mutate(server: EmulatorServer, kind: str, ext_id: str, **change: Any) -> None:
    body = {"kind": kind, "source": "SALESFORCE", "id": ext_id, **change}
    httpx.post(f"{server.url}/_emulator/mutate", json=body).raise_for_status()


def cor_ids(workdir: Path) -> dict[str, int]:
    state = json.loads((workdir / "reconciler.state.json").read_text(encoding="utf-8"))
    return {record["id"]: record["cor_id"] for record in state["resources"]}


def test_remote_audit_agrees_after_apply(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "audit", "--remote", "--detailed-exitcode")[:2] == (0, "Audit: all agree.\n")
    code, out, _ = cli(capsys, "audit", "--remote", "--format", "json", "--detailed-exitcode")
    assert code == 0
    assert json.loads(out)["summary"]["disagreements"] == 0
    assert json.loads(out)["remote"] is True
    code, out, _ = cli(capsys, "audit", "--remote", "--format", "markdown")
    assert (code, out.splitlines()[1]) == (0, "### reconciler audit: all agree")


def test_remote_audit_reports_out_of_band_changes_in_every_format(
    applied: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
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
    code, out, _ = cli(capsys, "audit", "--remote", "--detailed-exitcode", "--parallelism", "3")
    assert (code, out.splitlines()) == (2, expected)
    assert cli(capsys, "audit", "--remote", "--parallelism", "1")[:2] == (0, out)
    assert cli(capsys, "audit", "--detailed-exitcode")[:2] == (0, "Audit: all agree.\n")

    code, out, _ = cli(capsys, "audit", "--remote", "--format", "json", "--detailed-exitcode")
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

    code, out, _ = cli(capsys, "audit", "--remote", "--format", "markdown", "--detailed-exitcode")
    assert code == 2
    assert out.startswith("<!-- reconciler:audit manifests=manifests -->\n")
    assert "### reconciler audit: 4 disagreements\n" in out
    for row in ("deleted | 0 | 0 | 1", "renamed | 1 | 0 | 0", "re-parented | 0 | 0 | 1"):
        assert f"| drift in COR: {row} |\n" in out
    for line in expected[1:-1:2]:
        assert f"\n{line.strip()}\n" in out


def test_offline_audit_needs_no_credentials_nor_the_lock(
    applied: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COR_TOKEN")
    manifest = applied / "manifests" / "salesforce.yaml"
    manifest.write_text(
        MANIFEST.replace("name: Globex\n", "name: Globex\n  - id: SF-ACC-3\n    name: New\n")
        .replace("Home Kit", "Home Kit 2")
        .split("  - id: SF-PROD-3")[0],
        encoding="utf-8",
    )
    state = applied / "reconciler.state.json"
    before = state.read_bytes()
    ids = cor_ids(applied)
    with StateStore.open(state):  # held by an "apply": an audit reads without the lock
        code, out, err = cli(capsys, "audit", "--detailed-exitcode")
    assert (code, err) == (2, "")
    assert out.splitlines() == [
        "declared, never applied (1):",
        "  client SALESFORCE/SF-ACC-3",
        "recorded, no longer declared (1):",
        f"  product SALESFORCE/SF-PROD-3 (cor_id {ids['SF-PROD-3']})",
        "Audit: 2 disagreements.",
    ]
    assert state.read_bytes() == before
    code, _, err = cli(capsys, "audit", "--remote")
    assert code == 3
    assert "COR_TOKEN" in err


class _FlakyReadApi(ThreadingHTTPServer):
    """Relays GETs to the emulator's read API, but always answers 503 for `broken` and 503
    once for `flaky`: what COR's main API does on a bad day."""

    def __init__(self, upstream: str, broken: str, flaky: str) -> None:
        self.upstream, self.broken, self.flaky = upstream, broken, flaky
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _Relay)


class _Relay(BaseHTTPRequestHandler):
    server: _FlakyReadApi

    def do_GET(self) -> None:
        server = self.server
        server.seen.append(self.path)
        status, body = 503, b'{"name": "ServiceUnavailableError"}'
        if self.path != server.broken and (
            self.path != server.flaky or server.seen.count(self.path) > 1
        ):
            headers = {"Authorization": self.headers["Authorization"]}
            answer = httpx.get(server.upstream + self.path, headers=headers)
            status, body = answer.status_code, answer.content
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def flaky(applied: Path, emulator: EmulatorServer) -> Iterator[_FlakyReadApi]:
    ids = cor_ids(applied)
    server = _FlakyReadApi(
        emulator.url, f"/v1/clients/{ids['SF-ACC-1']}", f"/v1/brands/{ids['SF-BRAND-1']}"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_failed_read_is_an_error_and_the_rest_is_reported(
    applied: Path,
    emulator: EmulatorServer,
    flaky: _FlakyReadApi,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COR_TOKEN")  # the key and secret, exchanged for a token
    monkeypatch.setenv("COR_API_KEY", "demo-key")
    monkeypatch.setenv("COR_CLIENT_SECRET", "demo-secret")
    mutate(emulator, "client", "SF-ACC-2", set={"name": "Globex Renamed"})
    ids = cor_ids(applied)
    url = f"http://127.0.0.1:{flaky.server_address[1]}/v1"
    options = ["--remote", "--read-api-url", url, "--retry-attempts", "3", "--retry-max-wait", "1"]
    code, out, err = cli(capsys, "audit", *options, "--detailed-exitcode")
    assert code == 1
    lines = out.splitlines()
    assert lines[1].startswith(f"  client SALESFORCE/SF-ACC-2 (cor_id {ids['SF-ACC-2']}): name ")
    assert lines[2] == "read failed (1):"
    assert lines[3].startswith(
        f"  client SALESFORCE/SF-ACC-1 (cor_id {ids['SF-ACC-1']}): "
        f"GET /v1/clients/{ids['SF-ACC-1']}: 503 ServiceUnavailableError (gave up after "
    )
    assert lines[4:] == ["Audit: 1 disagreement; 1 record could not be read."]
    assert flaky.seen.count(f"/v1/brands/{ids['SF-BRAND-1']}") == 2  # retried, then read
    assert "retrying GET /v1/clients/" in err

    code, out, err = cli(capsys, "audit", *options, "--format", "json")
    document = json.loads(out)
    assert code == 1
    assert [f["id"] for f in document["findings"]] == ["SF-ACC-2"]
    assert [(e["id"], e["cor_id"]) for e in document["errors"]] == [("SF-ACC-1", ids["SF-ACC-1"])]
    assert document["summary"]["read_errors"] == 1
    code, out, err = cli(capsys, "audit", *options, "--format", "markdown")
    assert code == 1
    assert "> **Incomplete**: COR could not be read for 1 record" in out
    for secret in ("demo-secret", "ZGVtby1rZXk6ZGVtby1zZWNyZXQ="):  # and base64(key:secret)
        assert secret not in out + err


def test_a_wrong_read_api_url_is_not_mistaken_for_deletions(
    applied: Path, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "audit", "--remote", "--read-api-url", f"{emulator.url}/nope")
    assert code == 1
    assert "drift in COR: deleted" not in out
    assert "read failed (7):" in out
    assert out.splitlines()[-1] == "Audit: 0 disagreements; 7 records could not be read."


@pytest.mark.parametrize(
    "args", [["audit", "--format", "yaml"], ["audit", "--parallelism", "0"], ["audit", "nowhere"]]
)
def test_invalid_input_exits_3(
    applied: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert cli(capsys, *args)[0] == 3


def test_a_corrupt_state_exits_3(applied: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (applied / "reconciler.state.json").write_text("{", encoding="utf-8")
    code, out, err = cli(capsys, "audit", "--format", "json")
    assert code == 3
    assert json.loads(out)["outcome"] == "invalid"
    assert "reconciler.state.json" in err
