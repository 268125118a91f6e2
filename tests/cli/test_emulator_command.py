"""`reconciler emulator` (cli/emulator_command.py): the fault options reach the emulator's
configuration, and values out of range are refused (exit 3)."""

from __future__ import annotations

import pytest

from reconciler.cli import run
from reconciler.emulator import EmulatorConfig
from reconciler.errors import EXIT_INVALID, EXIT_OK


def test_cli_passes_the_fault_options_into_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[EmulatorConfig] = []
    # where the command looks it up (it imports `serve` by name): whichever test loaded the
    # command first, this one's `serve` is the fake
    monkeypatch.setattr(
        "reconciler.cli.emulator_command.serve", lambda config, announce: served.append(config)
    )
    options = ["--fail-rate", "0.2", "--lost-response-rate", "0.05", "--rate-limit", "200"]
    options += ["--throttle-rate", "0.1", "--throttle-retry-after", "0"]
    assert run(["emulator", "--port", "0", *options, "--token-ttl", "2", "--seed", "7"]) == EXIT_OK
    assert run(["emulator", "--port", "0"]) == EXIT_OK

    configured, default = served
    assert (configured.fail_rate, configured.lost_response_rate) == (0.2, 0.05)
    assert (configured.rate_limit, configured.token_ttl, configured.seed) == (200, 2, 7)
    assert (configured.throttle_rate, configured.throttle_retry_after) == (0.1, 0)
    assert default == EmulatorConfig(port=0)


@pytest.mark.parametrize(
    "option",
    [
        ["--fail-rate", "1.5"],
        ["--fail-rate", "nan"],
        ["--lost-response-rate", "-1"],
        ["--rate-limit", "0"],
        ["--token-ttl", "0"],
        ["--throttle-rate", "1.1"],
        ["--throttle-retry-after", "-1"],
        ["--throttle-rate", "0.6", "--fail-rate", "0.5"],  # over 1 together
        ["--seed", "x"],
    ],
)
def test_cli_refuses_fault_options_out_of_range(option: list[str]) -> None:
    assert run(["emulator", "--port", "0", *option]) == EXIT_INVALID
