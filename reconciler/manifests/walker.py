"""One manifest file's bytes to its problems and its declarations: the YAML event walker.

Part of the manifests edge: with `reader.py`, the only modules that import `yaml`. It walks the
parser's events of a file (never constructs Python objects with PyYAML, never holds a whole
file's node tree): every value keeps its tag, its text as written and its line:col. Each entry
is checked as soon as it ends — against the plain tables of `fields.py`, and only if it does not
plainly fit, against the models (`problems.py`) — and every problem becomes a Problem at an
exact file:line:col. A file with YAML anchors or aliases is composed instead (composer.py),
checked not to expand past a limit, and walked as the same events. The declarations come out
as a `Parsed` (parsed.py): compact, and what the cache stores.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

import yaml

from reconciler.core.resources import SOURCES, SPECS, Kind
from reconciler.errors import Location, Problem
from reconciler.manifests import composer, problems
from reconciler.manifests.fields import (
    BOOL_TAG,
    CORE_TAG,
    DOTS,
    ENTRY_FIELDS,
    FLAG_FIELDS,
    PLAIN_TEXT,
    REQUIRED_FIELDS,
    SECTIONS,
    STR_TAG,
    Written,
    plain,
    top_level_fits,
)
from reconciler.manifests.parsed import Entities, Layout, Parsed
from reconciler.manifests.problems import FieldProblem

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is installed
_MERGE = "tag:yaml.org,2002:merge"
_KNOWN = {kind: frozenset(spec.fields) for kind, spec in SPECS.items()}  # sent to COR
_TEXT_FIELDS = {kind: fields - FLAG_FIELDS for kind, fields in ENTRY_FIELDS.items()}

_Scalar = yaml.ScalarEvent
_MappingStart = yaml.MappingStartEvent
_MappingEnd = yaml.MappingEndEvent
_SequenceStart = yaml.SequenceStartEvent
_SequenceEnd = yaml.SequenceEndEvent
_Alias = yaml.AliasEvent
_Event = composer.Event  # a yaml event: the parser's, or one replayed by composer.py
_Pair = tuple[_Event, _Event]  # key, value


def parse(path: str, data: bytes) -> tuple[list[Problem], Parsed]:
    """The problems of the file read at `path` as `data`, and what it declares."""
    nothing = Entities().parsed(None)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return [_decode_problem(path, data, error)], nothing
    try:
        try:
            walk = _streamed(path, text)
        except _Declined:
            walk = _composed(path, text)
    except yaml.YAMLError as error:
        return [_syntax_problem(path, data, error)], nothing
    except RecursionError:
        return [Problem(Location(path, 1, 1), "the YAML is nested too deeply")], nothing
    if walk is None:
        return [], nothing
    return walk.problems, walk.entities.parsed(walk.source)


class _Declined(Exception):
    """The streaming walk met an anchor, an alias or a second document: compose instead."""


def _streamed(path: str, text: str) -> _Walk | None:
    """Walks the parser's events as they come: no node tree, so little memory."""
    loader = LOADER(text)
    try:
        events = loader.get_event
        events()  # the stream's start
        if isinstance(events(), yaml.StreamEndEvent):
            return None  # empty, or only comments
        walk = _Walk(path, events, loader)
        walk.root(events())
        events()  # the document's end
        if not isinstance(events(), yaml.StreamEndEvent):
            raise _Declined  # composing reports the second document as the parser has it
        return walk
    finally:
        loader.dispose()


def _composed(path: str, text: str) -> _Walk | None:
    """Walks the document composed (composer.py): anchors and aliases, bounded."""
    document = composer.compose(path, text, LOADER)
    if document is None:
        return None
    events, refused = document
    walk = _Walk(path, events, LOADER(""))
    if refused is not None:
        walk.problems.append(refused)
    else:
        walk.root(walk.next())
    return walk


class _Anything:
    def __contains__(self, item: object) -> bool:
        return True


