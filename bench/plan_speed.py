"""Benchmark: validate and plan at 1,000 to 100,000 products, against the YAML parser's floor.

`python bench/plan_speed.py [--sizes 1000 10000 100000] [--runs 5] [--layouts one spread]
[--write docs/benchmarks.md]` generates, for each size N: N products with 1% as many clients
and 5% as many brands, in one file (`one`) or spread over 100 files (`spread`); the same with
N/10 products that each carry one problem; and a state file, written directly in its documented
format (docs/state.md), that holds 99% of the entities, 1% of them with another name (and one
that holds all of them, as declared).

Each command runs as its own process (`python -m reconciler ...`, interpreter start included):
`validate --no-cache`, the same over the manifests with problems, `plan --no-cache` (cold) and
`plan` with a cache filled by an earlier run over the same files (warm: nothing changed), and
that warm plan against a state recording every entity as declared (no-op: `No changes.`). In the
same run, the floor: a process that only does `yaml.load(text, Loader=yaml.CSafeLoader)` of the
same files with the garbage collector paused. Reported: the median wall time of `--runs` runs
with min-max (the runs of all commands interleaved, so that a busy moment hits them alike), the
peak memory (ru_maxrss of the process), cold plan ÷ floor, and each target of issues 5 and 9
at N = 100,000, met or not. The machine's load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from publish import publish

RECONCILER = [sys.executable, "-m", "reconciler"]
FLOOR = (
    "import gc, sys, yaml\n"
    "gc.disable()\n"
    "for name in sys.argv[1:]:\n"
    "    with open(name, encoding='utf-8') as handle:\n"
    "        yaml.load(handle.read(), Loader=yaml.CSafeLoader)\n"
)
SOURCE = "SALESFORCE"
FILES_SPREAD = 100
TARGET_SIZE = 100_000
_WORDS = ("Rocket Skates", "Giant Magnet", "Anvil Classic", "Earthquake Pills", "Instant Hole")

Entry = dict[str, str]


@dataclass(frozen=True)
class Catalogue:
    """N products, 1% as many clients, 5% as many brands; a product's client is its brand's."""

    clients: list[Entry]
    brands: list[Entry]
    products: list[Entry]

    @staticmethod
    def make(products: int) -> Catalogue:
        clients = [_client(c) for c in range(max(1, products // 100))]
        brands = [
            {
                "id": f"SF-BR-{b:06d}",
                "name": f"Brand {b}",
                "client_id": clients[b % len(clients)]["id"],
            }
            for b in range(max(1, products // 20))
        ]
        return Catalogue(clients, brands, [_product(p, brands) for p in range(products)])

    def sections(self) -> dict[str, list[Entry]]:
        return {"clients": self.clients, "brands": self.brands, "products": self.products}


def _client(c: int) -> Entry:
    return {
        "id": f"SF-ACC-{c:06d}",
        "name": f"Client {c} Holdings",
        "business_name": f"Client {c} Holdings, Inc.",
        "email_contact": f"contact@client{c}.example",
        "website": f"https://client{c}.example",
    }


def _product(p: int, brands: list[Entry]) -> Entry:
    brand = brands[p % len(brands)]
    entry = {
        "id": f"SF-PRD-{p:07d}",
        "name": f"{_WORDS[p % len(_WORDS)]} {p}",
        "client_id": brand["client_id"],
        "brand_id": brand["id"],
    }
    if p % 3 == 1:
        entry["description"] = f"Evergreen catalogue product {p}, print and social media."
    elif p % 3 == 2:  # quoted in the file: ": " cannot be plain
        entry["description"] = f"Campaign {p}: print, social and display, spring launch."
    return entry


def write_manifests(folder: Path, catalogue: Catalogue, layout: str, errors: int = 0) -> int:
    """The manifests in one file or 100; with `errors`, that many products (evenly spread)
    carry one problem each, of five kinds in turn. Returns the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = catalogue.sections()
    if errors:
        products = sections["products"]
        step = len(products) // errors
        broken = {index * step: index % 5 for index in range(errors)}
        sections["products"] = [
            _broken(entry, broken[i]) if i in broken else entry for i, entry in enumerate(products)
        ]
    parts = 1 if layout == "one" else FILES_SPREAD
    written = 0
    for part in range(parts):
        lines = [f"source: {SOURCE}"]
        for name, entries in sections.items():
            chunk = entries[part * len(entries) // parts : (part + 1) * len(entries) // parts]
            if chunk:
                lines.append(f"{name}:")
                lines.extend(_entry_lines(entry) for entry in chunk)
        text = "\n".join(lines) + "\n"
        stem = "catalogue" if parts == 1 else f"part-{part:03d}"
        written += (folder / f"{stem}.yaml").write_bytes(text.encode("utf-8"))
    return written


def _entry_lines(entry: Entry) -> str:
    return "\n".join(
        f"{'  - ' if index == 0 else '    '}{name}: {_scalar(value)}"
        for index, (name, value) in enumerate(entry.items())
    )


def _scalar(value: str) -> str:
    """Plain where YAML reads it back as the same string, double-quoted otherwise."""
    return json.dumps(value) if ": " in value or not value else value


def _broken(entry: Entry, kind: int) -> Entry:
    number = entry["id"].rsplit("-", 1)[1]
    if kind == 0:  # an integer id
        return {**entry, "id": str(int(number) + 10_000_000)}
    if kind == 1:
        return {**entry, "colour": "red"}  # an unknown field
    if kind == 2:
        return {**entry, "brand_id": f"SF-BR-GONE-{number}"}  # a reference to nothing
    if kind == 3:
        return {key: value for key, value in entry.items() if key != "name"}  # no name
    return {**entry, "description": ""}  # an empty value


def write_state(path: Path, catalogue: Catalogue, layout: str, *, everything: bool = False) -> int:
    """docs/state.md's format, holding 99% of the entities, 1% of those with an older name; with
    `everything`, every entity as declared (a plan finds nothing to do). Each record names the
    file `write_manifests` put it in (`ok/...`, relative to the state's folder), as apply
    records it. Returns the number of changes a plan finds: creates and updates."""
    resources, changes, cor_id = [], 0, 1000
    parts = 1 if layout == "one" else FILES_SPREAD
    for kind, entries in zip(
        ("client", "brand", "product"), catalogue.sections().values(), strict=True
    ):
        files = [
            f"ok/{'catalogue' if parts == 1 else f'part-{part:03d}'}.yaml"
            for part in range(parts)
            for _ in range((part + 1) * len(entries) // parts - part * len(entries) // parts)
        ]
        for index, entry in enumerate(entries):
            cor_id += 1
            if index % 100 == 0 and not everything:  # not recorded yet: a create
                changes += 1
                continue
            attributes = {key: value for key, value in entry.items() if key != "id"}
            if index % 100 == 50 and not everything:  # recorded under an older name: an update
                attributes["name"] += " (old)"
                changes += 1
            resources.append(
                {"kind": kind, "source": SOURCE, "id": entry["id"], "cor_id": cor_id}
                | {"attributes": dict(sorted(attributes.items())), "file": files[index]}
            )
    document = {"format_version": 2, "lineage": "0" * 32, "serial": 1, "resources": resources}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return changes


def generate(size: int, layout: str, folder: Path) -> tuple[int, int]:
    """The files of one case: manifests, manifests with N/10 problems, the state. Returns the
    bytes of YAML and the number of changes a plan finds."""
    catalogue = Catalogue.make(size)
    yaml_bytes = write_manifests(folder / "ok", catalogue, layout)
    write_manifests(folder / "bad", catalogue, layout, errors=size // 10)
    write_state(folder / "state-all.json", catalogue, layout, everything=True)
    return yaml_bytes, write_state(folder / "state.json", catalogue, layout)


@dataclass
class Timings:
    """One command's runs: wall seconds and peak memory (KiB, ru_maxrss) of each process."""

    seconds: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.seconds)

    def cell(self) -> str:
        return f"{self.median():.2f} s ({min(self.seconds):.2f}-{max(self.seconds):.2f})"

    def memory(self) -> str:
        return f"{max(self.peak_kib) * 1024 / 1e6:,.0f} MB"


def timed(argv: list[str], expect: int, output: Path) -> tuple[float, int]:
    """Runs `argv` as its own process, its stdout and stderr to files `output`.out and .err;
    returns its wall time and peak memory. Stops the benchmark on an unexpected exit code."""
    with (
        open(output.with_suffix(".out"), "wb") as out,
        open(output.with_suffix(".err"), "wb") as err,
    ):
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != expect:
        raise SystemExit(f"{' '.join(argv[2:6])}...: exit {code}, expected {expect}")
    return seconds, usage.ru_maxrss


@dataclass
class Case:
    """One size and layout: its files, and the commands measured over them."""

    size: int
    layout: str
    folder: Path
    yaml_bytes: int = 0
    changes: int = 0
    results: dict[str, Timings] = field(default_factory=dict)

    def prepare(self) -> None:
        """Generates the files in a process of its own: a child's ru_maxrss counts the pages
        of the process it was forked from, so this one must never grow."""
        argv = [sys.executable, __file__, "--generate", str(self.size), self.layout]
        made = subprocess.run([*argv, str(self.folder)], capture_output=True, check=True)
        self.yaml_bytes, self.changes = json.loads(made.stdout)
        warm, _ = self.commands()["warm"]
        timed(warm, 0, self.folder / "filling")  # a first plan fills the cache

    def commands(self) -> dict[str, tuple[list[str], int]]:
        ok, bad = str(self.folder / "ok"), str(self.folder / "bad")
        files = sorted(str(path) for path in (self.folder / "ok").glob("*.yaml"))
        validate = [*RECONCILER, "validate", "--no-cache"]
        plan = [*RECONCILER, "plan", "--no-color", "--state", str(self.folder / "state.json")]
        cache = ["--cache-dir", str(self.folder / "cache")]
        noop = [*RECONCILER, "plan", "--no-color", "--state", str(self.folder / "state-all.json")]
        return {
            "floor": ([sys.executable, "-c", FLOOR, *files], 0),
            "validate": ([*validate, ok], 0),
            "errors": ([*validate, bad], 3),
            "cold": ([*plan, "--no-cache", ok], 0),
            "warm": ([*plan, *cache, ok], 0),
            "noop": ([*noop, *cache, ok], 0),
        }

    def run_once(self) -> None:
        for name, (argv, expect) in self.commands().items():
            seconds, peak = timed(argv, expect, self.folder / name)
            timings = self.results.setdefault(name, Timings())
            timings.seconds.append(seconds)
            timings.peak_kib.append(peak)
        self.check()

    def check(self) -> None:
        """The runs did the work: every problem printed, both plans alike and as expected."""
        errors = (self.folder / "errors.err").read_text(encoding="utf-8").splitlines()
        if len(errors) != self.size // 10 + 1:  # and the count
            raise SystemExit(f"N={self.size}: {len(errors) - 1} problems, not {self.size // 10}")
        cold = (self.folder / "cold.out").read_bytes()
        if cold != (self.folder / "warm.out").read_bytes():
            raise SystemExit(f"N={self.size}: the plan with the cache differs from the one without")
        last = cold.decode("utf-8").splitlines()[-1]
        counted = sum(int(word) for word in last.split() if word.isdigit())
        if not last.startswith("Plan: ") or counted != self.changes:
            raise SystemExit(f"N={self.size}: unexpected plan summary {last!r}")
        if (self.folder / "noop.out").read_bytes() != b"No changes.\n":
            raise SystemExit(f"N={self.size}: the plan of a state holding everything has changes")

    def ratio(self, name: str, base: str) -> float:
        return self.results[name].median() / self.results[base].median()


COLUMNS = (
    ("floor", "floor (libyaml)"),
    ("validate", "validate"),
    ("errors", "validate, N/10 errors"),
    ("cold", "plan, cold"),
    ("warm", "plan, warm cache"),
    ("noop", "no-op plan, warm cache"),
)


def report(cases: list[Case], runs: int) -> str:
    lines = [
        "Generated manifests (`bench/plan_speed.py`): N products with 1% as many clients and 5% "
        "as many brands, in one file or spread over 100; a state file holding 99% of them, 1% "
        "of those changed. Each command runs as its own process (`python -m reconciler ...`, "
        f"interpreter start included): the median wall time of {runs} runs (min-max), runs of "
        "all commands interleaved. *Floor*: a process that only does `yaml.load(text, "
        "Loader=yaml.CSafeLoader)` of the same files with the garbage collector paused, "
        "measured in the same run. *Cold*: `--no-cache`; *warm*: nothing changed since the "
        "previous plan (docs/cli.md, the cache). *No-op*: the same warm plan against a state "
        "that records every entity as declared (`No changes.`). *Errors*: N/10 products carry "
        "one problem "
        "each, all printed. Memory: peak RSS of the cold plan. At 1,000 products, starting "
        "the interpreter and importing what the command needs (0.05-0.15 s) is most of each "
        "command's time. "
        "Reproduce with `make bench` (a few minutes).",
        "",
        "| N | files | YAML | "
        + " | ".join(title for _, title in COLUMNS)
        + " | cold ÷ floor | peak memory, cold plan |",
        "|---:|---:|---:|" + "---:|" * len(COLUMNS) + "---:|---:|",
    ]
    for case in cases:
        cells = [case.results[name].cell() for name, _ in COLUMNS]
        lines.append(
            f"| {case.size:,} | {1 if case.layout == 'one' else FILES_SPREAD} "
            f"| {case.yaml_bytes / 1e6:.1f} MB | "
            + " | ".join(cells)
            + f" | {case.ratio('cold', 'floor'):.2f} | {case.results['cold'].memory()} |"
        )
    targets = [case for case in cases if case.size == TARGET_SIZE]
    if targets:
        lines += ["", *target_table(targets)]
    return "\n".join(lines) + "\n"


def target_table(cases: list[Case]) -> list[str]:
    """The targets at N = 100,000 (issues 5 and 9), for each layout."""
    header = " | ".join("one file" if c.layout == "one" else f"{FILES_SPREAD} files" for c in cases)
    lines = [
        f"Targets at N = {TARGET_SIZE:,}:",
        "",
        f"| target | {header} |",
        "|---|" + "---|" * len(cases),
    ]
    rows = [
        ("cold plan ≤ 1.1 x the floor", lambda c: c.ratio("cold", "floor"), 1.1, "{:.2f} x"),
        (
            "no-op plan, cache warm ≤ 1.0 s",
            lambda c: c.results["noop"].median(),
            1.0,
            "{:.2f} s",
        ),
        (
            "plan with nothing changed ≤ 1.5 s",
            lambda c: c.results["warm"].median(),
            1.5,
            "{:.2f} s",
        ),
        (
            "peak memory of a cold plan ≤ 500 MB",
            lambda c: max(c.results["cold"].peak_kib) * 1024 / 1e6,
            500,
            "{:.0f} MB",
        ),
        (
            f"validate with {TARGET_SIZE // 10:,} errors ≤ 2 x error-free",
            lambda c: c.ratio("errors", "validate"),
            2,
            "{:.2f} x",
        ),
    ]
    for title, measure, limit, form in rows:
        cells = []
        for case in cases:
            value = measure(case)
            cells.append(f"{form.format(value)} {'met' if value <= limit else '**not met**'}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, TARGET_SIZE])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--layouts", nargs="+", choices=["one", "spread"], default=["one", "spread"]
    )
    parser.add_argument("--write", type=Path, help="replace this section of the Markdown file")
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)  # SIZE LAYOUT FOLDER
    options = parser.parse_args()
    if options.generate:
        size, layout, folder = options.generate
        print(json.dumps(generate(int(size), layout, Path(folder))))
        return 0
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        cases = [
            Case(size, layout, Path(tmp) / f"{size}-{layout}")
            for size in options.sizes
            for layout in options.layouts
        ]
        for case in cases:
            case.prepare()
            for run in range(options.runs):
                case.run_once()
                print(f"N={case.size:,} {case.layout}: run {run + 1} done", file=sys.stderr)
    text = report(cases, options.runs)
    publish(text, "## Plan and validate", options.write, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
