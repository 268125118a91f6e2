"""Saved plans: `plan --out` writes what was reviewed, `apply --plan` applies exactly that.

Pure core (the CLI reads and writes the file, and hands in the plan as its JSON document). A saved
plan carries what it was computed from — the state's lineage and serial, a digest of what the
manifests declare — and a digest of the plan itself. Applying it recomputes the plan from the
manifests and state of the moment and refuses (RefusedError, exit 4) when anything moved: the state,
the manifests, or the file. Documented in docs/plan-json.md. It never holds a credential.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from reconciler import __version__
from reconciler.core.baseline import unmarked
from reconciler.core.diff import FieldChange
from reconciler.core.limits import PlanOptions
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import Desired, Kind, Record, ResourceKey
from reconciler.core.scope import PruneScope
from reconciler.core.text import printable
from reconciler.errors import RefusedError

SAVED_PLAN_FORMAT = 2  # 2: `paths`, the PATHS as given (`show --format markdown`'s marker)
_REPLAN = "run `reconciler plan --out ...` again, review it, and apply the new file"


class _StateRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    lineage: str | None  # None: there was no state file yet (serial 0)
    serial: int


class SavedPlan(BaseModel):
    """The file `plan --out` writes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format_version: Literal[1, 2] = Field(description="Format of this file.")
    kind: Literal["reconciler-saved-plan"]
    reconciler_version: str = Field(description="The version that made it (informative).")
    state: _StateRef = Field(description="The state the plan was computed against.")
    manifests_digest: str = Field(description="sha256 of what the manifests declared.")
    plan_digest: str = Field(description="sha256 of `plan`, as written.")
    plan: dict[str, Any] = Field(description="The plan, exactly as `plan --format json`.")
    options: PlanOptions = Field(default=PlanOptions(), description="What the plan was made with.")
    paths: list[str] | None = Field(
        default=None, description="The PATHS given to `plan`, as given (format 2); None in 1."
    )


