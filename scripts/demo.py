"""`make demo`: the whole loop against the local COR emulator, leaving nothing running.

Starts `reconciler emulator` on a free loopback port, then runs validate, plan, apply and plan
again (which must say `No changes.`) with a fresh state file in .demo/; then someone renames a
client in COR itself, which `audit --remote` and `plan --refresh` see and `apply --refresh`
repairs. Stops the emulator whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
RECONCILER = [sys.executable, "-m", "reconciler"]


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*RECONCILER, "emulator", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if "http://" not in line:
        process.kill()
        raise SystemExit(f"demo: the emulator did not start (it said {line!r})")
    return process, line[line.index("http://") :]


def rename_in_cor(url: str, kind: str, source: str, ext_id: str, name: str) -> None:
    """An out-of-band change, as someone editing the record in COR's UI would make it (the
    emulator's test-control API)."""
    print(f"\n# meanwhile, in COR's UI: {kind} {source}/{ext_id} is renamed {name!r}", flush=True)
    body = json.dumps({"kind": kind, "source": source, "id": ext_id, "set": {"name": name}})
    request = urllib.request.Request(
        f"{url}/_emulator/mutate",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def step(args: list[str], env: dict[str, str], expect: set[int]) -> str:
    print(f"\n$ reconciler {' '.join(args)}", flush=True)
    done = subprocess.run(
        [*RECONCILER, *args],
        env=env,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order written
    )
    sys.stdout.write(done.stdout)
    if done.returncode not in expect:
        raise SystemExit(f"demo: `reconciler {args[0]}` exited {done.returncode}")
    return done.stdout


def main() -> int:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir()
    emulator, url = start_emulator()
    try:
        print(f"COR emulator running at {url} (stopped at the end of the demo)")
        env = {
            **os.environ,
            "COR_API_URL": url,
            "COR_AUTH_URL": f"{url}/v1",
            "COR_READ_API_URL": f"{url}/v1",
            "COR_API_KEY": "demo-key",
            "COR_CLIENT_SECRET": "demo-secret",
            "RECONCILER_STATE": str(DEMO_DIR / "reconciler.state.json"),
        }
        env.pop("COR_TOKEN", None)
        step(["validate", "manifests"], env, {0})
        step(["plan", "manifests"], env, {0})
        step(["apply", "--auto-approve", "manifests"], env, {0})
        again = step(["plan", "--detailed-exitcode", "manifests"], env, {0})
        if again.strip().splitlines()[-1:] != ["No changes."]:
            raise SystemExit("demo: the second plan should say `No changes.`")
        rename_in_cor(url, "client", "SALESFORCE", "SF-ACC-10001", "Renamed in COR's UI")
        step(["audit", "--remote", "--detailed-exitcode", "manifests"], env, {2})
        step(["plan", "--refresh", "manifests"], env, {0})
        step(["apply", "--refresh", "--auto-approve", "manifests"], env, {0})
        repaired = step(["plan", "--refresh", "--detailed-exitcode", "manifests"], env, {0})
        if repaired.strip().splitlines()[-1:] != ["No changes."]:
            raise SystemExit("demo: after apply --refresh, plan --refresh should say `No changes.`")
        print(f"\nDemo complete. The state file is {env['RECONCILER_STATE']}.")
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
