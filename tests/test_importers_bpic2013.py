"""``bpic2013-incidents``: Volvo IT's VINST status events (BPI Challenge 2013) to records."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from serviceflow.importers.bpic2013 import Bpic2013Incidents, support_line
from serviceflow.records import RecordValidator

HEADER = [
    "SR Number",
    "Change Date+Time",
    "Status",
    "Sub Status",
    "Involved ST Function Div",
    "Involved Org line 3",
    "Involved ST",
    "SR Latest Impact",
    "Product",
    "Country",
    "Owner Country",
    "Owner First Name",
]


def event(at: str, status: str, sub_status: str, team: str = "V30", owner: str = "Frederic") -> list[str]:
    """A status event of service request 1-364285768 on 31 March 2010 (``at`` is the clock time)."""
    return [
        "1-364285768",
        f"2010-03-31T{at}+02:00",
        status,
        sub_status,
        "A2_4",
        "Org line A2",
        team,
        "Medium",
        "PROD582",
        "fr",
        "France",
        owner,
    ]


def records(tmp_path: Path, *rows: list[str]) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = tmp_path / "bpic2013.csv"
    path.write_text(buffer.getvalue())
    validator = RecordValidator()
    items = list(Bpic2013Incidents()([path]))
    for item in items:
        assert item.error is None, str(item.error)
        assert validator.iter_errors(item.data, item.origin) == [], item.data
    return [item.data for item in items]


def statuses(items: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(item.get("from"), item["to"]) for item in items if item["type"] == "status_change"]


def test_the_first_event_opens_the_case_with_impact_and_product_in_meta(tmp_path: Path) -> None:
    [opened] = records(tmp_path, event("16:59:42", "Accepted", "In Progress"))
    assert opened["type"] == "case_opened"
    assert opened["at"] == "2010-03-31T16:59:42+02:00"
    assert opened["actor"] == {"role": "agent", "id": "Frederic"}
    assert opened["meta"]["impact"] == "Medium"
    assert opened["meta"]["product"] == "PROD582"
    assert "priority" not in opened  # the impact is the latest one, not the one at opening


def test_waiting_on_the_user_or_customer_is_on_hold_and_other_waits_pending(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        event("10:00:00", "Accepted", "In Progress"),
        event("10:01:00", "Accepted", "Wait - User"),
        event("10:02:00", "Accepted", "Wait - Vendor"),
        event("10:03:00", "Accepted", "Wait - Customer"),
        event("10:04:00", "Accepted", "Wait"),
        event("10:05:00", "Queued", "Awaiting Assignment"),
    )
    assert statuses(made) == [
        ("open", "on_hold"),
        ("on_hold", "pending"),
        ("pending", "on_hold"),
        ("on_hold", "pending"),
        ("pending", "open"),
    ]


def test_resolved_then_closed_is_a_resolution_and_two_status_changes(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        event("10:00:00", "Accepted", "In Progress"),
        event("10:01:00", "Completed", "Resolved"),
        event("10:02:00", "Completed", "Closed"),
    )
    assert [item["type"] for item in made] == ["case_opened", "resolution", "status_change", "status_change"]
    assert statuses(made) == [("open", "solved"), ("solved", "closed")]


def test_solved_in_the_call_is_a_resolution_by_phone(tmp_path: Path) -> None:
    made = records(tmp_path, event("10:00:00", "Completed", "In Call"))
    assert made[1]["type"] == "resolution"
    assert made[1]["channel"] == "phone"
    assert statuses(made) == [("open", "solved")]


def test_work_after_completed_is_a_reopen(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        event("10:00:00", "Completed", "Resolved"),
        event("10:01:00", "Queued", "Awaiting Assignment"),
        event("10:02:00", "Accepted", "Wait - User"),
    )
    assert statuses(made) == [("open", "solved"), ("solved", "reopened"), ("reopened", "on_hold")]


def test_repeated_events_and_unmatched_ones_change_nothing(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        event("10:00:00", "Accepted", "In Progress"),
        event("10:01:00", "Accepted", "In Progress"),
        event("10:02:00", "Unmatched", "Unmatched"),
    )
    assert [item["type"] for item in made] == ["case_opened"]


def test_a_hand_over_to_a_higher_line_is_an_owner_change_and_an_escalation(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        event("10:00:00", "Accepted", "In Progress", team="V30"),
        event("10:01:00", "Queued", "Awaiting Assignment", team="V5 3rd"),
        event("10:02:00", "Queued", "Awaiting Assignment", team="V13 2nd", owner="-"),
    )
    assert [item["type"] for item in made] == ["case_opened", "note", "escalation", "note"]
    assert made[1]["meta"]["owner_change"] == {
        "from": {"group": "V30", "agent": "Frederic"},
        "to": {"group": "V5 3rd", "agent": "Frederic"},
    }
    assert (made[2]["to"], made[2]["reason"]) == ("V5 3rd", "handed from support line 1 to line 3")
    assert made[3]["actor"] == {"role": "system", "id": "vinst"}


def test_the_support_line_is_read_from_the_team_name_suffix() -> None:
    assert [support_line(team) for team in ("V30", "V5 3rd", "G97 2nd", "V13 2nd 3rd", None)] == [
        1,
        3,
        2,
        3,
        1,
    ]


def test_a_row_without_a_time_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "bpic2013.csv"
    rows = [HEADER, event("10:00:00", "Accepted", "In Progress"), event("", "Completed", "Closed")]
    rows[2][1] = "31/03/2010"
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    items = list(Bpic2013Incidents()([path]))
    assert [str(item.error) for item in items if item.error is not None] == [
        f"{path}:3: /Change Date+Time: not an ISO 8601 date-time like 2013-02-13 12:03:35: '31/03/2010'"
    ]
    assert [item.data["type"] for item in items if item.data is not None] == ["case_opened"]