def manifests_digest(desired: Desired) -> str:
    """sha256 of the declared content: kind, source, id and attributes of every entity, in
    apply order — so reformatting a file or moving an entry to another file changes nothing."""
    digest = hashlib.sha256()
    for key in sorted(desired, key=lambda k: k.sort_key()):
        entry = [key.kind.value, key.source, key.id, sorted(desired[key].attributes.items())]
        digest.update(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
    return f"sha256:{digest.hexdigest()}"


def _plan_digest(plan_document: dict[str, Any]) -> str:
    canonical = json.dumps(plan_document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def save(
    document: dict[str, Any],
    desired: Desired,
    lineage: str,
    serial: int,
    options: PlanOptions | None = None,
    paths: Sequence[str] = (),
) -> str:
    """The saved-plan file's text (deterministic: sorted keys, a trailing newline); `document`
    is the plan as `plan --format json` shows it (output/plan_json.py: `plan_document`);
    `paths` the PATHS as given (or the default), which `show` needs for the Markdown marker."""
    saved = {
        "format_version": SAVED_PLAN_FORMAT,
        "kind": "reconciler-saved-plan",
        "reconciler_version": __version__,
        "state": {"lineage": lineage if serial else None, "serial": serial},
        "manifests_digest": manifests_digest(desired),
        "plan_digest": _plan_digest(document),
        "plan": document,
        "options": dataclasses.asdict(options or PlanOptions()),
        "paths": list(paths),
    }
    return json.dumps(saved, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read(text: str, source: str) -> SavedPlan:
    """Parse and authenticate a saved plan; RefusedError if it is not one or was altered."""
    try:
        saved = SavedPlan.model_validate_json(text)
    except PydanticValidationError as error:
        first = str(error).splitlines()[0]
        raise RefusedError(
            f"{source} is not a saved plan of this format ({first}); {_REPLAN}"
        ) from error
    if _plan_digest(saved.plan) != saved.plan_digest:
        raise RefusedError(
            f"{source} was altered after it was saved (its digest differs); {_REPLAN}"
        )
    return saved


def check_scope(saved: SavedPlan, source: str, scope: PruneScope | None) -> None:
    """Refuse unless `apply --plan` is given the paths the plan was made of (their scope, which
    decides what a prune may delete: docs/cli.md "Deletion"); a plan saved before scopes were
    kept holds none, and is checked as before."""
    made = saved.options.scope
    if made is None or scope is None or made == scope:
        return
    raise RefusedError(
        f"{source} was made of the paths {printable(' '.join(made.paths))}, not "
        f"{printable(' '.join(scope.paths))}: give apply the same paths; or {_REPLAN}"
    )


def check_current(
    saved: SavedPlan,
    source: str,
    desired: Desired,
    lineage: str,
    serial: int,
    current: dict[str, Any],
) -> None:
    """Refuse unless the saved plan is still exactly what applying now would do: `current` is
    the plan document (`plan_document`) made now, with the saved plan's options."""
    if saved.state.serial and saved.state.lineage != lineage:
        raise RefusedError(
            f"{source} was made for another state (lineage {saved.state.lineage}, this state "
            f"is {lineage}): check --state / RECONCILER_STATE; {_REPLAN}"
        )
    if saved.state.serial != serial:
        raise RefusedError(
            f"the state moved on since {source} was made (serial {saved.state.serial}, now "
            f"{serial}): another apply ran meanwhile; {_REPLAN}"
        )
    if manifests_digest(desired) != saved.manifests_digest:
        raise RefusedError(
            f"the manifests changed since {source} was made (their content differs); {_REPLAN}"
        )
    # The saved plan's `pending_on_base` marks (plan --base-ref) say what a review looks at,
    # not what apply does: the plan made again has no base, so they are compared unmarked.
    if _plan_digest(current) != _plan_digest(unmarked(saved.plan)):
        raise RefusedError(
            f"{source} no longer matches what applying would do (made by reconciler "
            f"{saved.reconciler_version}); {_REPLAN}"
        )


# --- Reading the plan back (`reconciler show`): the document `plan_document` wrote, as a Plan
# the renderers take, so `show` prints exactly what `plan` printed.

_KIND = {kind.value: kind for kind in Kind}
_ACTION = {action.value: action for action in Action}
_CHANGE_FIELDS = frozenset(field.name for field in dataclasses.fields(Change))


def plan_of(saved: SavedPlan, source: str) -> Plan:
    """The Plan `saved` was made from, as far as the renderers show it (not `protect`, `file`:
    apply makes its plan again). RefusedError if the document is not a plan's."""
    document = saved.plan
    try:
        refresh = document["refresh"]
        return Plan(
            changes=tuple(_change(item) for item in document["changes"]),
            not_declared=tuple(_record(item) for item in document["not_declared"]),
            in_doubt_not_declared=tuple(_key(k) for k in document["in_doubt_not_declared"]),
            limits_broken=tuple(document["deletion_limits"]["broken"]),
            forced=bool(document["deletion_limits"]["forced"]),
            replace_refused=not document["replace"]["allowed"],
            blocked=tuple(document["replace"]["blocked"]),
            refreshed=refresh is not None,
            synced=tuple(_record(item) for item in (refresh or {}).get("synced", ())),
            forgotten=tuple(_record(item) for item in (refresh or {}).get("forgotten", ())),
            unverifiable=tuple(
                (_KIND[u["kind"]], u["field"], u["records"])
                for u in (refresh or {}).get("unverifiable", ())
            ),
        )
    except (KeyError, TypeError, AttributeError) as error:  # a digest recomputed by hand
        raise RefusedError(f"{source} does not hold a plan of this format; {_REPLAN}") from error


def _key(item: dict[str, Any]) -> ResourceKey:
    return ResourceKey(_KIND[item["kind"]], item["source"], item["id"])


def _record(item: dict[str, Any]) -> Record:
    return Record(_key(item), item["cor_id"], dict(item["attributes"]), item["protected"])


def _change(item: dict[str, Any]) -> Change:
    more = {
        name: item[name] for name in ("pending_on_base",) if name in _CHANGE_FIELDS and name in item
    }
    return Change(
        action=_ACTION[item["action"]],
        key=_key(item),
        attributes=dict(item["attributes"]),
        cor_id=item["cor_id"],
        diffs=tuple(FieldChange(d["field"], d["before"], d["after"]) for d in item["diff"]),
        in_doubt=item["in_doubt"],
        needed_by=None if item["needed_by"] is None else _key(item["needed_by"]),
        drift=item["drift_reason"] or "",
        replaced_with=None if item["replaced_with"] is None else _key(item["replaced_with"]),
        **more,
    )
