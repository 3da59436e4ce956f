"""``bpic2014-incidents``: Rabobank's incident activities and table (BPI Challenge 2014) to records."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pytest

from serviceflow.errors import InputError
from serviceflow.importers.bpic2014 import Bpic2014Incidents
from serviceflow.records import RawItem, RecordValidator

ACTIVITY_HEADER = (
    "incident_id,date_stamp,incident_activity_number,incident_activity_type,assignment_group,km_number,"
    "interaction_id"
)
CASES_HEADER = (
    "ci_name_aff,incident_id,status,impact,urgency,priority,category,x_reassignments,open_time,reopen_time,"
    "resolved_time,close_time,closure_code"
)


def activity(time: str, number: int, kind: str, group: str = "TEAM0002", incident: str = "IM0000048") -> str:
    """An activity on 17 October 2013 at ``time``; ``number`` orders activities of the same second."""
    return f"{incident},2013-10-17 {time},001A{number:07d},{kind},{group},KM0000524,SD0000031"


def case(resolved: str = "14:00:26", priority: str = "4", incident: str = "IM0000048") -> str:
    return (
        f"SBA000662,{incident},Closed,4,4,{priority},incident,1,2013-10-17 12:07:43,,"
        f"{f'2013-10-17 {resolved}' if resolved else ''},2013-10-17 14:00:29,Software"
    )


def write(folder: Path, activities: list[str], cases: list[str] | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "incident_activity.csv"
    path.write_text("\n".join([ACTIVITY_HEADER, *activities]) + "\n")
    if cases is not None:
        (folder / "incident_cases.csv.gz").write_bytes(
            gzip.compress("\n".join([CASES_HEADER, *cases]).encode())
        )
    return path


def valid(items: list[RawItem]) -> list[dict[str, Any]]:
    validator = RecordValidator()
    for item in items:
        assert item.error is None, str(item.error)
        assert validator.iter_errors(item.data, item.origin) == [], item.data
    return [item.data for item in items]


def records(path: Path) -> list[dict[str, Any]]:
    return valid(list(Bpic2014Incidents()([path])))


def statuses(items: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(item.get("from"), item["to"]) for item in items if item["type"] == "status_change"]


def test_activities_out_of_order_come_out_in_time_order_with_their_from(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            activity("14:00:31", 9, "Closed"),
            activity("12:22:44", 3, "Reopen"),
            activity("12:07:45", 1, "Open"),
            activity("13:10:52", 5, "Pending vendor"),
            activity("13:20:00", 6, "Resolved"),
        ],
    )
    made = records(path)
    assert [item["meta"]["activity"] for item in made] == [
        "Open",
        "Reopen",
        "Pending vendor",
        "Resolved",
        "Resolved",
        "Closed",
    ]
    assert statuses(made) == [
        ("open", "reopened"),
        ("reopened", "pending"),
        ("pending", "solved"),
        ("solved", "closed"),
    ]


def test_activities_of_the_same_second_keep_their_activity_number_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            activity("12:07:45", 1, "Open"),
            activity("13:10:52", 8, "Operator Update"),
            activity("13:10:52", 7, "Status Change"),
        ],
    )
    assert [item["meta"]["activity"] for item in records(path)][1:] == ["Status Change", "Operator Update"]


def test_the_incident_table_beside_gives_priority_and_the_resolution(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [activity("12:07:45", 1, "Open"), activity("14:00:31", 9, "Closed")],
        [case(resolved="14:00:26", priority="2")],
    )
    made = records(path)
    opened = made[0]
    assert opened["priority"] == "high"
    assert opened["meta"]["incident"]["closure_code"] == "Software"
    resolution = made[1]
    assert resolution["type"] == "resolution"
    assert resolution["at"] == "2013-10-17T14:00:26Z"
    assert resolution["id"] == "IM0000048-case2-resolution"
    assert resolution["meta"]["from_incident_table"] is True
    assert statuses(made) == [("open", "solved"), ("solved", "closed")]


def test_a_resolved_activity_at_the_tables_resolved_time_is_not_doubled(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [activity("12:07:45", 1, "Open"), activity("14:00:26", 8, "Resolved")],
        [case(resolved="14:00:26")],
    )
    assert [item["type"] for item in records(path)].count("resolution") == 1


def test_a_second_closed_without_a_reopen_is_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            activity("12:07:45", 1, "Open"),
            activity("12:10:00", 2, "Closed"),
            activity("12:20:00", 3, "Operator Update"),
            activity("12:30:00", 4, "Closed"),
        ],
    )
    made = records(path)
    assert statuses(made) == [("open", "closed")]
    assert made[-1]["type"] == "note"
    assert made[-1]["meta"]["already_closed"] is True


def test_customer_contacts_are_contacts_and_vendor_hand_overs_escalations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            activity("12:07:45", 1, "Open"),
            activity("12:10:00", 2, "Update from customer"),
            activity("12:20:00", 3, "Mail to Customer"),
            activity("12:30:00", 4, "External Vendor Assignment"),
        ],
    )
    inbound, outbound, escalation = records(path)[1:]
    assert (inbound["direction"], inbound["actor"]["role"]) == ("inbound", "customer")
    assert (outbound["direction"], outbound["channel"]) == ("outbound", "email")
    assert (escalation["type"], escalation["to"]) == ("escalation", "external vendor")


def test_a_reassignment_to_another_group_is_an_owner_change(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            activity("12:07:45", 1, "Open", group="TEAM0002"),
            activity("12:10:00", 2, "Assignment", group="TEAM0002"),
            activity("12:20:00", 3, "Reassignment", group="TEAM0003"),
        ],
    )
    same, other = records(path)[1:]
    assert same["text"] == "Assignment"
    assert other["meta"]["owner_change"] == {"from": {"group": "TEAM0002"}, "to": {"group": "TEAM0003"}}


def test_an_incident_whose_rows_come_back_later_in_the_file_is_one_case(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            activity("12:07:45", 1, "Open"),
            activity("12:00:00", 1, "Open", incident="IM0000049"),
            activity("12:10:00", 2, "Closed"),
        ],
    )
    made = records(path)
    assert [(item["case_id"], item["type"]) for item in made] == [
        ("IM0000048", "case_opened"),
        ("IM0000048", "status_change"),
        ("IM0000049", "case_opened"),
    ]


def test_an_activity_log_on_stdin_is_read_without_the_table() -> None:
    log = "\n".join([ACTIVITY_HEADER, activity("12:07:45", 1, "Open")]).encode()
    [opened] = valid(list(Bpic2014Incidents()(["-"], io.BytesIO(log))))
    assert "priority" not in opened


def test_a_bad_row_is_reported_and_the_incident_is_still_imported(tmp_path: Path) -> None:
    path = write(tmp_path, [activity("12:07:45", 1, "Open"), activity("noon", 2, "Closed")])
    items = list(Bpic2014Incidents()([path]))
    assert [str(item.error) for item in items if item.error is not None] == [
        f"{path}:3: /date_stamp: not an ISO 8601 date-time like 2013-02-13 12:03:35: '2013-10-17 noon'"
    ]
    assert [item.data["type"] for item in items if item.data is not None] == ["case_opened"]


def test_passing_the_incident_table_itself_says_to_pass_the_activity_file(tmp_path: Path) -> None:
    path = tmp_path / "incident_cases.csv"
    path.write_text("\n".join([CASES_HEADER, case()]))
    with pytest.raises(InputError, match="this is the incident table: pass the activity file"):
        list(Bpic2014Incidents()([path]))


def test_a_directory_stands_for_its_activity_file_not_its_table(tmp_path: Path) -> None:
    write(tmp_path, [activity("12:07:45", 1, "Open")], [case()])
    made = valid(list(Bpic2014Incidents()([tmp_path])))
    assert made[0]["priority"] == "low"
