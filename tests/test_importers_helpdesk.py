"""``helpdesk-log``: the Italian software company's ticket activities (Verenich 2016) to records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serviceflow.importers.helpdesk import HelpdeskLog
from serviceflow.records import RecordValidator

HEADER = (
    "case_id,activity,resource,timestamp,seriousness,customer,product,responsible_section,seriousness_2,"
    "service_level,service_type,support_section,workgroup"
)


def row(activity: str, resource: str, day: int, service_level: str = "Value 1") -> str:
    """An activity on ticket ``Case 1`` on the ``day``-th of October 2012."""
    return (
        f"Case 1,{activity},{resource},2012-10-{day:02d}T14:50:17+00:00,Value 1,Value 7,Value 1,Value 1,"
        f"Value 2,{service_level},Value 1,Value 1,Value 1"
    )


def records(tmp_path: Path, *rows: str) -> list[dict[str, Any]]:
    path = tmp_path / "helpdesk.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    validator = RecordValidator()
    items = list(HelpdeskLog()([path]))
    for item in items:
        assert item.error is None, str(item.error)
        assert validator.iter_errors(item.data, item.origin) == [], item.data
    return [item.data for item in items]


def kinds(items: list[dict[str, Any]]) -> list[str]:
    """Each record's type, or a status change's target, or a note's text."""
    described = []
    for item in items:
        if item["type"] == "status_change":
            described.append(f"->{item['to']}")
        elif item["type"] == "note":
            described.append(f"note:{item['text']}")
        else:
            described.append(item["type"])
    return described


def test_intake_opens_the_ticket_with_its_customer_and_attributes(tmp_path: Path) -> None:
    [opened] = records(tmp_path, row("Assign seriousness", "Value 1", 9))
    assert opened["type"] == "case_opened"
    assert opened["customer_id"] == "Value 7"
    assert opened["at"] == "2012-10-09T14:50:17Z"
    assert opened["meta"]["seriousness_2"] == "Value 2"
    assert opened["meta"]["activity"] == "Assign seriousness"


def test_the_usual_ticket_is_taken_in_charge_resolved_and_closed(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Assign seriousness", "Value 1", 9),
        row("Take in charge ticket", "Value 1", 9),
        row("Resolve ticket", "Value 1", 25),
        row("Closed", "Value 3", 30),
    )
    assert kinds(made) == [
        "case_opened",
        "note:Reassigned from nobody to Value 1",
        "resolution",
        "->solved",
        "->closed",
    ]
    assert made[1]["meta"]["owner_change"] == {"from": None, "to": {"agent": "Value 1"}}


def test_wait_is_on_hold_until_the_ticket_is_taken_in_charge_again(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Take in charge ticket", "Value 1", 9),
        row("Wait", "Value 1", 10),
        row("Take in charge ticket", "Value 1", 11),
    )
    assert [(item.get("from"), item["to"]) for item in made if item["type"] == "status_change"] == [
        ("open", "on_hold"),
        ("on_hold", "open"),
    ]


def test_another_resource_taking_the_ticket_is_an_owner_change(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Take in charge ticket", "Value 1", 9),
        row("Take in charge ticket", "Value 2", 12),
    )
    assert made[-1]["meta"]["owner_change"] == {"from": {"agent": "Value 1"}, "to": {"agent": "Value 2"}}


def test_work_after_a_resolution_is_a_reopen_and_a_second_resolution_is_recorded(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Assign seriousness", "Value 1", 9),
        row("Resolve ticket", "Value 1", 10),
        row("Resolve ticket", "Value 1", 11),
        row("Take in charge ticket", "Value 1", 12),
        row("Resolve ticket", "Value 1", 13),
    )
    assert kinds(made)[1:] == [
        "resolution",
        "->solved",
        "resolution",
        "->reopened",
        "note:Reassigned from nobody to Value 1",
        "resolution",
        "->solved",
    ]


def test_a_second_closed_is_a_note_not_a_second_close(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Resolve ticket", "Value 1", 9),
        row("Closed", "Value 3", 10),
        row("Closed", "Value 3", 11),
    )
    assert kinds(made)[-2:] == ["->closed", "note:Closed"]
    assert made[-1]["meta"]["already_closed"] is True


def test_a_software_anomaly_is_an_escalation_and_bug_tracker_states_are_notes(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Take in charge ticket", "Value 1", 9),
        row("Create SW anomaly", "Value 1", 10),
        row("Resolve ticket", "Value 1", 11),
        row("VERIFIED", "Value 4", 12),
    )
    assert kinds(made)[2:] == ["escalation", "resolution", "->solved", "note:VERIFIED"]
    assert (made[2]["to"], made[2]["reason"]) == ("development", "software anomaly created")


def test_a_changed_ticket_attribute_is_kept_in_the_meta_of_its_row(tmp_path: Path) -> None:
    made = records(
        tmp_path,
        row("Assign seriousness", "Value 1", 9),
        row("Take in charge ticket", "Value 2", 12, service_level="Value 2"),
    )
    assert made[-1]["meta"]["changed"] == {"service_level": "Value 2"}


def test_a_row_with_a_bad_time_is_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "helpdesk.csv"
    path.write_text(
        "\n".join([HEADER, row("Assign seriousness", "Value 1", 9).replace("2012-10-09T", "9/10/")])
    )
    [item] = list(HelpdeskLog()([path]))
    assert str(item.error).startswith(f"{path}:2: /timestamp: not an ISO 8601 date-time")
