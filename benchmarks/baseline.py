"""The yardstick: the four bundled policies written out by hand in plain Python.

This is what a competent engineer would write for these four rules alone, with no policy language, no
schema validation and no reporting: read the JSON Lines with ``json.loads``, group by case, sort each
case by ``at``, and apply each rule directly. It imports nothing from serviceflow. It trusts its input:
an invalid record is not reported, it may be miscounted or crash the run, which is why its speed is an
upper bound and not a like-for-like comparison (see benchmarks/README.md).

The rules, as the policies' descriptions state them (records with ``at`` after ``now`` are unknown):

* commit-requires-capacity: each commitment needs a confirmed capacity check made at or before it whose
  window covers the due, for the same resource when the commitment names one, the named check only when
  it names one (capacity_ref), and every listed material available or arriving by the due.
* concession-after-missed-commitment: agreed reschedules made before the due in force replace it; a
  commitment with no fulfillment at or before its due is missed and needs a concession naming it within
  48 hours after the due (pending until then).
* escalate-values-in-question: a contact flagged values_in_question, policy_question or
  next_steps_unclear needs an escalation at or after it and within 4 hours (pending until then).
* no-close-without-confirmation: a close needs the customer's latest confirmation since the most recent
  reopen (and at or before the close) to say resolved.

    python benchmarks/baseline.py FILE.jsonl[.gz] --now 2024-03-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CAPACITY = "commit-requires-capacity"
CONCESSION = "concession-after-missed-commitment"
ESCALATION = "escalate-values-in-question"
CLOSE = "no-close-without-confirmation"
POLICIES = (CAPACITY, CONCESSION, ESCALATION, CLOSE)

CONCEDE_WITHIN = timedelta(hours=48)
ESCALATE_WITHIN = timedelta(hours=4)
TRIGGER_FLAGS = frozenset({"values_in_question", "policy_question", "next_steps_unclear"})

Record = dict[str, Any]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_cases(path: Path) -> dict[str, list[Record]]:
    """Records grouped by case, in input order."""
    cases: dict[str, list[Record]] = defaultdict(list)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:  # type: ignore[operator]
        for line in lines:
            if line.strip():
                record = json.loads(line)
                cases[record["case_id"]].append(record)
    return cases


def evaluate(cases: dict[str, list[Record]], now: datetime) -> dict[str, dict[str, int]]:
    """Violation and pending counts per policy over all cases at ``now``."""
    counts = {policy: {"violations": 0, "pending": 0} for policy in POLICIES}
    for records in cases.values():
        for record in records:
            record["_at"] = parse_time(record["at"])
        records.sort(key=lambda record: record["_at"])  # stable: equal times keep input order
        known = [record for record in records if record["_at"] <= now]
        for seq, record in enumerate(known):
            record["_seq"] = seq
        by_type: dict[str, list[Record]] = defaultdict(list)
        for record in known:
            by_type[record["type"]].append(record)
        for policy, statuses in (
            (CAPACITY, check_capacity(by_type)),
            (CONCESSION, check_concessions(by_type, now)),
            (ESCALATION, check_escalations(by_type, now)),
            (CLOSE, check_closes(by_type)),
        ):
            for status in statuses:
                counts[policy][status] += 1
    return counts


def check_capacity(by_type: dict[str, list[Record]]) -> list[str]:
    statuses = []
    for commitment in by_type["commitment"]:
        due = parse_time(commitment["due"])
        covered = False
        for check in by_type["capacity_check"]:
            if check["confirmed"] is not True or check["_at"] > commitment["_at"]:
                continue
            window = check["window"]
            if not parse_time(window["start"]) <= due <= parse_time(window["end"]):
                continue
            if "resource" in commitment and check.get("resource") != commitment["resource"]:
                continue
            if "capacity_ref" in commitment and check["id"] != commitment["capacity_ref"]:
                continue
            if all(
                material["available"] is True or ("eta" in material and parse_time(material["eta"]) <= due)
                for material in check.get("materials", [])
            ):
                covered = True
                break
        if not covered:
            statuses.append("violations")
    return statuses


def check_concessions(by_type: dict[str, list[Record]], now: datetime) -> list[str]:
    statuses = []
    for commitment in by_type["commitment"]:
        commitment_id = commitment["commitment_id"]
        due = parse_time(commitment["due"])
        for change in by_type["reschedule"]:
            if (
                change["commitment_id"] == commitment_id
                and change["customer_agreed"] is True
                and change["_seq"] > commitment["_seq"]
                and change["_at"] < due
            ):
                due = parse_time(change["new_due"])
        if due > now:
            continue
        if any(
            visit["commitment_id"] == commitment_id and visit["_at"] <= due
            for visit in by_type["fulfillment"]
        ):
            continue
        concede_by = due + CONCEDE_WITHIN
        if any(
            concession.get("commitment_id") == commitment_id and due <= concession["_at"] <= concede_by
            for concession in by_type["concession"]
        ):
            continue
        statuses.append("pending" if concede_by > now else "violations")
    return statuses


def check_escalations(by_type: dict[str, list[Record]], now: datetime) -> list[str]:
    statuses = []
    for contact in by_type["contact"]:
        if not TRIGGER_FLAGS.intersection(contact.get("flags", ())):
            continue
        escalate_by = contact["_at"] + ESCALATE_WITHIN
        if any(contact["_at"] <= escalation["_at"] <= escalate_by for escalation in by_type["escalation"]):
            continue
        statuses.append("pending" if escalate_by > now else "violations")
    return statuses


def check_closes(by_type: dict[str, list[Record]]) -> list[str]:
    statuses = []
    changes = by_type["status_change"]
    for close in changes:
        if close["to"] != "closed":
            continue
        reopens = [
            change for change in changes if change["to"] == "reopened" and change["_seq"] < close["_seq"]
        ]
        reopened_seq = reopens[-1]["_seq"] if reopens else -1
        answers = [
            answer
            for answer in by_type["confirmation"]
            if answer["_at"] <= close["_at"] and answer["_seq"] > reopened_seq
        ]
        if not answers or answers[-1]["resolved"] is not True:
            statuses.append("violations")
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Count the four bundled policies' findings by hand.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--now", required=True, help="evaluation time, RFC 3339 with an offset")
    args = parser.parse_args(argv)
    now = parse_time(args.now)
    if now.tzinfo is None:
        parser.error("--now needs a time zone offset")
    counts = evaluate(read_cases(args.path), now)
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
