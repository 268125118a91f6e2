"""The prune rule (core/scope.py): which recorded records a run may prune, by the manifest file
that last declared each; the form files are recorded in; and the plan made with it (build_plan,
make_plan)."""

from __future__ import annotations

import pytest

from reconciler.core.diff import FieldChange
from reconciler.core.limits import PlanOptions, make_plan
from reconciler.core.plan import Action, build_plan, update_fields
from reconciler.core.resources import Declared, Record
from reconciler.core.scope import (
    MAX_FILE_LENGTH,
    PruneScope,
    file_names,
    files_to_fill,
    normalise,
    scope_of,
)
from reconciler.errors import Location
from tests.builders import declared, desired_of, recorded, state_of

CWD = "/work/repo"
ROOT = ("manifests",)


@pytest.mark.parametrize(
    ("path", "cwd", "normal"),
    [
        ("manifests/a.yaml", CWD, "manifests/a.yaml"),
        ("./manifests/a.yaml", CWD, "manifests/a.yaml"),
        ("manifests//sf/./../a.yaml", CWD, "manifests/a.yaml"),
        ("manifests/", CWD, "manifests"),
        ("/work/repo/manifests/a.yaml", CWD, "manifests/a.yaml"),
        ("/work/repo", CWD, "."),
        ("/work/repo/", CWD, "."),
        (".", CWD, "."),
        ("/work/repository/a.yaml", CWD, "/work/repository/a.yaml"),  # not inside /work/repo
        ("/elsewhere/a.yaml", CWD, "/elsewhere/a.yaml"),
        ("../other/a.yaml", CWD, "/work/other/a.yaml"),
        ("../repo/manifests/a.yaml", CWD, "manifests/a.yaml"),
        ("/a.yaml", "/", "a.yaml"),
        ("./a.yaml", "", "a.yaml"),
        ("../a.yaml", "", "../a.yaml"),  # no folder given: as written, lexically
    ],
)
def test_a_path_is_normalised_as_the_state_records_it(path: str, cwd: str, normal: str) -> None:
    assert normalise(path, cwd) == normal


# (paths given, a record's recorded file, whether a prune of those paths may delete it)
COVERS = [
    pytest.param(["manifests/salesforce"], "manifests/salesforce/x.yaml", True, id="inside"),
    pytest.param(["manifests/salesforce"], "manifests/salesforce/a/b/x.yaml", True, id="deep"),
    pytest.param(["manifests/salesforce/x.yaml"], "manifests/salesforce/x.yaml", True, id="file"),
    pytest.param(["manifests/salesforce"], "manifests/quickbooks/x.yaml", False, id="outside"),
    pytest.param(["manifests/salesforce"], "manifests/salesforce.yaml", False, id="sibling"),
    pytest.param(["manifests/sales"], "manifests/salesforce/x.yaml", False, id="prefix-trap"),
    pytest.param(["manifests/sf/x.yaml"], "manifests/sf/x.yaml.bak", False, id="file-prefix"),
    pytest.param([], "manifests/quickbooks/x.yaml", True, id="root-default"),
    pytest.param([], "other/x.yaml", False, id="root-default-outside"),
    pytest.param([], None, True, id="no-file-root-default"),
    pytest.param(["manifests"], None, True, id="no-file-root-given"),
    pytest.param(["./manifests/"], None, True, id="no-file-root-dot-slash"),
    pytest.param(["/work/repo/manifests"], None, True, id="no-file-root-absolute"),
    pytest.param(["manifests", "manifests/sf"], None, True, id="no-file-root-and-inner"),
    pytest.param(["manifests/salesforce"], None, False, id="no-file-subfolder"),
    pytest.param(["manifests/sf", "manifests/qb"], None, False, id="no-file-two-folders"),
    pytest.param(["manifests", "extra"], None, False, id="no-file-root-and-more"),
    pytest.param(["."], None, False, id="no-file-current-folder"),
    pytest.param(["./manifests/salesforce"], "manifests/salesforce/x.yaml", True, id="dot-slash"),
    pytest.param(["/work/repo/manifests/sf"], "manifests/sf/x.yaml", True, id="absolute-inside"),
    pytest.param(["/elsewhere/m"], "/elsewhere/m/x.yaml", True, id="absolute-outside"),
    pytest.param(["/elsewhere/m"], "m/x.yaml", False, id="absolute-not-relative"),
    pytest.param(["../repo2/m"], "/work/repo2/m/x.yaml", True, id="parent-folder"),
    pytest.param(["."], "manifests/x.yaml", True, id="current-folder"),
    pytest.param(["."], "/elsewhere/x.yaml", False, id="current-folder-not-outside"),
    pytest.param(["/"], "/elsewhere/x.yaml", True, id="filesystem-root"),
]