class _Walk:
    """One document's events, in order, to its problems and entities (parsed.Entities).

    Pulls one event at a time. A pair with a complex, merge or repeated key is reported and its
    value skipped, as is every value that is not a section's entry: only their first event
    (tag, text, mark) matters. Meeting an anchor or an alias raises _Declined: those documents
    are composed first (`_composed`), whose events carry none.
    """

    def __init__(self, path: str, events: Callable[[], _Event], loader: Any) -> None:
        self.path = path
        self.next = events
        self.problems: list[Problem] = []
        self.entities = Entities()
        self.source: str | None = None
        self._resolve = loader.resolve
        resolvers = loader.yaml_implicit_resolvers
        self._resolved = None if None in resolvers else frozenset(resolvers)
        # The first characters of a plain scalar that resolving may read as other than a str
        # (all of them if some resolver matches any text): _declare's shortcut.
        self._special = _Anything() if self._resolved is None else self._resolved

    def root(self, event: _Event) -> None:
        if isinstance(event, _MappingStart) and event.anchor is None:
            self._untagged(event, problems.IN_THE_FILE)
            self._document(event)
            return
        self._skip(event)
        written = self._written(event)
        if not (isinstance(event, _Scalar) and written.tag.endswith(":null")):
            self._add(event, problems.top_level_not_mapping(written))
        # else: empty, or only `---`: declares nothing

    def _document(self, start: _Event) -> None:
        top: dict[str, _Pair] = {}
        lists: set[str] = set()
        declares = False
        while (key := self.next()).__class__ is not _MappingEnd:
            name = self._key(key, top)
            value = self.next()
            if name is None:
                self._skip(value)
                continue
            top[name] = (key, value)
            if name in SECTIONS and value.__class__ is _SequenceStart and value.anchor is None:
                self._untagged(value, problems.IN_A_SECTION)
                lists.add(name)
                declares = self._section(SECTIONS[name], name) or declares
            else:
                self._skip(value)
        values = {name: self._written(pair[1]) for name, pair in top.items() if name not in lists}
        if not top_level_fits(values, lists, declares):
            for problem in problems.top_level_problems(values, lists, declares):
                self._found(problem, start, top)
        source = values.get("source")
        if source is not None and source.tag == STR_TAG and source.text in SOURCES:
            self.source = source.text

    def _section(self, kind: Kind, section: str) -> bool:
        """Walks a section's entries; True if it has any."""
        listed = False
        while (item := self.next()).__class__ is not _SequenceEnd:
            listed = True
            if item.__class__ is _MappingStart and item.anchor is None:
                if item.tag is not None:
                    self._untagged(item, problems.IN_AN_ENTRY)
                self._entry(kind, item)
            else:
                self._skip(item)
                self._add(item, problems.entry_not_mapping(section, self._written(item)))
        return listed

    def _entry(self, kind: Kind, start: _Event) -> None:
        """Reads an entry's pairs up to its end, collects it as declared (its known fields that
        hold text, if its id is usable), and checks it against its model unless it plainly
        fits (fields.ENTRY_FIELDS). The hot loop: 100,000 entries take ~500,000 turns, so the
        usual pair, a plain key then a scalar, is read and judged inline."""
        events, special = self.next, self._special
        known, text_fields, plain_text = _KNOWN[kind], _TEXT_FIELDS[kind], PLAIN_TEXT[kind]
        fields: dict[str, _Pair] = {}
        names: list[str] = []
        values: list[str] = []
        lines: list[int] = []
        columns: list[int] = []
        odd = protect = False  # odd: a field that does not plainly fit
        while True:
            key = events()
            name = key.value if key.__class__ is _Scalar else None
            if name is None or key.tag is not None or key.anchor is not None or name in fields:
                if key.__class__ is _MappingEnd:
                    break
                name = self._key(key, fields)
            elif name == "<<":  # the only plain text YAML reads as a merge key
                name = self._key(key, fields)
            value = events()
            if name is None:
                self._skip(value)
                continue
            fields[name] = (key, value)
            if value.__class__ is not _Scalar or value.anchor is not None:
                self._skip(value)
                odd = True
                continue
            text = value.value
            tag = STR_TAG if value.tag is None and text[:1] not in special else self._tag(value)
            if tag == STR_TAG and text:
                if name in known:
                    mark: Any = value.start_mark
                    names.append(name)
                    values.append(text)
                    lines.append(mark.line)
                    columns.append(mark.column + 1)
                odd = (
                    odd
                    or name not in text_fields
                    or (  # plainly fits every text rule (fields.py), or its own pattern
                        not (text.isprintable() and text.strip() == text and text not in DOTS)
                        and plain_text[name](text) is None
                    )
                )
            elif tag == BOOL_TAG and name in FLAG_FIELDS:
                protect = plain(Written(tag, text)) is True
            else:
                odd = True
        self._add_entity(kind, fields, (names, values, lines, columns), protect)
        if odd or not REQUIRED_FIELDS[kind] <= fields.keys():
            written = {name: self._written(value) for name, (_, value) in fields.items()}
            for problem in problems.entry_problems(kind, written):
                self._found(problem, start, fields)

    def _add_entity(
        self,
        kind: Kind,
        fields: dict[str, _Pair],
        known: tuple[list[str], list[str], list[int], list[int]],
        protect: bool,
    ) -> None:
        """Collects the entry as declared, if its id is usable: `known` are its known fields
        that hold text (names, values, lines and columns)."""
        id_value: Any = fields["id"][1] if "id" in fields else None
        if (
            id_value.__class__ is not _Scalar
            or not id_value.value
            or self._tag(id_value) != STR_TAG
        ):
            return
        names, values, lines, columns = known
        start: Any = id_value.start_mark
        line = start.line
        relative = tuple([number - line for number in lines])
        layout: Layout = (kind.rank, tuple(names), relative, tuple(columns))
        self.entities.add(id_value.value, line + 1, start.column + 1, layout, values)
        if protect:
            self.entities.protect_last()

    def _key(self, key: _Event, seen: dict[str, _Pair]) -> str | None:
        """The key's text; None (reported) for a complex, merge, tagged or repeated key."""
        if key.__class__ is not _Scalar:
            self._skip(key)
            self._add(key, problems.COMPLEX_KEY)
            return None
        if key.anchor is not None:
            raise _Declined
        name: str = key.value
        if (key.tag is not None or name.startswith("<")) and self._tag(key) == _MERGE:
            self._add(key, problems.MERGE_KEY)
            return None
        if key.tag is not None and key.tag != "!" and not key.tag.startswith(CORE_TAG):
            self._add(key, problems.key_tag(key.tag))  # a custom tag; YAML's own keep the text
            return None
        if name in seen:
            first = seen[name][0].start_mark.line + 1
            self._add(key, problems.duplicate_key(name, first))
            return None
        return name

    def _untagged(self, start: _Event, where: str) -> None:
        """Reports a tag on a mapping or list of the format (`- !foo {id: x}`, `!!map`): YAML
        would construct it as something else, or not at all; only scalars may be tagged."""
        if start.tag is not None:
            self._add(start, problems.collection_tag(start.tag, where))

    def _skip(self, event: _Event) -> None:
        """Consumes the rest of the node `event` starts; declines at an anchor or alias."""
        if event.__class__ is _Alias or event.anchor is not None:
            raise _Declined
        if event.__class__ is _Scalar:
            return
        depth = 1
        while depth:
            event = self.next()
            kind = event.__class__
            if kind is _MappingEnd or kind is _SequenceEnd:
                depth -= 1
            elif kind is _Alias or event.anchor is not None:
                raise _Declined
            elif kind is _MappingStart or kind is _SequenceStart:
                depth += 1

    def _tag(self, event: _Event) -> str:
        """A scalar's tag, resolved as composing would: explicit, else from its plain text."""
        tag: str | None = event.tag
        if tag is not None and tag != "!":
            return tag
        if event.implicit[0] and (self._resolved is None or event.value[:1] in self._resolved):
            resolved: str = self._resolve(yaml.ScalarNode, event.value, event.implicit)
            return resolved
        return STR_TAG

    def _written(self, event: _Event) -> Written:
        if event.__class__ is _Scalar:
            return Written(self._tag(event), event.value)
        tag = event.tag
        if tag is None or tag == "!":
            kind = yaml.MappingNode if event.__class__ is _MappingStart else yaml.SequenceNode
            tag = self._resolve(kind, None, event.implicit)
        return Written(tag, None)

    def _found(self, problem: FieldProblem, whole: _Event, pairs: dict[str, _Pair]) -> None:
        if problem.at == "whole":
            self._add(whole, problem.message)
        else:
            self._add(pairs[problem.name][problem.at == "value"], problem.message)

    def _add(self, event: _Event, message: str) -> None:
        mark = event.start_mark
        self.problems.append(Problem(Location(self.path, mark.line + 1, mark.column + 1), message))


