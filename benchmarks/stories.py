"""The story of one customer-service case, and what each bundled policy will make of it.

A :class:`CaseStory` decides, with a seeded random generator, how a case goes: a customer reports a
problem (perhaps raising a question that calls for an escalation), an agent checks capacity and commits
to send a technician, the visit is rescheduled, kept or missed, a concession may follow, the case is
resolved, the customer is asked to confirm, the case is closed and sometimes reopened. Each policy
subject it writes comes with an :class:`Obligation` stating when the policy starts to apply, when (if
ever) it was met and its deadline, so its status at any ``now`` is known without reading records back.

A share of each policy's subjects, given by ``rates``, is written as a violation in one of several ways
(missing, late, subtly wrong); the others include boundary cases that are not violations (an escalation
exactly 4 hours after the contact, a visit exactly at the due, a concession exactly 48 hours late, a part
arriving exactly at the due). Records within a case never share a timestamp where case order matters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

CAPACITY = "commit-requires-capacity"
CONCESSION = "concession-after-missed-commitment"
ESCALATION = "escalate-values-in-question"
CLOSE = "no-close-without-confirmation"
POLICIES = (CAPACITY, CONCESSION, ESCALATION, CLOSE)

#: The bundled policies' default parameters, which the expected counts assume.
ESCALATE_WITHIN = timedelta(hours=4)
CONCEDE_WITHIN = timedelta(hours=48)
TRIGGER_FLAGS = ("values_in_question", "policy_question", "next_steps_unclear")
OTHER_FLAGS = ("customer_dissatisfied", "agent_safety")


MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Offsets seen in one export: customers, sites and technicians are spread over several regions.
CUSTOMER_OFFSETS = (0, 60, 60, 60, 120, 120, -300, -300, -240, -480, 330, 540, 600, -210)
SITE_OFFSETS = (60, 0, -300, 330)
_ZONES = {minutes: timezone(timedelta(minutes=minutes)) for minutes in {*CUSTOMER_OFFSETS, *SITE_OFFSETS}}

PROBLEMS = (
    ("Leaking pipe", "The pipe under the kitchen sink that was fixed yesterday is still leaking.", "pipe"),
    (
        "No hot water",
        "The boiler shows error E119 and we have had no hot water since this morning.",
        "boiler",
    ),
    (
        "Noisy heat pump",
        "The heat pump makes a grinding noise every night and wakes the kids up.",
        "heat pump",
    ),
    ("Door lock jammed", "The front door lock is jammed and we can only get in through the garage.", "lock"),
    ("Pilot light", "The water heater pilot light keeps going out, three times this week.", "water heater"),
    ("AC dripping", "The air conditioning unit drips water onto the living room floor.", "air conditioner"),
    ("Dishwasher", "The dishwasher you installed last week does not drain at all.", "dishwasher"),
    (
        "Cold radiators",
        "The radiators in both bedrooms stay cold even with the thermostat at 23.",
        "radiators",
    ),
    (
        "Breaker trips",
        "The circuit breaker trips whenever the oven and the kettle are on together.",
        "wiring",
    ),
    ("Garage door", "The garage door opener stopped responding to the remote and the wall button.", "opener"),
)
QUESTION_TEXTS = {
    "values_in_question": "The customer asks whether the second visit will be billed, as the first failed.",
    "policy_question": "The customer asks if the warranty covers a replacement rather than another repair.",
    "next_steps_unclear": "Nobody can tell the customer who owns this or what happens next.",
}
FIRST_NAMES = (
    "Melina",
    "Jake",
    "Milo",
    "Ana",
    "Tomas",
    "Priya",
    "Kenji",
    "Sofia",
    "Lucas",
    "Amara",
    "Noah",
    "Ines",
    "Omar",
    "Freya",
    "Diego",
    "Yuki",
    "Hana",
    "Pavel",
    "Zoe",
    "Ravi",
)
LAST_NAMES = ("Okafor", "Silva", "Novak", "Tanaka", "Moreau", "Khan", "Rossi", "Berg", "Lopez", "Meyer")
ESCALATION_TEAMS = ("tier-2 support", "duty supervisor", "billing team", "warranty desk")
CONCESSION_KINDS = ("discount", "credit", "refund", "free_service", "gesture")


@dataclass(slots=True)
class Obligation:
    """One subject of one policy, and what its story decided.

    ``applies_at``: from when the policy asks something of it (``None``: never, e.g. a kept commitment).
    ``met_at``: when the obligation was met for good (``None``: never). ``deadline``: after it an unmet
    obligation is a violation, before it pending; ``None`` means violated as soon as it applies.
    """

    policy: str
    record_id: str
    visible_at: datetime
    applies_at: datetime | None
    met_at: datetime | None
    deadline: datetime | None = None

    def status(self, now: datetime) -> str | None:
        """``"violation"``, ``"pending"`` or ``None`` (no finding) at ``now``."""
        if self.visible_at > now or self.applies_at is None or self.applies_at > now:
            return None
        if self.met_at is not None and self.met_at <= now:
            return None
        if self.deadline is not None and self.deadline > now:
            return "pending"
        return "violation"


@dataclass(slots=True)
class Actor:
    role: str
    id: str
    name: str | None
    offset: int  # minutes east of UTC, for rendering this actor's timestamps

    def as_json(self) -> dict[str, str]:
        data = {"role": self.role, "id": self.id}
        if self.name is not None:
            data["name"] = self.name
        return data


def stamp(instant: datetime, offset: int) -> str:
    """RFC 3339 with the given offset in minutes (``Z`` for UTC), seconds precision."""
    text = instant.astimezone(_ZONES[offset]).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@dataclass
class CaseStory:
    """Builds one case's records and obligations; times are aware UTC datetimes at whole seconds."""

    rng: random.Random
    number: int
    opened_at: datetime
    rates: dict[str, float]
    events: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    obligations: list[Obligation] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = self.rng
        self.case_id = f"CS-{self.number:07d}"
        self.customer = Actor(
            "customer", f"cust-{rng.randrange(10**6):06d}", self._person(), rng.choice(CUSTOMER_OFFSETS)
        )
        site = rng.choice(SITE_OFFSETS)
        self.agent = Actor("agent", f"agent-{rng.randrange(1, 120):03d}", rng.choice(FIRST_NAMES), site)
        self.supervisor = Actor(
            "supervisor", f"sup-{rng.randrange(1, 12):02d}", rng.choice(FIRST_NAMES), site
        )
        self.system = Actor("system", "crm", None, 0)
        self.problem = rng.choice(PROBLEMS)
        self.state = "open"
        self._record_count = 0

    # --- helpers ---------------------------------------------------------------------------------

    def _person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _technician(self) -> Actor:
        return Actor(
            "technician",
            f"tech-{self.rng.randrange(1, 80):03d}",
            self.rng.choice(FIRST_NAMES),
            self.customer.offset,
        )

    def _span(self, low: timedelta, high: timedelta) -> timedelta:
        """A random duration in ``[low, high]`` at whole seconds."""
        low_s, high_s = int(low.total_seconds()), int(high.total_seconds())
        return timedelta(seconds=self.rng.randint(low_s, max(low_s, high_s)))

    def _slot(self, instant: datetime) -> datetime:
        """Round up to the next quarter hour, as appointments are given."""
        excess = (instant.minute % 15) * 60 + instant.second
        return instant if excess == 0 else instant + timedelta(seconds=15 * 60 - excess)

    def _chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def add(
        self,
        type_name: str,
        at: datetime,
        actor: Actor,
        channel: str | None = None,
        text: str | None = None,
        **fields: Any,
    ) -> str:
        """Append a record; datetimes in ``fields`` are rendered in the customer's offset."""
        self._record_count += 1
        record_id = f"ev-{self.number:07d}-{self._record_count:02d}"
        record: dict[str, Any] = {
            "id": record_id,
            "case_id": self.case_id,
            "type": type_name,
            "at": stamp(at, actor.offset),
            "actor": actor.as_json(),
        }
        if channel is not None:
            record["channel"] = channel
        record["customer_id"] = self.customer.id
        if text is not None:
            record["text"] = text
        for name, value in fields.items():
            if value is not None:
                record[name] = self._render(value)
        self.events.append((at, record))
        return record_id

    def _render(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return stamp(value, self.customer.offset)
        if isinstance(value, dict):
            return {key: self._render(item) for key, item in value.items() if item is not None}
        if isinstance(value, list):
            return [self._render(item) for item in value]
        return value

    def latest(self) -> datetime:
        return max(at for at, _ in self.events)

    # --- the story -------------------------------------------------------------------------------

    def build(self) -> CaseStory:
        rng = self.rng
        subject, complaint, _ = self.problem
        opened = self.opened_at
        self.add(
            "case_opened",
            opened,
            rng.choice((self.agent, self.system)),
            rng.choice(("phone", "email", "web")),
            subject=subject,
            priority=rng.choice(("low", "normal", "normal", "normal", "high", "urgent")),
            meta={"sla_tier": rng.choice(("bronze", "silver", "gold"))} if self._chance(0.2) else None,
        )
        if self._chance(0.6):  # some help desks record the initial status, others imply it
            self.add(
                "status_change", opened + self._span(MINUTE, 4 * MINUTE), self.system, "system", to="open"
            )
        contact_at = opened + self._span(10 * MINUTE, 40 * MINUTE)
        self._contact(contact_at, complaint, earliest_escalation=opened + MINUTE)
        if self._chance(0.75):
            self.add(
                "note",
                contact_at + self._span(5 * MINUTE, 45 * MINUTE),
                self.agent,
                text=f"Customer reports a problem with the {self.problem[2]}; warranty checked, "
                "visit needed.",
            )
        if self._chance(0.93):
            cursor = max(self.latest(), contact_at + 30 * MINUTE)
            commitment = self._commit(cursor, phase=1)
            cursor = max(self.latest(), commitment)
        else:
            cursor = self.latest()
        closed = self._close_loop(cursor)
        if closed and self._chance(0.18):
            self._reopen(max(self.latest(), contact_at + ESCALATE_WITHIN + HOUR))
        return self

    def _contact(self, contact_at: datetime, complaint: str, earliest_escalation: datetime) -> None:
        """An inbound contact; flagged ones call for an escalation within ESCALATE_WITHIN."""
        rng = self.rng
        flags: list[str] = []
        if self._chance(0.35):
            flags = rng.sample(TRIGGER_FLAGS, rng.choice((1, 1, 1, 2)))
            if self._chance(0.3):
                flags.append("customer_dissatisfied")
        elif self._chance(0.12):
            flags = [rng.choice(OTHER_FLAGS)]
        summary = (
            QUESTION_TEXTS[flags[0]]
            if flags and flags[0] in QUESTION_TEXTS
            else "Customer describes the fault."
        )
        contact_id = self.add(
            "contact",
            contact_at,
            self.customer,
            rng.choice(("phone", "phone", "email", "chat")),
            text=complaint,
            direction="inbound",
            flags=flags or None,
            summary=summary,
        )
        if not set(flags) & set(TRIGGER_FLAGS):
            return
        deadline = contact_at + ESCALATE_WITHIN
        met_at: datetime | None = None
        if not self._chance(self.rates[ESCALATION]):
            escalated_at = (
                deadline if self._chance(0.1) else contact_at + self._span(2 * MINUTE, ESCALATE_WITHIN)
            )
            self._escalate(escalated_at, contact_id)
            met_at = escalated_at
        else:
            way = rng.random()
            if way < 0.35:  # escalated, but too late
                late = deadline + (
                    timedelta(seconds=1) if self._chance(0.2) else self._span(MINUTE, 20 * HOUR)
                )
                self._escalate(late, contact_id)
            elif way < 0.5 and contact_at - earliest_escalation > 2 * MINUTE:  # only an escalation before it
                self._escalate(
                    earliest_escalation + self._span(0 * MINUTE, contact_at - earliest_escalation - MINUTE),
                    None,
                    reason="urgent priority routing",
                )
        self.obligations.append(Obligation(ESCALATION, contact_id, contact_at, contact_at, met_at, deadline))

    def _escalate(self, at: datetime, contact_id: str | None, reason: str | None = None) -> None:
        self.add(
            "escalation",
            at,
            self.rng.choice((self.agent, self.system)),
            "system",
            reason=reason or "customer question needs a decision above first line",
            to=self.rng.choice(ESCALATION_TEAMS),
            ref=contact_id,
        )

    def _commit(self, cursor: datetime, phase: int) -> datetime:
        """Capacity check(s), a commitment to send a technician, and how it plays out; returns its due."""
        rng = self.rng
        technician = self._technician()
        # Leaves room for checks made up to an hour and a quarter before the commitment.
        committed_at = cursor + self._span(90 * MINUTE, 6 * HOUR)
        due = self._slot(committed_at + self._span(4 * HOUR, 3 * DAY))
        commitment_id = f"CMT-{self.number:07d}-{phase}"
        resource: str | None = technician.id
        window_start = due - self._quarters(0, 12)
        window_end = due + self._quarters(0, 12)
        check_at = committed_at - self._span(MINUTE, 15 * MINUTE)

        def check(
            at: datetime,
            confirmed: bool = True,
            resource_id: str | None = None,
            start: datetime = window_start,
            end: datetime = window_end,
            materials: list[dict[str, Any]] | None = None,
        ) -> str:
            return self.add(
                "capacity_check",
                at,
                self.agent,
                "system",
                resource=resource_id or technician.id,
                window={"start": start, "end": end},
                confirmed=confirmed,
                materials=materials,
            )

        capacity_ref: str | None = None
        defective = self._chance(self.rates[CAPACITY])
        late_check_at: datetime | None = None
        if not defective:
            way = rng.random()
            materials = None
            if way < 0.15:  # a part is on order but arrives in time
                eta = due if self._chance(0.3) else due - self._span(HOUR, 2 * DAY)
                materials = [
                    {"item": f"{self.problem[2]} gasket kit", "available": False, "eta": eta},
                    {"item": "sealant", "available": True},
                ]
            elif way < 0.3:  # first try: the preferred technician is not free
                check(check_at - self._span(MINUTE, HOUR), confirmed=False, resource_id=self._technician().id)
            elif way < 0.4:
                resource = None
            elif way < 0.45:
                check_at = committed_at
            good = check(check_at, materials=materials)
            if self._chance(0.5):
                capacity_ref = good
        else:
            way = rng.choice(("none", "unconfirmed", "after", "window", "resource", "material", "wrong_ref"))
            if way == "unconfirmed":
                check(check_at, confirmed=False)
            elif way == "after":
                late_check_at = committed_at + self._span(MINUTE, 90 * MINUTE)
            elif way == "window":
                if self._chance(0.5):
                    check(check_at, end=due - self._quarters(1, 8), start=due - self._quarters(9, 16))
                else:
                    check(check_at, start=due + self._quarters(1, 8), end=due + self._quarters(9, 16))
            elif way == "resource":  # a technician of another crew, never the one promised
                check(check_at, resource_id=f"tech-9{rng.randrange(100):02d}")
            elif way == "material":
                eta = due + self._span(timedelta(seconds=1), 5 * DAY) if self._chance(0.7) else None
                check(
                    check_at,
                    materials=[{"item": f"replacement {self.problem[2]}", "available": False, "eta": eta}],
                )
            elif way == "wrong_ref":
                check(check_at - self._span(2 * MINUTE, HOUR))
                capacity_ref = check(check_at, confirmed=False, resource_id=self._technician().id)
        record_id = self.add(
            "commitment",
            committed_at,
            self.agent,
            rng.choice(("phone", "email")),
            commitment_id=commitment_id,
            promise=f"Send {technician.name} to repair the {self.problem[2]}",
            due=due,
            resource=resource,
            capacity_ref=capacity_ref,
        )
        if late_check_at is not None:
            check(late_check_at)
        self.obligations.append(
            Obligation(CAPACITY, record_id, committed_at, committed_at, None if defective else committed_at)
        )
        return self._carry_out(record_id, commitment_id, committed_at, due, technician)

    def _quarters(self, low: int, high: int) -> timedelta:
        return 15 * MINUTE * self.rng.randint(low, high)

    def _carry_out(
        self, record_id: str, commitment_id: str, committed_at: datetime, due: datetime, technician: Actor
    ) -> datetime:
        """Reschedules, the visit (or not) and a concession; returns the effective due."""
        rng = self.rng
        missed_unconceded = self._chance(self.rates[CONCESSION])
        # 12% of all commitments are missed but made up for, whatever the violation rate.
        missed_conceded = not missed_unconceded and self._chance(0.12 / max(1e-9, 1 - self.rates[CONCESSION]))
        missed = missed_unconceded or missed_conceded
        latest = committed_at + 2 * MINUTE  # reschedules come after the commitment
        effective_due = due
        ignored_due: datetime | None = None  # offered, but not the due in force (refused, or too late)
        pattern = rng.random()
        changes = 1 if pattern < 0.18 else 2 if pattern < 0.23 else 0
        for _ in range(changes):  # agreed before the due in force: it replaces the due
            if effective_due - 30 * MINUTE <= latest + MINUTE:
                break
            changed_at = latest + self._span(MINUTE, min(20 * HOUR, effective_due - latest - 30 * MINUTE))
            new_due = self._slot(effective_due + self._span(3 * HOUR, 2 * DAY))
            self.add(
                "reschedule",
                changed_at,
                self.agent,
                "phone",
                text="Technician delayed by an emergency call.",
                commitment_id=commitment_id,
                new_due=new_due,
                customer_agreed=True,
            )
            latest, effective_due = changed_at, new_due
        if 0.23 <= pattern < 0.30 and effective_due - 30 * MINUTE > latest + MINUTE:  # the customer said no
            changed_at = latest + self._span(MINUTE, min(20 * HOUR, effective_due - latest - 30 * MINUTE))
            ignored_due = self._slot(effective_due + self._span(4 * HOUR, 2 * DAY))
            self.add(
                "reschedule",
                changed_at,
                self.agent,
                "phone",
                text="Proposed a later slot; customer refused.",
                commitment_id=commitment_id,
                new_due=ignored_due,
                customer_agreed=False,
            )
            latest = changed_at
        if missed and 0.30 <= pattern < 0.40:  # agreed only after the due had passed: too late to count
            changed_at = effective_due + self._span(10 * MINUTE, 12 * HOUR)
            ignored_due = self._slot(changed_at + self._span(4 * HOUR, 2 * DAY))
            self.add(
                "reschedule",
                changed_at,
                self.agent,
                "phone",
                text="Apologised for the missed visit.",
                commitment_id=commitment_id,
                new_due=ignored_due,
                customer_agreed=True,
            )
        visit: datetime | None
        if not missed:
            earliest = max(latest + MINUTE, effective_due - 5 * HOUR)
            visit = (
                effective_due
                if self._chance(0.1)
                else earliest + self._span(0 * MINUTE, effective_due - earliest)
            )
        elif ignored_due is not None and self._chance(0.6):
            visit = effective_due + self._span(timedelta(seconds=1), ignored_due - effective_due)
        elif self._chance(0.5):
            late = timedelta(seconds=1) if self._chance(0.15) else self._span(MINUTE, 30 * HOUR)
            visit = effective_due + late
        else:
            visit = None
        if visit is not None:
            self.add(
                "fulfillment",
                visit,
                technician,
                "in_person",
                text=f"Repaired the {self.problem[2]}.",
                commitment_id=commitment_id,
            )
        concession_by = effective_due + CONCEDE_WITHIN
        met_at: datetime | None = None
        if missed_conceded:
            way = rng.random()
            given = (
                effective_due
                if way < 0.1
                else concession_by
                if way < 0.2
                else effective_due + self._span(MINUTE, CONCEDE_WITHIN - MINUTE)
            )
            self._concede(given, commitment_id)
            met_at = given
        elif missed_unconceded:
            way = rng.random()
            if way < 0.25:
                late = timedelta(seconds=1) if self._chance(0.2) else self._span(MINUTE, 3 * DAY)
                self._concede(concession_by + late, commitment_id)
            elif way < 0.4:  # a goodwill gesture that names no commitment
                self._concede(effective_due + self._span(MINUTE, CONCEDE_WITHIN), None)
            elif way < 0.55 and effective_due - committed_at > 10 * MINUTE:  # offered before the miss
                self._concede(
                    effective_due
                    - self._span(MINUTE, min(6 * HOUR, effective_due - committed_at - 5 * MINUTE)),
                    commitment_id,
                )
        elif self._chance(0.04):
            self._concede(effective_due + self._span(HOUR, DAY), None)
        self.obligations.append(
            Obligation(
                CONCESSION, record_id, committed_at, effective_due if missed else None, met_at, concession_by
            )
        )
        return effective_due

    def _set_state(self, at: datetime, actor: Actor, state: str) -> str:
        record_id = self.add("status_change", at, actor, "system", to=state, **{"from": self.state})
        self.state = state
        return record_id

    def _concede(self, at: datetime, commitment_id: str | None) -> None:
        kind = self.rng.choice(CONCESSION_KINDS)
        amount = (
            None if kind in ("gesture", "free_service") else float(self.rng.choice((10, 15, 25, 40, 50, 80)))
        )
        self.add(
            "concession",
            at,
            self.supervisor
            if amount is not None and amount >= 40
            else self.agent,  # larger ones need approval
            self.rng.choice(("phone", "email")),
            text="Sorry for the missed visit.",
            commitment_id=commitment_id,
            kind=kind,
            amount=amount,
            currency=self.rng.choice(("EUR", "USD", "GBP")) if amount is not None else None,
        )

    def _close_loop(self, cursor: datetime) -> bool:
        """Resolution, asking the customer, and perhaps a close; returns whether the case was closed."""
        rng = self.rng
        at = cursor + self._span(30 * MINUTE, 8 * HOUR)
        self.add(
            "resolution", at, self.agent, "system", summary=f"Technician repaired the {self.problem[2]}."
        )
        if self._chance(0.7):
            at += self._span(MINUTE, 30 * MINUTE)
            self._set_state(at, self.system, "solved")
        elif self._chance(0.2):
            at += self._span(MINUTE, 30 * MINUTE)
            self._set_state(at, self.agent, "on_hold")
        at += self._span(30 * MINUTE, DAY)
        self.add(
            "contact",
            at,
            self.agent,
            rng.choice(("phone", "email", "sms")),
            direction="outbound",
            summary="Asked the customer whether the repair holds.",
        )

        def answer(resolved: bool) -> None:
            nonlocal at
            at += self._span(MINUTE, 6 * HOUR)
            self.add(
                "confirmation",
                at,
                self.customer,
                rng.choice(("email", "phone", "sms", "web")),
                text="Yes, all fixed, thank you." if resolved else "No, it is still not working.",
                resolved=resolved,
            )

        if not self._chance(0.85):
            if self._chance(0.5):
                answer(True)
            return False
        violation = self._chance(self.rates[CLOSE])
        late_answer = False
        if not violation:
            if self._chance(0.15):
                answer(False)
                at += self._span(HOUR, DAY)
                self.add("note", at, self.agent, text="Second adjustment done on site.")
            answer(True)
        else:
            way = rng.choice(("silent", "disputed", "changed_mind", "late_answer"))
            if way == "disputed":
                answer(False)
            elif way == "changed_mind":
                answer(True)
                answer(False)
            late_answer = way == "late_answer"
        at += self._span(MINUTE, DAY)
        closed_at = at
        close_id = self._set_state(closed_at, rng.choice((self.agent, self.system)), "closed")
        if late_answer:
            answer(True)
        self.obligations.append(
            Obligation(CLOSE, close_id, closed_at, closed_at, None if violation else closed_at)
        )
        return True

    def _reopen(self, cursor: datetime) -> None:
        """The problem comes back: a new contact, a reopen, maybe a second visit, another close."""
        contact_at = cursor + self._span(6 * HOUR, 5 * DAY)
        self._contact(
            contact_at,
            f"It is happening again: {self.problem[1][0].lower()}{self.problem[1][1:]}",
            earliest_escalation=contact_at,
        )
        self._set_state(contact_at + self._span(MINUTE, 20 * MINUTE), self.agent, "reopened")
        cursor = self.latest()
        if self._chance(0.6):
            due = self._commit(cursor, phase=2)
            cursor = max(self.latest(), due)
        self._close_loop(cursor)
