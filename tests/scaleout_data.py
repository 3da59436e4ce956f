"""Inputs for the scale-out tests (``--jobs``, Dask): cases spread over files, and what crosses partitions.

Every input here is built so that a wrong partitioning shows: customers whose cases land in different
partitions (the returning-customer policy needs the customer scope), record ids used twice in
different cases and files (duplicates settled across partitions), and bad lines in several files
and blocks (input errors that must keep their file and line, in input order).
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = "2024-03-01T00:00:00Z"
START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)

#: Lines that are not records, each refused in its own way.
BAD_LINES = [
    b'{"id": "broken", "case_id": "x", "type": "contact",\n',  # not JSON
    b'{"id": "bad-at", "case_id": "x", "type": "contact", "at": "yesterday", "actor": {"role": "agent"}}\n',
    b'["an array, not an object"]\n',
    b'{"id": "no-case", "type": "note", "at": "2024-01-02T09:00:00Z", "actor": {"role": "agent"}}\n',
]


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def customer_cases(customers: int, seed: int = 5) -> list[dict[str, Any]]:
    """Each customer has three cases, closed and then reopened by a new case days later."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for customer in range(customers):
        opened = START + timedelta(hours=rng.randrange(0, 200))
        for number in range(3):
            case_id = f"cust{customer}-case{number}"
            agent = {"role": "agent", "id": f"agent-{rng.randrange(4)}"}
            records.append(
                {
                    "id": f"{case_id}-open",
                    "case_id": case_id,
                    "type": "case_opened",
                    "at": stamp(opened),
                    "actor": {"role": "customer", "id": f"c{customer}"},
                    "channel": "email",
                    "customer_id": f"customer-{customer}",
                    "subject": f"Problem {number}",
                }
            )
            records.append(
                {
                    "id": f"{case_id}-reply",
                    "case_id": case_id,
                    "type": "contact",
                    "at": stamp(opened + timedelta(hours=rng.choice([1, 3, 6]))),
                    "actor": agent,
                    "channel": "email",
                    "direction": "outbound",
                    "summary": "Looking into it",
                }
            )
            if rng.random() < 0.5:
                records.append(
                    {
                        "id": f"{case_id}-note",
                        "case_id": case_id,
                        "type": "note",
                        "at": stamp(opened + timedelta(hours=4)),
                        "actor": agent,
                        "text": "root cause: a worn valve" if rng.random() < 0.5 else "called back",
                    }
                )
            closed = opened + timedelta(days=rng.choice([1, 2, 4]))
            records.append(
                {
                    "id": f"{case_id}-close",
                    "case_id": case_id,
                    "type": "status_change",
                    "at": stamp(closed),
                    "actor": agent,
                    "from": "open",
                    "to": "closed",
                }
            )
            opened = closed + timedelta(days=rng.choice([2, 5, 20]), minutes=rng.randrange(60))
    records.sort(key=lambda record: record["at"])
    return records


def write_spread(
    directory: Path, records: list[dict[str, Any]], files: int, *, seed: int = 11, bad_every: int = 0
) -> list[Path]:
    """The records dealt at random over ``files`` JSON Lines files (the last gzip), with the extras:

    every record id ``-reply`` of every seventh case written a second time in another case (a
    duplicate id across cases, files and partitions), a blank line and a CRLF line now and then, and,
    with ``bad_every``, one of :data:`BAD_LINES` every ``bad_every`` lines.
    """
    rng = random.Random(seed)
    lines: list[list[bytes]] = [[] for _ in range(files)]
    for index, record in enumerate(records):
        written = index + 1
        target = lines[rng.randrange(files)]
        target.append(json.dumps(record).encode() + (b"\r\n" if index % 13 == 0 else b"\n"))
        if index % 29 == 0:
            target.append(b"\n   \n")
        if record["id"].endswith("-reply") and index % 7 == 0:
            copy = dict(record, case_id=f"{record['case_id']}-copy")
            lines[rng.randrange(files)].append(json.dumps(copy).encode() + b"\n")
        if bad_every and written % bad_every == 0:
            lines[rng.randrange(files)].append(BAD_LINES[(written // bad_every) % len(BAD_LINES)])
    paths = []
    for number, content in enumerate(lines):
        if number == files - 1 and files > 1:
            path = directory / f"part-{number:02d}.jsonl.gz"
            path.write_bytes(gzip.compress(b"".join(content)))
        else:
            path = directory / f"part-{number:02d}.jsonl"
            path.write_bytes(b"".join(content))
        paths.append(path)
    return paths
