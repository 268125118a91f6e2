"""Manifest files to Desired: the first stage of the pipeline (load → validate → graph → plan).

The only module that imports `yaml` and reads manifest files. It composes each file into a YAML
node tree (never constructs Python objects with PyYAML: a node keeps its tag, its text as written
and its line:col), walks the tree, validates it with `reconciler.models` and turns every problem,
in every file, into a Problem at an exact file:line:col. Never a network call.
"""

from __future__ import annotations

import codecs
import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import yaml
from pydantic import ValidationError

from reconciler import models
from reconciler.errors import Location, ManifestError, Problem, UsageError
from reconciler.models import SECTIONS, ManifestFile, Written
from reconciler.resources import SOURCES, SPECS, Declared, Desired, ResourceKey
from reconciler.validate import check_declared

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is installed
_STR = "tag:yaml.org,2002:str"
_BOOL = "tag:yaml.org,2002:bool"
_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1's true spellings, any case
_NO = yaml.ScalarNode(_BOOL, "false")
_MERGE = "tag:yaml.org,2002:merge"
_SUFFIXES = (".yaml", ".yml")
_MIN_EXPANSION = 100_000  # nodes an alias-expanded document may always reach
_EXPANSION_FACTOR = 10  # ... or this many times the nodes actually written

Pairs = dict[str, tuple[yaml.Node, yaml.Node]]  # key text -> (key node, value node)


