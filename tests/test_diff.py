"""serviceflow diff: a policy change replayed on the same records, read once (diff, replay, revisions)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from serviceflow import Engine
from serviceflow.cli import main
from serviceflow.config import Config, load_config
from serviceflow.diff import ChangeKind, compare, new_violation
from serviceflow.findings import Evaluation, Finding, Severity, Status
from serviceflow.replay import admits_alike, evaluate_twice, replay
from serviceflow.run import evaluate_sources

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "records"
NOW = "2024-05-09T14:00:00Z"
WHEN = datetime(2024, 5, 9, 14, tzinfo=UTC)
UCI = (
    ROOT.parent
    / "shared"
    / "data"
    / "real"
    / "uci-incident-management-eventlog"
    / "incident_event_log.csv.gz"
)


def finding(record: str, status: Status = Status.VIOLATION, **more: object) -> Finding:
    fields: dict[str, object] = {
        "policy": "p",
        "severity": Severity.ERROR,
        "case_id": "c1",
        "message": "m",
    } | more
    return Finding(status=status, record_id=record, **fields)  # type: ignore[arg-type]


def evaluation(*findings: Finding) -> Evaluation:
    return Evaluation(
        now=WHEN,
        violations=tuple(f for f in findings if f.status is Status.VIOLATION),
        pending=tuple(f for f in findings if f.status is Status.PENDING),
        engine_errors=tuple(f for f in findings if f.status is Status.ERROR),
    )


# --- compare ---------------------------------------------------------------------------------------------


def test_findings_are_paired_by_obligation_into_appeared_disappeared_and_changed() -> None:
    due = WHEN + timedelta(hours=2)
    before = evaluation(
        finding("gone"),
        finding("same"),
        finding("worse", Status.PENDING, deadline=due),
        finding("moved", Status.PENDING, deadline=due),
        finding("louder", severity=Severity.WARNING),
        finding("reworded", message="old words"),
    )
    after = evaluation(
        finding("new"),
        finding("same"),
        finding("worse", deadline=due),
        finding("moved", Status.PENDING, deadline=due + timedelta(hours=1)),
        finding("louder"),
        finding("reworded", message="new words"),
    )
    (policy,) = compare(before, after, ["p"], ["p"]).policies
    assert [c.finding.record_id for c in policy.appeared] == ["new"]
    assert [c.finding.record_id for c in policy.disappeared] == ["gone"]
    assert {c.finding.record_id: c.differences for c in policy.changed} == {
        "worse": ("status",),
        "moved": ("deadline",),
        "louder": ("severity",),
    }


def test_a_new_violation_is_one_at_the_fail_level_that_was_not_one_before() -> None:
    before = evaluation(finding("pending", Status.PENDING), finding("warned", severity=Severity.WARNING))
    after = evaluation(
        finding("pending"),
        finding("warned"),
        finding("fresh"),
        finding("quiet", severity=Severity.INFO),
    )
    diff = compare(before, after)
    assert sorted(c.finding.record_id for c in diff.new_violations("error")) == ["fresh", "pending", "warned"]
    assert sorted(c.finding.record_id for c in diff.new_violations("info")) == ["fresh", "pending", "quiet"]
    assert diff.new_violations("never") == ()
    assert diff.exit_status("error") == 1
    assert diff.exit_status("never") == 0


def test_a_violation_that_disappears_or_softens_is_not_new() -> None:
    diff = compare(
        evaluation(finding("a"), finding("b")), evaluation(finding("b", severity=Severity.WARNING))
    )
    assert not any(new_violation(change, "warning") for change in diff.changes)
    assert diff.exit_status("warning") == 0


def test_the_same_evaluation_twice_has_no_change() -> None:
    same = evaluation(finding("a"), finding("b", Status.PENDING, deadline=WHEN))
    diff = compare(same, same, ["p", "q"], ["p", "q"])
    assert diff.changes == ()
    assert diff.changed_policies == ()
    assert [p.policy for p in diff.policies] == ["p", "q"]


def test_a_policy_added_or_removed_is_listed_even_without_findings() -> None:
    diff = compare(evaluation(), evaluation(), ["old"], ["new"])
    assert {(p.policy, p.ran_before, p.ran_after) for p in diff.changed_policies} == {
        ("old", True, False),
        ("new", False, True),
    }


def test_input_or_engine_errors_make_the_exit_status_2() -> None:
    broken = evaluation(finding("a", Status.ERROR))
    assert compare(broken, broken).exit_status("error") == 2


# --- replay: one reading, two evaluators -------------------------------------------------------------------


def test_replay_reads_the_input_once() -> None:
    # Standard input can be read only once: a second reading would find no record at all.
    data = b"".join(path.read_bytes() for path in sorted(EXAMPLES.glob("*.jsonl")))
    with Engine.from_config(config=Config()) as before, Engine.from_config(config=Config()) as after:
        diff = replay(before, after, ["-"], WHEN, stdin=io.BytesIO(data), shared_admission=True)
    assert diff.after.records == diff.before.records == 28
    assert len(diff.before.violations) == len(diff.after.violations) == 9
    assert diff.changes == ()


@pytest.mark.parametrize("shared", [True, False], ids=["admitted-once", "admitted-per-side"])
def test_each_side_equals_its_own_lint(shared: bool, tmp_path: Path) -> None:
    tight = tmp_path / "tight.toml"
    tight.write_text('[policies.escalate-values-in-question]\nparams = { within = "1h" }\n', "utf-8")
    with (
        Engine.from_config(config=Config()) as before,
        Engine.from_config(config=load_config(tight)) as after,
    ):
        got_before, got_after = evaluate_twice(before, after, [EXAMPLES], WHEN, shared_admission=shared)
        assert got_before == evaluate_sources(before, [EXAMPLES], WHEN)
        assert got_after == evaluate_sources(after, [EXAMPLES], WHEN)
    assert got_before != got_after


def test_configurations_with_other_enrichers_do_not_share_admission(tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text("", "utf-8")
    enriched = tmp_path / "enriched.toml"
    enriched.write_text("[enrichers.phrase-flags]\nenabled = true\n", "utf-8")
    assert admits_alike(load_config(plain), load_config(plain))
    assert not admits_alike(load_config(plain), load_config(enriched))


# --- the command ------------------------------------------------------------------------------------------


def run(*arguments: str, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    if cwd is None:
        result = runner.invoke(main, ["diff", *arguments], catch_exceptions=False)
    else:
        previous = Path.cwd()
        os.chdir(cwd)
        try:
            result = runner.invoke(main, ["diff", *arguments], catch_exceptions=False)
        finally:
            os.chdir(previous)
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_the_same_configuration_twice_shows_no_change(tmp_path: Path) -> None:
    config = write(tmp_path / "serviceflow.toml", "")
    status, output, _ = run(str(EXAMPLES), "--now", NOW, "--before", str(config), "--after", str(config))
    assert status == 0
    assert (
        "0 of 14 policies changed: +0 appeared, -0 disappeared, ~0 changed; 0 new violations at or" in output
    )


def test_tightening_a_policy_shows_what_appears_and_fails_at_error(tmp_path: Path) -> None:
    before = write(tmp_path / "before.toml", "")
    after = write(
        tmp_path / "after.toml", '[policies.escalate-values-in-question]\nparams = { within = "10m" }\n'
    )
    status, output, _ = run(str(EXAMPLES), "--now", NOW, "--before", str(before), "--after", str(after))
    assert status == 1
    assert "policy escalate-values-in-question" in output
    assert "~1 changed (status 1, deadline 1)" in output
    assert "1 new violation at or above error" in output
    assert "status pending -> violation" in output
    status, _, _ = run(
        str(EXAMPLES), "--now", NOW, "--before", str(before), "--after", str(after), "--fail-on", "never"
    )
    assert status == 0


def test_json_lists_every_change_with_both_sides(tmp_path: Path) -> None:
    before = write(tmp_path / "before.toml", "")
    after = write(tmp_path / "after.toml", "[policies.confirm-next-steps]\nenabled = false\n")
    status, output, _ = run(
        str(EXAMPLES), "--now", NOW, "--before", str(before), "--after", str(after), "--format", "json"
    )
    assert status == 0  # violations disappearing fail nothing
    report = json.loads(output)
    (policy,) = [p for p in report["policies"] if p["policy"] == "confirm-next-steps"]
    assert (policy["ran_before"], policy["ran_after"]) == (True, False)
    assert (
        policy["disappeared"] == 3
        and policy["before"]["violation"] == 3
        and policy["after"]["violation"] == 0
    )
    assert [c["before"]["record_id"] for c in policy["changes"]["disappeared"]] == ["mw-04", "mw-10", "rf-05"]
    assert report["totals"] == {"appeared": 0, "disappeared": 3, "changed": 0, "new_violations": 0}


def test_policy_directories_replace_the_configured_policy_paths(tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(ROOT / "policies", old, ignore=shutil.ignore_patterns("tests"))
    new = tmp_path / "new"
    shutil.copytree(old, new)
    policy = new / "escalate-values-in-question.yaml"
    text = policy.read_text("utf-8")
    assert "default: 4h" in text
    policy.write_text(text.replace("default: 4h", "default: 10m"), "utf-8")
    status, output, _ = run(
        str(EXAMPLES), "--now", NOW, "--no-bundled", "--before", str(old), "--after", str(new)
    )
    assert status == 1, output
    assert "1 of 14 policies changed" in output


def test_a_side_that_is_neither_a_configuration_nor_policies_is_an_error(tmp_path: Path) -> None:
    status, _, errors = run(str(EXAMPLES), "--now", NOW, "--before", str(tmp_path / "nothing"))
    assert status == 2
    assert "does not exist" in errors
    csv = write(tmp_path / "x.csv", "a,b\n")
    status, _, errors = run(str(EXAMPLES), "--now", NOW, "--before", str(csv))
    assert status == 2
    assert "is not a configuration file" in errors


# --- git:REF ------------------------------------------------------------------------------------------


def git(repository: Path, *arguments: str) -> str:
    environment = os.environ | {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", *arguments], cwd=repository, env=environment, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "desk"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "serviceflow.toml", 'policy-paths = ["our-policies", "our-policies/empty"]\n')
    write(repo / "our-policies" / "README.md", "our policies\n")
    bundled = (ROOT / "policies" / "tone-informal.yaml").read_text("utf-8")
    write(repo / "our-policies" / "our-tone.yaml", bundled.replace("id: tone-informal", "id: our-tone"))
    write(repo / "our-policies" / "empty" / "README.md", "no policy here yet\n")
    records = [
        (EXAMPLES / name).read_text("utf-8")
        for name in ("leaking-pipe.jsonl", "escalation-and-missed-visit.jsonl")
    ]
    write(repo / "data" / "records.jsonl", "".join(records))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    return repo


def test_git_ref_compares_with_the_configuration_at_that_revision(repository: Path) -> None:
    config = repository / "serviceflow.toml"
    config.write_text(
        'policy-paths = ["our-policies", "our-policies/empty"]\n'
        '[policies.escalate-values-in-question]\nparams = { within = "10m" }\n',
        "utf-8",
    )
    status_before = git(repository, "status", "--porcelain")
    head_before = git(repository, "rev-parse", "HEAD")
    status, output, errors = run("data/records.jsonl", "--now", NOW, "--before", "git:HEAD", cwd=repository)
    assert status == 1, errors
    assert "before: git:HEAD" in output
    assert f"after:  {config.resolve()}" in output
    assert "policy escalate-values-in-question" in output
    # The work tree, the index and the refs are as they were.
    assert git(repository, "status", "--porcelain") == status_before
    assert git(repository, "rev-parse", "HEAD") == head_before
    assert "10m" in config.read_text("utf-8")


def test_git_ref_reads_the_policies_of_that_revision(repository: Path) -> None:
    policy = repository / "our-policies" / "our-tone.yaml"
    policy.write_text(policy.read_text("utf-8").replace("severity: warning", "severity: error"), "utf-8")
    status, output, errors = run(
        "data/records.jsonl", "--now", NOW, "--before", "git:HEAD", "--format", "json", cwd=repository
    )
    assert status == 1, errors  # the warning became an error: a new violation at the fail level
    report = json.loads(output)
    (ours,) = [p for p in report["policies"] if p["policy"] == "our-tone"]
    assert (ours["appeared"], ours["disappeared"], ours["changed"]) == (0, 0, 1)
    (change,) = ours["changes"]["changed"]
    assert (change["record_id"], change["differences"]) == ("mw-08", ["severity"])
    assert (change["before"]["severity"], change["after"]["severity"]) == ("warning", "error")
    assert report["totals"] == {"appeared": 0, "disappeared": 0, "changed": 1, "new_violations": 1}


def test_git_ref_against_itself_shows_no_change(repository: Path) -> None:
    status, output, _ = run(
        "data/records.jsonl", "--now", NOW, "--before", "git:HEAD", "--after", "git:main", cwd=repository
    )
    assert status == 0
    assert "+0 appeared" in output and "-0 disappeared" in output


def test_git_ref_from_a_subdirectory_finds_the_configuration_above(repository: Path) -> None:
    status, output, errors = run(
        "records.jsonl", "--now", NOW, "--before", "git:HEAD", cwd=repository / "data"
    )
    assert status == 0, errors
    assert "+0 appeared" in output


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("git:no-such-branch", "unknown git revision 'no-such-branch'"),
        ("git:", "does not name a revision"),
        ("git:--output=x", "does not name a revision"),
    ],
)
def test_an_unknown_revision_is_an_error(repository: Path, ref: str, expected: str) -> None:
    status, _, errors = run("data/records.jsonl", "--now", NOW, "--before", ref, cwd=repository)
    assert status == 2
    assert expected in errors


def test_git_ref_outside_a_repository_is_an_error(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    status, _, errors = run(str(EXAMPLES), "--now", NOW, "--before", "git:HEAD", cwd=tmp_path)
    assert status == 2
    assert "git:REF needs a git repository" in errors


# --- the real UCI log ---------------------------------------------------------------------------------------


needs_uci = pytest.mark.skipif(not UCI.exists(), reason=f"the UCI incident log is not in {UCI.parent}")


@pytest.mark.slow
@needs_uci
def test_uci_tightening_keep_customer_updated_shows_exactly_the_added_violations(tmp_path: Path) -> None:
    now = datetime(2017, 6, 1, tzinfo=UTC)
    tight = write(tmp_path / "tight.toml", '[policies.keep-customer-updated]\nparams = { every = "4h" }\n')
    with (
        Engine.from_config(config=Config()) as before,
        Engine.from_config(config=load_config(tight)) as after,
    ):
        diff = replay(before, after, [UCI], now, input_format="servicenow-incidents", shared_admission=True)
    changed = {policy.policy: policy for policy in diff.changed_policies}
    assert list(changed) == ["keep-customer-updated"]
    policy = changed["keep-customer-updated"]
    assert policy.disappeared == () and policy.changed == ()
    # Independently: lint the log under each setting of the one policy, and subtract.
    obligations = {}
    for name, config in (("loose", Config()), ("tight", load_config(tight))):
        with Engine.from_config(
            config=config, select=lambda policy_id: policy_id == "keep-customer-updated"
        ) as one:
            found = evaluate_sources(one, [UCI], now, input_format="servicenow-incidents")
        obligations[name] = {f.obligation for f in found.violations}
    added = obligations["tight"] - obligations["loose"]
    assert {change.finding.obligation for change in policy.appeared} == added
    assert len(added) == len(policy.appeared) > 1000
    assert all(change.kind is ChangeKind.APPEARED for change in policy.appeared)


@pytest.mark.slow
@needs_uci
def test_uci_the_same_configuration_twice_shows_no_change(tmp_path: Path) -> None:
    config = write(tmp_path / "serviceflow.toml", "")
    status, output, _ = run(
        str(UCI),
        "--input-format",
        "servicenow-incidents",
        "--now",
        "2017-06-01T00:00:00Z",
        "--before",
        str(config),
        "--after",
        str(config),
        "--format",
        "json",
    )
    assert status == 0
    report = json.loads(output)
    assert report["totals"] == {"appeared": 0, "disappeared": 0, "changed": 0, "new_violations": 0}
    assert report["after"]["summary"]["cases"] == 24918
    assert report["after"]["summary"]["violations"] > 50_000
