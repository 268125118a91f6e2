"""`--state` URLs and the stores behind them (docs/hostile-inputs.md, "State stores"): a URL
holding a credential, a name that could reach SQL or a key that climbs, an endpoint holding a
secret, a store that does not answer. Each is refused with exit 3 (exit 1 for a store that
cannot be reached) before anything is read or written, and no secret is ever printed.
"""

from __future__ import annotations

import pytest

from tests.harness import Cli, WorkFolder
from tests.hostile.checks import assert_clean

SECRET = "hunter2-0f9e8d7c"
CLEAR = "\x1b[2J"
MANIFEST = {"jira.yaml": "source: JIRA\nclients:\n  - {id: C-1, name: Acme}\n"}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param(
            f"postgresql://ci:{SECRET}@db/cor", "holds a password", id="state-url-password"
        ),
        pytest.param(
            f"postgresql://db/cor?password={SECRET}",
            "holds a password",
            id="state-url-password-param",
        ),
        pytest.param("gs://bucket/state.json", "no 'gs' store", id="state-url-unknown-scheme"),
        pytest.param(
            f"postgresql://db/cor?state=x{CLEAR}", "control character", id="state-url-control"
        ),
        pytest.param(
            'postgresql://db/cor?schema=x";drop schema public cascade;--',
            "is not a schema's name",
            id="state-url-schema-injection",
        ),
        pytest.param(
            f"s3://AKIAEXAMPLE:{SECRET}@bucket/state.json", "user information", id="s3-url-userinfo"
        ),
        pytest.param("s3://bucket/states/../state.json", "a . or .. part", id="s3-key-dots"),
    ],
)
def test_a_bad_state_url_is_refused_before_anything_is_read(
    work_folder: WorkFolder, cli: Cli, url: str, says: str
) -> None:
    work_folder(MANIFEST)
    code, out, err = cli("plan", "--state", url)
    assert_clean(code, out, err, exit_code=3, says=says, secrets=[SECRET])
    assert sorted(p.name for p in work_folder.root.iterdir()) == ["manifests"]


@pytest.mark.parametrize(
    "endpoint", [pytest.param(f"http://key:{SECRET}@127.0.0.1:9", id="s3-endpoint-userinfo")]
)
def test_an_endpoint_holding_a_secret_is_refused(
    work_folder: WorkFolder, cli: Cli, monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    code, out, err = cli("state", "list", "--state", "s3://bucket/state.json")
    assert_clean(code, out, err, exit_code=3, says="holds user information", secrets=[SECRET])


@pytest.mark.parametrize(
    "setting",
    [pytest.param(f'state = "postgresql://ci:{SECRET}@db/cor"', id="config-state-password")],
)
def test_a_config_naming_a_state_with_a_password_is_refused_at_its_line(
    work_folder: WorkFolder, cli: Cli, setting: str
) -> None:
    (work_folder.root / "reconciler.toml").write_text(f"parallelism = 2\n{setting}\n", "utf-8")
    code, out, err = cli("state", "list")
    assert_clean(
        code,
        out,
        err,
        exit_code=3,
        says=["reconciler.toml:2:", "1 problem found"],
        secrets=[SECRET],
    )
