"""Manifest files with YAML anchors and aliases: composed, bounded, replayed as events.

Part of the manifests edge (with `reader.py` and `walker.py`, the only modules that import
`yaml`). The walker streams the parser's events and declines a document with an anchor or an
alias; such a document is composed into a node tree here (aliases point at their anchor's
node), refused if its aliases would expand it past a limit (billion laughs, sized without
expanding), and replayed as the events the walker reads. Imports yaml, the standard library,
`errors` and the manifests' wording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import yaml

from reconciler.errors import Location, Problem
from reconciler.manifests import problems

MIN_EXPANSION = 100_000  # nodes an alias-expanded document may always reach
EXPANSION_FACTOR = 10  # ... or this many times the nodes actually written
Event = Any  # a yaml event: the parser's, or one made from a composed node


def compose(path: str, text: str, loader: Any) -> tuple[Callable[[], Event], Problem | None] | None:
    """The document in `text` composed: None if it is empty; else the next-event function of
    its replay (tags resolved, aliases expanded) and, if it would expand past the limit, the
    problem that refuses it (then nothing is to be walked)."""
    root = yaml.compose(text, Loader=loader)
    if root is None:
        return None
    refused = _expansion_problem(path, root) if "&" in text else None  # no anchor: no alias
    tagged = _tagged_collections(text, loader) if "!" in text else frozenset()
    return _node_events(root, tagged).__next__, refused


def _tagged_collections(text: str, loader: Any) -> frozenset[tuple[int, int]]:
    """Where a mapping or list is written with a tag: composing resolves every collection's
    tag, so it no longer tells `!!map {...}` from `{...}`; the parser's events do."""
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    marks: list[Any] = [
        event.start_mark
        for event in yaml.parse(text, Loader=loader)
        if isinstance(event, starts) and event.tag is not None
    ]
    return frozenset((mark.line, mark.column) for mark in marks)


def _node_events(root: yaml.Node, tagged: frozenset[tuple[int, int]]) -> Iterator[Event]:
    """The events of a composed tree, tags resolved, aliases expanded (bounded: checked first).
    A collection keeps its tag only if one was written (`tagged`), as the parser gives it."""
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, yaml.ScalarNode):
            yield yaml.ScalarEvent(None, item.tag, (False, False), item.value, item.start_mark)
        elif isinstance(item, yaml.SequenceNode):
            tag = _written_tag(item, tagged)
            yield yaml.SequenceStartEvent(None, tag, tag is None, item.start_mark)
            stack.append(yaml.SequenceEndEvent(item.end_mark))
            stack.extend(reversed(item.value))
        elif isinstance(item, yaml.MappingNode):
            tag = _written_tag(item, tagged)
            yield yaml.MappingStartEvent(None, tag, tag is None, item.start_mark)
            stack.append(yaml.MappingEndEvent(item.end_mark))
            for key, value in reversed(item.value):
                stack.extend((value, key))
        else:
            yield item  # the end of a collection


def _written_tag(node: yaml.Node, tagged: frozenset[tuple[int, int]]) -> str | None:
    mark = node.start_mark
    return node.tag if (mark.line, mark.column) in tagged else None


def _expansion_problem(path: str, root: yaml.Node) -> Problem | None:
    """Refuses a document whose aliases would expand it past the limit, without expanding it.

    Post-order walk over the distinct nodes, the expanded size of each memoized by identity.
    """
    limit = max(MIN_EXPANSION, EXPANSION_FACTOR * _count_nodes(root))
    size: dict[int, int] = {}
    on_path: set[int] = set()  # the ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            on_path.discard(id(node))
            size[id(node)] = 1 + sum(size[id(child)] for child in _children(node))
            if size[id(node)] > limit:
                return Problem(_at(path, node), problems.expansion_refused(limit))
        elif id(node) in on_path:
            return Problem(_at(path, node), problems.RECURSIVE_ALIAS)
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


def _at(path: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(path, mark.line + 1, mark.column + 1)
