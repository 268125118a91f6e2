"""One manifest file's declarations in compact form: what the walker makes and the cache keeps.

Part of the manifests edge; no file access. `walker.py` collects a file's entities into
`Entities` and gives a `Parsed` (its source and its entities as plain columns); `declared` turns
one into `Declared` values; `well_formed` checks that a payload read back from the cache has
exactly the shape `Entities.parsed` gives, before anything trusts it. Imports the standard
library, core values and `errors` only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from reconciler.core.resources import KINDS, SOURCES, SPECS, Declared, ResourceKey
from reconciler.errors import Location

# A kind's rank, then the known fields of an entry that hold text, in file order: their names,
# lines (relative to the line of the entry's id) and columns. Entries written alike share one.
Layout = tuple[int, tuple[str, ...], tuple[int, ...], tuple[int, ...]]


class Parsed(NamedTuple):
    """One file's declarations, column by column: few objects, cheap to store and to check.

    `source` is None when the file names no valid one (then it declares nothing). Entity i has
    the id `ids[i]` at `lines[i]`:`columns[i]`, the layout `layouts[shapes[i]]`, the values of
    that layout's fields next in `values`, and `protect: true` if i is in `protected`."""

    source: str | None
    layouts: list[Layout]
    ids: list[str]
    lines: list[int]
    columns: list[int]
    shapes: list[int]
    values: list[str]
    protected: list[int]


class Entities:
    """A file's entities, collected in file order as they are read."""

    def __init__(self) -> None:
        self._layouts: dict[Layout, int] = {}
        self._ids: list[str] = []
        self._lines: list[int] = []
        self._columns: list[int] = []
        self._shapes: list[int] = []
        self._values: list[str] = []
        self._protected: list[int] = []

    def add(self, id_: str, line: int, column: int, layout: Layout, values: list[str]) -> None:
        self._shapes.append(self._layouts.setdefault(layout, len(self._layouts)))
        self._ids.append(id_)
        self._lines.append(line)
        self._columns.append(column)
        self._values.extend(values)

    def protect_last(self) -> None:
        self._protected.append(len(self._ids) - 1)

    def parsed(self, source: str | None) -> Parsed:
        if source is None:
            return Parsed(None, [], [], [], [], [], [], [])
        layouts = list(self._layouts)
        return Parsed(
            source,
            layouts,
            self._ids,
            self._lines,
            self._columns,
            self._shapes,
            self._values,
            self._protected,
        )


class _FieldLocations(Mapping[str, Location]):
    """Declared.field_locations, made only when asked for: most are never needed."""

    __slots__ = ("_columns", "_line", "_lines", "_names", "_path")

    def __init__(
        self,
        path: str,
        line: int,
        names: tuple[str, ...],
        lines: tuple[int, ...],
        columns: tuple[int, ...],
    ) -> None:
        self._path, self._line, self._names = path, line, names
        self._lines, self._columns = lines, columns

    def __getitem__(self, name: str) -> Location:
        try:
            index = self._names.index(name)
        except ValueError:
            raise KeyError(name) from None
        return Location(self._path, self._line + self._lines[index], self._columns[index])

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(dict(self))


def declared(path: str, parsed: Parsed) -> list[Declared]:
    """The Declared values of a file read at `path`, in file order."""
    source = parsed.source
    if source is None:
        return []
    layouts = [
        (KINDS[rank], names, lines, columns) for rank, names, lines, columns in parsed.layouts
    ]
    protected = set(parsed.protected)
    values = parsed.values
    entities = []
    start = 0
    places = zip(parsed.ids, parsed.lines, parsed.columns, parsed.shapes, strict=True)
    for index, (id_, line, column, shape) in enumerate(places):
        kind, names, lines, columns = layouts[shape]
        end = start + len(names)
        entities.append(
            Declared(
                ResourceKey(kind, source, id_),
                dict(zip(names, values[start:end], strict=True)),
                Location(path, line, column),
                _FieldLocations(path, line, names, lines, columns),
                index in protected,
            )
        )
        start = end
    return entities


_FIELDS = tuple(frozenset(SPECS[kind].fields) for kind in KINDS)


def well_formed(payload: object) -> Parsed | None:
    """`payload` as a Parsed if it has exactly the shape `Entities.parsed` gives; else None.
    Column by column, so that checking 100,000 entities takes milliseconds."""
    if type(payload) is not tuple or len(payload) != len(Parsed._fields):
        return None
    parsed = Parsed(*payload)
    source, layouts, ids, lines, columns, shapes, values, protected = parsed
    columns_ = (layouts, ids, lines, columns, shapes, values, protected)
    if not all(type(part) is list for part in columns_):
        return None
    if source is None:
        return parsed if not any(columns_) else None
    count = len(ids)
    well = (  # in this order: each check relies on the ones before
        source in SOURCES
        and len(lines) == len(columns) == len(shapes) == count
        and _only(str, ids, values)
        and all(ids)
        and all(values)
        and _only(int, lines, columns, shapes, protected)
        and (not count or (min(lines) > 0 and min(columns) > 0 and min(shapes) >= 0))
        and (not count or max(shapes) < len(layouts))
        and (not protected or (min(protected) >= 0 and max(protected) < count))
        and all(map(_well_formed_layout, layouts))
    )
    if not well:
        return None
    sizes = [len(layout[1]) for layout in layouts]
    return parsed if sum(map(sizes.__getitem__, shapes)) == len(values) else None


def _only(kind: type, *items: list[Any]) -> bool:
    return all(set(map(type, part)) <= {kind} for part in items)


def _well_formed_layout(layout: object) -> bool:
    if type(layout) is not tuple or len(layout) != 4:
        return False
    rank, names, lines, columns = layout
    if type(rank) is not int or rank not in (0, 1, 2):
        return False
    if not all(type(part) is tuple for part in (names, lines, columns)):
        return False
    return (
        len(names) == len(lines) == len(columns)
        and _only(str, list(names))
        and _only(int, list(lines), list(columns))
        and len(set(names)) == len(names)
        and _FIELDS[rank].issuperset(names)
        and all(column > 0 for column in columns)
    )
