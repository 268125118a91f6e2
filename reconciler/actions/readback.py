"""Reads the recorded records back from COR's main API: by its lists where that takes fewer
requests, else by COR id, in parallel (docs/audit.md, "Reading COR").

Orchestration over injected edges, like `apply.py`: the CLI injects `read` (`CorClient.read`, which
retries 429, 5xx and lost connections), so this is tested with the emulator or any fake. Kind by
kind: one record is read by its COR id; more than one, page 1 of the kind's list first
(`products?page=1&perPage=50`), then the other pages in parallel if they are fewer than the records
still to find, else those records by COR id. A list holds the whole account (other sources, records
reconciler never made): items are matched to records by COR id, the rest ignored. A record the
lists do not hold is read by its COR id before it is said gone (a list read while COR changes can
skip one). A page that is not a page (pages.py) or that fails ends that kind's list reading, with
one warning line, and its records not yet found are read by COR id: the number of list requests
never exceeds the number of records to read, whatever a page says.

Up to `parallelism` reads are in flight together on worker threads. A not-found answer by COR id
says the record is gone; any other API error is that record's failure, and the other reads go
on. The stop policy (stopping.py) is apply's: an authentication failure (every later read would
fail the same way) or an interrupt stops the reads (those not yet sent are dropped, and it is
raised); COR down as a whole (requests in a row giving up) stops them too, each record not yet
read then Unread, saying why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from reconciler.actions.edges import Read
from reconciler.actions.pages import Malformed, Page, read_page
from reconciler.actions.stopping import STOPS_AT_ONCE, StopPolicy
from reconciler.core.drift import Answer, Gone, Unread
from reconciler.core.resources import KINDS, Kind, Record, ResourceKey
from reconciler.errors import ApiError, NotFoundError, TransientError

DEFAULT_PAGE_SIZE = 50  # COR's guide: perPage up to 50 (cor-api.md, open question 8)
_NO_ROUTE = "RouteNotFoundError"  # the path itself is unknown: a wrong URL, not a gone record

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Reading:
    """What `read_live` learnt: one answer per record given (in apply order); the read requests
    sent, list pages and reads by COR id alike (each once: the client's retries of a request
    are not counted); how many of those asked for a list page; the kinds read, at least in
    part, by their lists (their page 1 was a page; in `KINDS` order)."""

    answers: dict[ResourceKey, Answer]
    requests: int
    pages: int
    listed: tuple[Kind, ...]


def read_path(record: Record) -> str:
    """Where the read API serves a record: `clients/25855`, by COR id."""
    return f"{record.key.kind.plural}/{record.cor_id}"


def page_path(kind: Kind, page: int, per_page: int) -> str:
    """A page of a kind's list: `products?page=2&perPage=50`."""
    return f"{kind.plural}?page={page}&perPage={per_page}"


def read_live(
    records: Iterable[Record],
    read: Read,
    *,
    parallelism: int = 8,
    page_size: int = DEFAULT_PAGE_SIZE,
    policy: StopPolicy | None = None,
    warn: Warn = lambda _message: None,
) -> Reading:
    """COR's answer for every record (Gone only once a read by COR id said not found);
    AuthError stops and is raised. When `policy` says COR is down, the records not yet read are
    Unread, saying why. `warn` gets one line per kind whose list could not be used."""
    if parallelism < 1 or page_size < 1:
        raise ValueError("parallelism and page_size must be at least 1")
    ordered = sorted(records, key=lambda record: record.key.sort_key())
    by_kind: dict[Kind, list[Record]] = {}
    for record in ordered:
        by_kind.setdefault(record.key.kind, []).append(record)
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="read") as pool:
        reader = _Reader(read, pool, parallelism, page_size, policy or StopPolicy(), warn)
        try:
            for kind in KINDS:
                reader.read_kind(kind, by_kind.get(kind, []))
        except BaseException:  # AuthError, Ctrl-C: the queued reads end at once, unsent
            reader.stop.set()
            raise
    answers = {record.key: reader.answers[record.key] for record in ordered}
    listed = tuple(kind for kind in KINDS if kind in reader.listed)
    return Reading(answers, reader.requests, reader.pages, listed)


_Outcome = Page | Malformed | ApiError | None  # None: not sent, the reads were stopped


