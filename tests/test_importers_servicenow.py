"""``servicenow-incidents``: the UCI ServiceNow audit log, one snapshot row per update, to records."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from serviceflow import Engine
from serviceflow.config import Config
from serviceflow.importers.servicenow import ServiceNowIncidents
from serviceflow.records import RawItem, RecordValidator
from serviceflow.run import evaluate_sources

SAMPLE = Path(__file__).parent / "data" / "real" / "uci_sample.csv.gz"
#: The log's 36 columns, as the real file has them.
HEADER = gzip.decompress(SAMPLE.read_bytes()).decode().split("\n", 1)[0].split(",")
DEFAULTS = {
    "active": "true",
    "reassignment_count": "0",
    "reopen_count": "0",
    "made_sla": "true",
    "caller_id": "Caller 2403",
    "opened_by": "Opened by  8",
    "opened_at": "29/2/2016 01:16",
    "sys_updated_by": "Updated by 21",
    "contact_type": "Phone",
    "priority": "3 - Moderate",
    "assignment_group": "Group 56",
    "assigned_to": "Resolver 1",
    "closed_code": "code 5",
}


def update(number: str, state: str, at: str, mod: int, **fields: str) -> dict[str, str]:
    """One row of the log; every column not given is ``?`` or a plausible default."""
    return (
        {column: "?" for column in HEADER}
        | DEFAULTS
        | {
            "number": number,
            "incident_state": state,
            "sys_updated_at": at,
            "sys_mod_count": str(mod),
        }
        | fields
    )


def write_log(path: Path, *rows: dict[str, str]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def records(path: Path, **options: Any) -> list[dict[str, Any]]:
    """The records the importer makes of ``path``, after checking each one is valid."""
    items = list(ServiceNowIncidents(**options)([path]))
    return valid_records(items)


def valid_records(items: list[RawItem]) -> list[dict[str, Any]]:
    validator = RecordValidator()
    for item in items:
        assert item.error is None, str(item.error)
        assert validator.iter_errors(item.data, item.origin) == [], item.data
    return [item.data for item in items]


def statuses(items: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(item.get("from"), item["to"]) for item in items if item["type"] == "status_change"]


def test_the_first_row_opens_the_case_at_opened_at_with_priority_channel_and_caller(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv", update("INC1", "New", "29/2/2016 01:23", 0, priority="1 - Critical")
    )
    [opened] = records(log)
    assert opened["type"] == "case_opened"
    assert opened["at"] == "2016-02-29T01:16:00Z"
    assert opened["priority"] == "urgent"
    assert opened["channel"] == "phone"
    assert opened["customer_id"] == "Caller 2403"
    assert opened["actor"] == {"role": "agent", "id": "Opened by  8"}
    assert opened["source"] == {"system": "servicenow", "ref": "INC1/0"}
    assert opened["meta"]["owner"] == {"group": "Group 56", "agent": "Resolver 1"}


def test_resolved_is_a_resolution_and_a_status_change_and_closed_follows(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "New", "29/2/2016 01:23", 0),
        update("INC1", "Resolved", "29/2/2016 08:53", 1),
        update("INC1", "Resolved", "29/2/2016 11:29", 2),
        update("INC1", "Closed", "5/3/2016 12:00", 3),
    )
    made = records(log)
    assert [item["type"] for item in made] == ["case_opened", "resolution", "status_change", "status_change"]
    assert statuses(made) == [("open", "solved"), ("solved", "closed")]
    resolution = made[1]
    assert resolution["at"] == "2016-02-29T08:53:00Z"
    assert resolution["summary"] == "closed code code 5"
    assert resolution["actor"] == {"role": "agent", "id": "Updated by 21"}


def test_an_update_that_changes_nothing_mapped_makes_no_record(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "New", "29/2/2016 01:23", 0),
        update("INC1", "Active", "29/2/2016 02:00", 1, made_sla="false"),
        update("INC1", "Active", "29/2/2016 03:00", 2),
    )
    assert [item["type"] for item in records(log)] == ["case_opened"]


def test_waiting_on_the_user_is_on_hold_and_other_waits_are_pending(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "Active", "29/2/2016 01:23", 0),
        update("INC1", "Awaiting User Info", "29/2/2016 02:00", 1),
        update("INC1", "Awaiting Vendor", "29/2/2016 03:00", 2),
        update("INC1", "Awaiting Problem", "29/2/2016 04:00", 3),
        update("INC1", "Active", "29/2/2016 05:00", 4),
    )
    assert statuses(records(log)) == [("open", "on_hold"), ("on_hold", "pending"), ("pending", "open")]


def test_a_resolution_rejected_by_the_caller_is_a_reopen(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "Resolved", "29/2/2016 01:23", 0),
        update("INC1", "Active", "1/3/2016 09:00", 1, reopen_count="1"),
        update("INC1", "Active", "1/3/2016 10:00", 2, reopen_count="1"),
        update("INC1", "Awaiting User Info", "1/3/2016 11:00", 3, reopen_count="1"),
        update("INC1", "Resolved", "2/3/2016 11:00", 4, reopen_count="1"),
    )
    made = records(log)
    assert statuses(made) == [
        ("open", "solved"),
        ("solved", "reopened"),
        ("reopened", "on_hold"),
        ("on_hold", "solved"),
    ]
    assert [item["type"] for item in made].count("resolution") == 2


def test_work_after_closed_is_a_reopen_and_the_second_close_is_a_close_again(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "Resolved", "29/2/2016 01:23", 0),
        update("INC1", "Closed", "5/3/2016 01:23", 1),
        update("INC1", "Active", "7/3/2016 10:00", 2, reopen_count="1"),
        update("INC1", "Resolved", "8/3/2016 10:00", 3, reopen_count="1"),
        update("INC1", "Closed", "13/3/2016 10:00", 4, reopen_count="1"),
    )
    assert statuses(records(log)) == [
        ("open", "solved"),
        ("solved", "closed"),
        ("closed", "reopened"),
        ("reopened", "solved"),
        ("solved", "closed"),
    ]


def test_a_state_going_back_from_resolved_is_a_reopen_even_without_the_count(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "Resolved", "29/2/2016 01:23", 0),
        update("INC1", "Active", "1/3/2016 09:00", 1),
    )
    assert statuses(records(log))[-1] == ("solved", "reopened")


def test_closed_without_resolved_makes_no_resolution(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "New", "7/3/2016 09:04", 0),
        update("INC1", "Closed", "7/3/2016 17:53", 1),
    )
    made = records(log)
    assert statuses(made) == [("open", "closed")]
    assert "resolution" not in [item["type"] for item in made]


def test_a_new_group_or_analyst_is_a_note_with_the_owner_change(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "New", "29/2/2016 01:23", 0, assigned_to="?"),
        update("INC1", "Active", "29/2/2016 05:30", 1, assignment_group="Group 24", reassignment_count="1"),
    )
    note = records(log)[-1]
    assert note["type"] == "note"
    assert note["text"] == "Reassigned from Group 56 to Group 24 / Resolver 1"
    assert note["meta"]["owner_change"] == {
        "from": {"group": "Group 56", "agent": None},
        "to": {"group": "Group 24", "agent": "Resolver 1"},
    }
    assert note["meta"]["reassignment_count"] == 1


def test_a_problem_or_change_link_appearing_is_an_escalation(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "Active", "29/2/2016 01:23", 0),
        update(
            "INC1", "Awaiting Problem", "29/2/2016 05:30", 1, problem_id="Problem ID  2", rfc="CHG0000123"
        ),
    )
    escalations = [item for item in records(log) if item["type"] == "escalation"]
    assert [(item["to"], item["reason"]) for item in escalations] == [
        ("problem management", "linked to problem Problem ID  2"),
        ("change management", "linked to change request CHG0000123"),
    ]


def test_the_junk_state_changes_nothing_and_is_kept_in_meta(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "New", "29/2/2016 01:23", 0),
        update("INC1", "-100", "29/2/2016 02:00", 1, assignment_group="Group 2"),
        update("INC1", "Resolved", "29/2/2016 03:00", 2),
    )
    made = records(log)
    assert statuses(made) == [("open", "solved")]
    assert made[1]["meta"]["state"] == "-100"


def test_a_bad_row_is_reported_at_its_line_and_column_and_the_log_goes_on(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "New", "29/2/2016 01:23", 0),
        update("INC1", "Resolved", "2016-02-29 08:53", 1),
        update("INC1", "Closed", "5/3/2016 12:00", 2, reopen_count="many"),
        update("INC1", "Closed", "5/3/2016 12:00", 3),
    )
    items = list(ServiceNowIncidents()([log]))
    errors = [str(item.error) for item in items if item.error is not None]
    assert errors == [
        f"{log}:3: /sys_updated_at: not a date-time like 29/2/2016 01:16: '2016-02-29 08:53'",
        f"{log}:4: /reopen_count: reopen_count is not a whole number: 'many'",
    ]
    assert statuses(valid_records([item for item in items if item.error is None])) == [("open", "closed")]


def test_a_source_zone_places_the_bare_times(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "log.csv", update("INC1", "New", "29/7/2016 01:23", 0, opened_at="29/7/2016 01:16")
    )
    [opened] = records(log, source_tz="America/Sao_Paulo")
    assert opened["at"] == "2016-07-29T01:16:00-03:00"
    assert ServiceNowIncidents().with_source_tz("America/Sao_Paulo").source_tz == "America/Sao_Paulo"


def test_record_ids_name_the_case_and_line_and_are_unique(tmp_path: Path) -> None:
    made = records(SAMPLE)
    ids = [item["id"] for item in made]
    assert len(ids) == len(set(ids))
    assert ids[:2] == ["INC0000045-2-opened", "INC0000045-3-resolution"]


def test_every_record_of_the_sample_is_valid_and_the_sample_facts_hold() -> None:
    made = records(SAMPLE)
    by_case: dict[str, list[dict[str, Any]]] = {}
    for item in made:
        by_case.setdefault(item["case_id"], []).append(item)
    closed = {case for case, items in by_case.items() if ("closed" in [i.get("to") for i in items])}
    resolved = {case for case, items in by_case.items() if any(i["type"] == "resolution" for i in items)}
    reopened = {case for case, items in by_case.items() if "reopened" in [i.get("to") for i in items]}
    assert len(by_case) == 38
    assert sorted(closed - resolved) == ["INC0003115", "INC0005100", "INC0020014", "INC0119241"]
    assert len(reopened) == 8
    assert "INC0000135" not in reopened  # its rows are out of sys_mod_count order, not reopened


def test_linting_the_sample_flags_every_close_as_unconfirmed() -> None:
    closes = sum(1 for item in records(SAMPLE) if item["type"] == "status_change" and item["to"] == "closed")
    engine = Engine.from_config(config=Config())
    evaluation = evaluate_sources(
        engine, [SAMPLE], now=datetime(2017, 6, 1, tzinfo=UTC), input_format="servicenow-incidents"
    )
    assert evaluation.input_errors == ()
    assert evaluation.cases == 38
    by_policy = Counter(finding.policy for finding in evaluation.violations)
    assert by_policy["no-close-without-confirmation"] == closes


@pytest.mark.parametrize("state", ["Awaiting Evidence", "Awaiting Vendor"])
def test_every_third_party_wait_is_pending(tmp_path: Path, state: str) -> None:
    log = write_log(
        tmp_path / "log.csv",
        update("INC1", "Active", "29/2/2016 01:23", 0),
        update("INC1", state, "29/2/2016 02:00", 1),
    )
    assert statuses(records(log)) == [("open", "pending")]