@dataclass
class _Tree:
    """The parts of one file's node tree that a pydantic error `loc` can point into."""

    path: str
    root: yaml.MappingNode
    top: Pairs
    sections: dict[str, list[tuple[yaml.Node, Pairs]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def read_manifests(paths: Sequence[str | os.PathLike[str]]) -> Desired:
    """Every *.yaml / *.yml under `paths` (files, or folders read recursively), in sorted order.

    Returns the Declared entities keyed by ResourceKey, in apply order. Raises ManifestError with
    every problem of every file (and across files), sorted; UsageError if a path does not exist.
    """
    problems: list[Problem] = []
    entities: list[Declared] = []
    with _gc_paused():
        for path in _discover(paths):
            file_problems, file_entities = _read_file(path)
            problems.extend(file_problems)
            entities.extend(file_entities)
        problems.extend(check_declared(entities))
    if problems:
        raise ManifestError(problems)
    entities.sort(key=lambda entity: entity.key.sort_key())
    return {entity.key: entity for entity in entities}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while millions of acyclic nodes are allocated.

    Each full collection rescans every node composed so far: with it running, reading 100,000
    products takes several times longer. Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _discover(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    found: dict[str, str] = {}  # real path -> the path as discovered, so a file is read once
    for arg in paths:
        top = Path(arg)
        if not top.exists():
            raise UsageError(f"{os.fspath(arg)}: no such file or directory")
        if not top.is_dir():
            found.setdefault(os.path.realpath(top), str(top))
            continue
        for folder, subfolders, names in os.walk(top):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            for name in names:
                if name.endswith(_SUFFIXES) and not name.startswith("."):
                    path = os.path.join(folder, name)
                    found.setdefault(os.path.realpath(path), path)
    return sorted(found.values())


def _read_file(path: str) -> tuple[list[Problem], list[Declared]]:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return [Problem(Location(path, 1, 1), f"cannot read the file: {error.strerror}")], []
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return [_decode_problem(path, data, error)], []
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as error:
        return [_syntax_problem(path, data, error)], []
    except RecursionError:
        return [Problem(Location(path, 1, 1), "the YAML is nested too deeply")], []
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
        return [], []  # empty, only comments, or only `---`: declares nothing
    if "&" in text:  # no anchor, no alias: the document cannot expand
        refused = _expansion_problem(path, root)
        if refused is not None:
            return [refused], []
    if not isinstance(root, yaml.MappingNode):
        message = models.top_level_not_mapping(_written(root))
        return [Problem(_at(path, root), message)], []
    tree = _walk(path, root)
    return tree.problems, _declared(tree)


def _at(path: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)


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
        if _Loader is yaml.SafeLoader:
            offset = len(data.decode("utf-8")[:offset].encode("utf-8"))
        return Problem(_offset_location(path, data, offset), f"invalid YAML: {error.reason}")
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(Location(path, 1, 1), f"invalid YAML: {error}")
    mark = error.problem_mark or error.context_mark
    location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path, 1, 1)
    if error.problem and "another document" in error.problem:
        return Problem(location, models.SECOND_DOCUMENT)
    message = f"invalid YAML: {error.problem or error.context}"
    if error.context and error.problem and error.context_mark:
        context_mark = error.context_mark
        message += (
            f" ({error.context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
        )
    return Problem(location, message)


def _expansion_problem(path: str, root: yaml.Node) -> Problem | None:
    """Refuses a document whose aliases would expand it past the limit, without expanding it.

    Post-order walk over the distinct nodes, the expanded size of each memoized by identity.
    """
    limit = max(_MIN_EXPANSION, _EXPANSION_FACTOR * _count_nodes(root))
    size: dict[int, int] = {}
    on_path: set[int] = set()  # the ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            on_path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(child)] for child in _children(node))
            if size[id(node)] > limit:
                return Problem(_at(path, node), models.expansion_refused(limit))
        elif id(node) in on_path:
            return Problem(_at(path, node), models.RECURSIVE_ALIAS)
        elif id(node) not in size:
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    return None


def _count_nodes(root: yaml.Node) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(_children(node))
    return len(seen)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _pairs(tree: _Tree, mapping: yaml.MappingNode) -> Pairs:
    """The mapping's keys in order; reports duplicate, merge and non-scalar keys."""
    pairs: Pairs = {}
    for key, value in mapping.value:
        if not isinstance(key, yaml.ScalarNode):
            tree.problems.append(Problem(_at(tree.path, key), models.COMPLEX_KEY))
        elif key.tag == _MERGE:
            tree.problems.append(Problem(_at(tree.path, key), models.MERGE_KEY))
        elif key.value in pairs:
            first = pairs[key.value][0].start_mark.line + 1
            message = models.duplicate_key(key.value, first)
            tree.problems.append(Problem(_at(tree.path, key), message))
        else:
            pairs[key.value] = (key, value)
    return pairs


def _plain(node: yaml.Node) -> object:
    """A str for a string scalar, a bool for a boolean one (`protect`); any other node goes to
    pydantic as is, which rejects it."""
    if isinstance(node, yaml.ScalarNode) and node.tag in (_STR, _BOOL):
        return node.value if node.tag == _STR else node.value.lower() in _TRUE
    return node


def _walk(path: str, root: yaml.MappingNode) -> _Tree:
    tree = _Tree(path, root, {})
    tree.top = _pairs(tree, root)
    document: dict[str, object] = {}
    for name, (_, value) in tree.top.items():
        if name not in SECTIONS or not isinstance(value, yaml.SequenceNode):
            document[name] = _plain(value)
            continue
        entries = tree.sections[name] = []
        for item in value.value:
            fields = _pairs(tree, item) if isinstance(item, yaml.MappingNode) else {}
            entries.append((item, fields))
        document[name] = [
            {key: _plain(pair[1]) for key, pair in fields.items()}
            if isinstance(item, yaml.MappingNode)
            else item
            for item, fields in entries
        ]
    try:
        ManifestFile.model_validate(document)
    except ValidationError as error:
        declares = any(tree.sections.values())
        seen: set[tuple[int | str, ...]] = set()
        for detail in error.errors(include_url=False):
            loc = detail["loc"][:3]  # an optional field's union reports once per member
            if loc in seen or (loc == ("source",) and detail["type"] == "missing" and not declares):
                continue
            seen.add(loc)
            tree.problems.append(_explained(tree, loc, detail["type"]))
    return tree


def _explained(tree: _Tree, loc: tuple[int | str, ...], kind: str) -> Problem:
    """Maps one pydantic error back to the node it concerns, and says it in the user's terms."""
    path = tree.path
    section = str(loc[0])
    if len(loc) == 1 and kind == "missing":
        return Problem(_at(path, tree.root), models.MISSING_SOURCE)
    if len(loc) == 1 and kind == "extra_forbidden":
        return Problem(_at(path, tree.top[section][0]), models.unknown_top_level(section))
    if len(loc) == 1:
        value = tree.top[section][1]
        return Problem(_at(path, value), models.top_level_value(section, _written(value)))
    entry, fields = tree.sections[section][int(loc[1])]
    if len(loc) == 2:
        return Problem(_at(path, entry), models.entry_not_mapping(section, _written(entry)))
    name = str(loc[2])
    entity = SECTIONS[section]
    if kind == "missing":
        return Problem(_at(path, entry), models.missing_field(entity, name))
    if kind == "extra_forbidden":
        return Problem(_at(path, fields[name][0]), models.unknown_field(entity, name))
    value = fields[name][1]
    return Problem(_at(path, value), models.field_value(entity, name, _written(value)))


def _declared(tree: _Tree) -> list[Declared]:
    """The entities of a walked file; entries with an unusable source or id are left out."""
    source = tree.top.get("source", (None, None))[1]
    if not _is_text(source) or source.value not in SOURCES:
        return []
    entities = []
    for section, entries in tree.sections.items():
        kind = SECTIONS[section]
        known = SPECS[kind].fields
        for _, fields in entries:
            id_node = fields.get("id", (None, None))[1]
            if not _is_text(id_node):
                continue
            attributes: dict[str, str] = {}
            locations: dict[str, Location] = {}
            for name, (_, value) in fields.items():
                if name in known and _is_text(value):
                    attributes[name] = value.value
                    locations[name] = _at(tree.path, value)
            key = ResourceKey(kind, source.value, id_node.value)
            protect = _plain(fields.get("protect", (None, None))[1] or _NO) is True
            entities.append(
                Declared(key, attributes, _at(tree.path, id_node), locations, protect=protect)
            )
    return entities


def _written(node: yaml.Node) -> Written:
    return Written(node.tag, node.value if isinstance(node, yaml.ScalarNode) else None)


def _is_text(node: yaml.Node | None) -> TypeGuard[yaml.ScalarNode]:
    return isinstance(node, yaml.ScalarNode) and node.tag == _STR and node.value != ""
