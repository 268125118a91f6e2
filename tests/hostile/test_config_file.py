"""Hostile inputs, "Config file" (docs/hostile-inputs.md): what may be found as
`reconciler.toml` (cli/config.py). Refused with exit 3 and located, never opened when it is not
a regular file, never read past its cap, never a credential or a raw control character echoed.

What could hang or fill memory on a faulty reader runs as a child process with a timeout and a
memory cap (tests/manifests/processes.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.cli.config import MAX_BYTES
from tests.harness import Cli, WorkFolder, write_files
from tests.hostile.checks import assert_clean
from tests.manifests.processes import run_reconciler

SECRET = "Cfg-S3cret/with+odd=chars-0123456789"


def _fifo(root: Path) -> None:
    os.mkfifo(root / "reconciler.toml")


def _zero(root: Path) -> None:
    (root / "reconciler.toml").symlink_to("/dev/zero")


def _huge(root: Path) -> None:
    with open(root / "reconciler.toml", "wb") as file:  # sparse: no disk written
        file.truncate(MAX_BYTES + 1)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        pytest.param(_fifo, "reconciler.toml is a FIFO (named pipe)", id="config-fifo"),
        pytest.param(_zero, "reconciler.toml is a symbolic link", id="config-linked-to-dev-zero"),
        pytest.param(_huge, "reconciler.toml:1:1: larger than 1 MiB", id="config-over-size-cap"),
    ],
)
def test_what_must_not_be_read(tmp_path: Path, make: Callable[[Path], None], says: str) -> None:
    make(tmp_path)
    code, out, err = run_reconciler("validate", cwd=tmp_path)
    assert_clean(code, out, err, exit_code=3, says=says)


@pytest.mark.parametrize(
    ("text", "args", "says"),
    [
        pytest.param(
            f'[env.ci]\ncor_token = "{SECRET}"\n',
            ("validate",),
            "reconciler.toml:2:1: 'env.ci.cor_token' looks like a credential",
            id="config-credential",
        ),
        pytest.param(
            '"x\\u001b]0;owned\\u0007\\u202e" = 1\n',
            ("validate",),
            "unknown key 'x\\x1b]0;owned\\x07\\u202e'",
            id="config-key-acts-on-the-terminal",
        ),
        pytest.param(
            "[env.staging]\n",
            ("--env", "\x1b[2J\u202e", "validate"),
            "--env \\x1b[2J\\u202e: reconciler.toml has no [env.\\x1b[2J\\u202e]",
            id="config-env-name-acts-on-the-terminal",
        ),
        pytest.param(
            b"state = 'a\xffb'\n",
            ("validate",),
            "reconciler.toml:1:11: not UTF-8 text",
            id="config-not-utf8",
        ),
    ],
)
def test_what_is_refused_cleanly(
    cli: Cli, work_folder: WorkFolder, text: str | bytes, args: tuple[str, ...], says: str
) -> None:
    write_files(work_folder.root, {"reconciler.toml": text})
    code, out, err = cli(*args)
    assert_clean(code, out, err, exit_code=3, says=says, secrets=[SECRET])