@pytest.mark.parametrize(("paths", "file", "covered"), COVERS)
def test_the_prune_rule(paths: list[str], file: str | None, covered: bool) -> None:
    assert scope_of(paths, CWD, ROOT).matcher()(file) is covered


def test_a_scope_keeps_each_path_once_outermost_and_says_whether_it_is_the_root() -> None:
    assert scope_of([], CWD, ROOT) == PruneScope(("manifests",), whole_root=True)
    assert scope_of(["manifests/b", "./manifests/a/", "manifests/b/x.yaml"], CWD, ROOT) == (
        PruneScope(("manifests/a", "manifests/b"), whole_root=False)
    )
    assert scope_of(["./manifests", "manifests/a"], CWD, ROOT).whole_root


@pytest.mark.parametrize(
    ("path", "file"),
    [
        ("manifests/a.yaml", "manifests/a.yaml"),
        ("./manifests/a.yaml", "manifests/a.yaml"),
        ("/work/repo/manifests/a.yaml", "manifests/a.yaml"),
        ("manifests/a\\x1b.yaml", "manifests/a\\x1b.yaml"),  # as the reader shows it, escaped
        ("manifests/\udcff.yaml", None),  # not UTF-8: cannot be written in the state
        ("m/" + "a" * MAX_FILE_LENGTH, None),  # longer than a path can be
    ],
)
def test_a_declared_path_names_its_file(path: str, file: str | None) -> None:
    assert file_names(CWD)(path) == file


# --- the plan made with a scope ------------------------------------------------------------


def at(entity: Declared, path: str) -> Declared:
    return entity._replace(location=Location(path, 1, 1))


def filed(record: Record, file: str | None) -> Record:
    return record._replace(file=file)


SF_KEPT = filed(recorded("client", "SALESFORCE", "SF-1", 1, name="A"), "manifests/sf/c.yaml")
SF_GONE = filed(recorded("client", "SALESFORCE", "SF-2", 2, name="B"), "manifests/sf/c.yaml")
QB_GONE = filed(recorded("client", "QUICKBOOKS", "QB-2", 4, name="D"), "manifests/qb/c.yaml")
OLD_GONE = recorded("client", "JIRA", "J-2", 5, name="E")  # from a format_version 1 state
DESIRED = desired_of(at(declared("client", "SALESFORCE", "SF-1", name="A"), "manifests/sf/c.yaml"))
RECORDS = state_of(SF_KEPT, SF_GONE, QB_GONE, OLD_GONE)


@pytest.mark.parametrize(
    ("paths", "deleted"),
    [
        (["manifests/sf"], [SF_GONE]),
        (["manifests/qb", "manifests/sf"], [QB_GONE, SF_GONE]),
        ([], [OLD_GONE, QB_GONE, SF_GONE]),  # the whole root: every one
        (["manifests/s"], []),
    ],
)
def test_a_prune_deletes_only_records_from_files_within_its_paths(
    paths: list[str], deleted: list[Record]
) -> None:
    scope = scope_of(paths, CWD, ROOT)
    pruned = build_plan(DESIRED, RECORDS, prune=True, scope=scope, cwd=CWD)
    assert [(c.action, c.key) for c in pruned.changes] == [(Action.DELETE, r.key) for r in deleted]
    assert [c.file for c in pruned.changes] == [r.file for r in deleted]
    assert pruned.not_declared == ()  # out of scope: not listed either
    listed = build_plan(DESIRED, RECORDS, scope=scope, cwd=CWD)
    assert (listed.changes, listed.not_declared) == ((), tuple(deleted))