def _offset_location(path: str, data: bytes, offset: int) -> Location:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace"))
    return Location(path, data.count(b"\n", 0, offset) + 1, column + 1)


def _decode_problem(path: str, data: bytes, error: UnicodeDecodeError) -> Problem:
    byte = data[error.start]
    return Problem(
        _offset_location(path, data, error.start),
        f"the file is not UTF-8: byte 0x{byte:02x} here is an {error.reason}; "
        "save the file as UTF-8",
    )


def _syntax_problem(path: str, data: bytes, error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.reader.ReaderError):
        offset = error.position  # libyaml counts bytes; the pure-Python reader characters
        if LOADER is yaml.SafeLoader:
            offset = len(data.decode("utf-8")[:offset].encode("utf-8"))
        return Problem(_offset_location(path, data, offset), f"invalid YAML: {error.reason}")
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(Location(path, 1, 1), f"invalid YAML: {error}")
    mark = error.problem_mark or error.context_mark
    location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
    if error.problem and "another document" in error.problem:
        return Problem(location, problems.SECOND_DOCUMENT)
    message = f"invalid YAML: {error.problem or error.context}"
    if error.context and error.problem and error.context_mark:
        context_mark = error.context_mark
        message += (
            f" ({error.context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
        )
    return Problem(location, message)