class _Reader:
    """The state of one `read_live`: the answers so far and the requests counted."""

    def __init__(
        self,
        read: Read,
        pool: ThreadPoolExecutor,
        parallelism: int,
        page_size: int,
        watch: StopPolicy,
        warn: Warn,
    ) -> None:
        self._read, self._pool, self._wave, self._page_size = read, pool, parallelism, page_size
        self._watch, self._warn = watch, warn
        self.stop = threading.Event()
        self.answers: dict[ResourceKey, Answer] = {}
        self.listed: set[Kind] = set()
        self.requests = self.pages = 0
        self._count = threading.Lock()

    def read_kind(self, kind: Kind, records: list[Record]) -> None:
        """Every record of one kind: by its list if that is cheaper, the rest by COR id."""
        if len(records) > 1 and not self.stop.is_set():
            wanted: dict[int, list[Record]] = {}
            for record in records:
                wanted.setdefault(record.cor_id, []).append(record)
            trouble = self._list(kind, wanted)
            left = sum(len(each) for each in wanted.values())
            if trouble and not self.stop.is_set():
                self._warn(
                    f"the {kind.plural} list: {trouble}; {_records(left)} not found in it "
                    "read by COR id instead"
                )
            records = [record for each in wanted.values() for record in each]
        self.answers.update(zip((r.key for r in records), self._by_id(records), strict=True))

    def _list(self, kind: Kind, wanted: dict[int, list[Record]]) -> str:
        """Reads the list's pages while they are fewer than the records still wanted, taking
        what they hold out of `wanted`; what went wrong, or ""."""
        first = self._page(kind, 1)
        if not isinstance(first, Page):
            return _trouble(1, first)
        self.listed.add(kind)
        self._take(first, wanted)
        count = first.page_count(self._page_size)
        if count is None:
            return self._walk(kind, first, wanted)
        pages = range(2, count + 1)
        if not wanted or not 0 < len(pages) < sum(len(each) for each in wanted.values()):
            return ""
        return self._fetch(kind, pages, wanted, None)[0]

    def _walk(self, kind: Kind, first: Page, wanted: dict[int, list[Record]]) -> str:
        """A list that tells neither its total nor its last page: page after page, a wave of
        `parallelism` at a time, until a short or empty page, a page of nothing new, or as many
        pages as records were still wanted after page 1."""
        full = first.per_page or self._page_size
        budget = sum(len(each) for each in wanted.values()) - 1
        seen, start, last = {cor_id for cor_id, _ in first.items}, 2, first
        while wanted and budget > 0 and len(last.items) >= full:
            wave = range(start, start + min(self._wave, budget))
            trouble, fetched = self._fetch(kind, wave, wanted, seen)
            if trouble or len(fetched) < len(wave):  # fewer: stopped
                return trouble
            start, budget, last = wave.stop, budget - len(wave), min(fetched, key=_size)
        return ""

    def _fetch(
        self, kind: Kind, numbers: range, wanted: dict[int, list[Record]], seen: set[int] | None
    ) -> tuple[str, list[Page]]:
        """Pages `numbers` in parallel, what they hold taken out of `wanted`, and what went wrong
        (or ""); a page that fails or is not a page halts those not yet sent. With `seen` (the
        COR ids listed so far, page by page), a page of items all seen before is not a page."""
        halt = threading.Event()

        def one(number: int) -> _Outcome:
            outcome = None if halt.is_set() else self._page(kind, number)
            if outcome is not None and not isinstance(outcome, Page):
                halt.set()
            return outcome

        fetched: list[Page] = []
        trouble = ""
        for number, outcome in zip(numbers, self._pool.map(one, numbers), strict=True):
            if isinstance(outcome, Page) and not trouble:
                if seen is not None:
                    if outcome.items and all(cor_id in seen for cor_id, _ in outcome.items):
                        trouble = f"page {number} is not a page: it repeats items listed before"
                        continue
                    seen.update(cor_id for cor_id, _ in outcome.items)
                self._take(outcome, wanted)
                fetched.append(outcome)
            elif outcome is not None and not isinstance(outcome, Page):
                trouble = trouble or _trouble(number, outcome)
        return trouble, fetched

    def _take(self, page: Page, wanted: dict[int, list[Record]]) -> None:
        for cor_id, item in page.items:
            for record in wanted.pop(cor_id, ()):
                self.answers[record.key] = item

    def _page(self, kind: Kind, number: int) -> _Outcome:
        """One page, or why not; AuthError is raised."""
        path = page_path(kind, number, self._page_size)
        answer = self._send(path, f"{kind.plural} page {number}", page=True)
        if answer is None or isinstance(answer, ApiError):
            return answer
        page = read_page(answer)
        if isinstance(page, Page) and page.page is not None and page.page != number:
            return Malformed(f"it says it is page {page.page}")
        return page

    def _by_id(self, records: list[Record]) -> list[Answer]:
        return list(self._pool.map(self._read_one, records)) if records else []

    def _read_one(self, record: Record) -> Answer:
        answer = self._send(read_path(record), str(record.key))
        if answer is None:
            why = self._watch.reason or "interrupted"
            return Unread(f"not read: the reads were stopped ({why})")
        if isinstance(answer, NotFoundError):
            if answer.name == _NO_ROUTE:
                return Unread(f"{answer} (is the read API URL right?)")
            return Gone()
        if isinstance(answer, ApiError):
            return Unread(str(answer))
        return answer

    def _send(
        self, path: str, subject: str, *, page: bool = False
    ) -> Mapping[str, object] | ApiError | None:
        """COR's answer, or the API error it ended with (told to the stop policy); None if the
        reads were stopped before it was sent. AuthError stops the reads and is raised."""
        if self.stop.is_set():
            return None
        with self._count:
            self.requests += 1
            self.pages += page
        try:
            answer = dict(self._read(path, subject=subject))
        except STOPS_AT_ONCE:
            self.stop.set()
            raise
        except TransientError as error:
            if self._watch.failed(error):
                self.stop.set()
            return error
        except ApiError as error:
            self._watch.answered()
            return error
        self._watch.answered()
        return answer


def _trouble(number: int, outcome: Malformed | ApiError | None) -> str:
    if outcome is None:
        return ""  # stopped: each record says so
    if isinstance(outcome, Malformed):
        return f"page {number} is not a page: {outcome.reason}"
    return f"page {number} could not be read: {outcome}"


def _size(page: Page) -> int:
    return len(page.items)


def _records(count: int) -> str:
    return f"{count:,} record" if count == 1 else f"{count:,} records"