def test_without_a_scope_every_record_is_a_candidate_as_before() -> None:
    plan = build_plan(DESIRED, RECORDS, prune=True)
    assert {c.key for c in plan.changes} == {SF_GONE.key, QB_GONE.key, OLD_GONE.key}


def test_the_deletion_limits_count_the_records_within_the_scope() -> None:
    salesforce = [
        filed(recorded("product", "SALESFORCE", f"P-{n}", n, name="P"), "manifests/sf/p.yaml")
        for n in range(10)
    ]
    quickbooks = [
        filed(recorded("product", "QUICKBOOKS", f"Q-{n}", 100 + n, name="Q"), "manifests/qb/q.yaml")
        for n in range(90)
    ]
    kept = desired_of(
        *(
            at(declared("product", "SALESFORCE", r.key.id, name="P"), "manifests/sf/p.yaml")
            for r in salesforce[3:]
        )
    )
    records = state_of(*salesforce, *quickbooks)
    scoped = PlanOptions(prune=True, scope=scope_of(["manifests/sf"], CWD, ROOT))
    plan = make_plan(kept, records, frozenset(), scoped, cwd=CWD)
    assert plan.summary.delete == 3
    assert plan.limits_broken == (
        "3 of the 10 recorded products to delete (30%), more than 25% "
        "(--max-delete-share product=PCT)",
    )
    # The same deletes measured against every record (3 of 100) would pass:
    assert make_plan(kept, records, frozenset(), PlanOptions(prune=True)).summary.delete == 93


def test_a_record_declared_in_another_file_changes_its_file_in_the_state_only() -> None:
    moved = DESIRED | desired_of(
        at(declared("client", "SALESFORCE", "SF-1", name="A"), "./manifests/qb/c.yaml")
    )
    plan = build_plan(moved, state_of(SF_KEPT), cwd=CWD)
    (change,) = plan.changes
    assert change.action is Action.UPDATE
    assert change.diffs == (FieldChange("file", "manifests/sf/c.yaml", "manifests/qb/c.yaml"),)
    assert update_fields(change) == {}  # nothing to send to COR
    assert change.record(1) == SF_KEPT._replace(file="manifests/qb/c.yaml")


def test_a_record_with_other_changes_records_its_file_too() -> None:
    renamed = desired_of(at(declared("client", "SALESFORCE", "SF-1", name="Z"), "manifests/x.yaml"))
    (change,) = build_plan(renamed, state_of(SF_KEPT), cwd=CWD).changes
    assert [d.field for d in change.diffs] == ["name", "file"]  # as `protect`: after fields
    assert change.record(1).file == "manifests/x.yaml"
    (created,) = build_plan(renamed, {}, cwd=CWD).changes
    assert created.action is Action.CREATE
    assert created.record(9).file == "manifests/x.yaml"


def test_a_record_without_a_file_is_unchanged_and_filled_silently() -> None:
    unfiled = state_of(filed(SF_KEPT, None))
    assert build_plan(DESIRED, unfiled, cwd=CWD).changes == ()
    assert files_to_fill(DESIRED, unfiled, CWD) == {SF_KEPT.key: "manifests/sf/c.yaml"}
    assert files_to_fill(DESIRED, state_of(SF_KEPT), CWD) == {}  # every file known
    assert files_to_fill({}, unfiled, CWD) == {}  # not declared: nothing to fill it with


def test_a_path_the_state_cannot_hold_keeps_the_recorded_file() -> None:
    odd = desired_of(at(declared("client", "SALESFORCE", "SF-1", name="Z"), "m/\udcff.yaml"))
    (change,) = build_plan(odd, state_of(SF_KEPT), cwd=CWD).changes
    assert [d.field for d in change.diffs] == ["name"]
    assert change.file == SF_KEPT.file
