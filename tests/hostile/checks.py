"""What every hostile-input case asserts, whatever its input (docs/hostile-inputs.md)."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.core.text import UNSAFE


def assert_clean(
    code: int,
    out: str,
    err: str,
    *,
    exit_code: int,
    says: str | Iterable[str] = (),
    secrets: Iterable[str] = (),
) -> None:
    """The run exited `exit_code`, said each of `says` (stdout or stderr), and printed no
    traceback, no "unexpected error", no raw control character (a newline is fine) and none of
    `secrets`, in any form."""
    both = out + err
    assert "Traceback" not in both, both
    assert "unexpected error" not in both, both
    raw = {c for c in UNSAFE.findall(both) if c != "\n"}
    assert not raw, f"raw control characters {sorted(map(repr, raw))} in output:\n{both!r}"
    for secret in secrets:
        assert secret not in both, "a secret was printed"
        assert secret.lower() not in both.lower(), "a secret was printed (case changed)"
    for fragment in [says] if isinstance(says, str) else says:
        assert fragment in both, f"{fragment!r} not said in:\n{both}"
    assert code == exit_code, f"exit {code}, expected {exit_code}:\n{both}"
