"""The order a policy is evaluated in, per subject, on every evaluator (docs/policy-language.md, Meaning).

Lets ``when`` does not need are computed only once ``when`` holds (:func:`serviceflow.policy.ir.
deferred_lets`), and queries bounded by ``after``/``before`` a record start (or stop) at it. Both are
there for speed on long cases; these tests pin down that they change nothing a user can see, except
the documented one: a let ``when`` does not need is not computed (so cannot fail) for a subject
``when`` turns away. Each runs on the generated functions, on the traced closures (``explain``'s
evaluator) and on durable-rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from serviceflow.errors import Location
from serviceflow.evaluators.base import CaseFindings
from serviceflow.evaluators.native import NativeEvaluator
from serviceflow.explain.trace import TraceRecorder
from serviceflow.findings import Status
from serviceflow.policy import ir, parse_policy
from serviceflow.policy.yamlsource import parse_yaml
from serviceflow.records.model import Record
from serviceflow.records.validate import RecordValidator
from support import durable_available

NOW = datetime(2024, 5, 2, tzinfo=UTC)

Evaluate = Callable[[list[ir.CompiledPolicy], list[Record]], CaseFindings]


def compiled(text: str) -> ir.CompiledPolicy:
    return parse_policy(parse_yaml(text, "order.yaml")).bind()


def records(*items: dict[str, Any]) -> list[Record]:
    """Validated records of case ``c1`` (notes unless a type is given), in the order given."""
    validator = RecordValidator()
    defaults = {"case_id": "c1", "actor": {"role": "agent", "id": "a1"}, "type": "note"}
    out = []
    for seq, item in enumerate(items):
        data = {**defaults, **item}
        if data["type"] == "note":
            data.setdefault("text", "x")
        out.append(validator.to_record(data, Location("<case>", seq + 1), seq))
    return out


def _evaluators() -> Iterator[Any]:
    yield pytest.param("generated", id="generated")
    yield pytest.param("traced", id="traced")
    yield pytest.param(
        "durable",
        id="durable",
        marks=[
            pytest.mark.durable,
            pytest.mark.skipif(not durable_available(), reason="durable-rules missing"),
        ],
    )


@pytest.fixture(params=list(_evaluators()))
def evaluate(request: pytest.FixtureRequest) -> Iterator[Evaluate]:
    opened: list[Any] = []

    def run(policies: list[ir.CompiledPolicy], case: list[Record]) -> CaseFindings:
        if request.param == "generated":
            evaluator: Any = NativeEvaluator(policies)
        elif request.param == "traced":
            evaluator = NativeEvaluator(policies, tracer=TraceRecorder(policies))
        else:
            from serviceflow.evaluators.durable import DurableEvaluator

            evaluator = DurableEvaluator(policies)
            opened.append(evaluator)
        return evaluator.evaluate_case("c1", case, NOW)  # type: ignore[no-any-return]

    yield run
    for evaluator in opened:
        evaluator.close()


FLAGGED_SUM = """
id: flagged-sum
title: t
severity: error
rationale: r
for_each: {type: note}
let:
  total: {add: [$subject.meta.amount, 1]}
when:
  eq: [$subject.meta.flagged, true]
require:
  lt: [$total, 10]
message: "{subject.id}: total {total}"
"""


def test_a_let_when_does_not_need_is_computed_only_for_subjects_it_admits(evaluate: Evaluate) -> None:
    policy = compiled(FLAGGED_SUM)
    assert ir.deferred_lets(policy) == {"total"}
    case = records(
        {"id": "n1", "at": "2024-05-01T09:00:00+00:00", "meta": {"flagged": False, "amount": "text"}},
        {"id": "n2", "at": "2024-05-01T10:00:00+00:00", "meta": {"flagged": True, "amount": "text"}},
        {"id": "n3", "at": "2024-05-01T11:00:00+00:00", "meta": {"flagged": True, "amount": 20}},
    )
    findings = evaluate([policy], case).findings
    # n1: turned away by when, its bad amount never added; n2: admitted, the bad amount is an error.
    assert [(f.record_id, f.status) for f in findings] == [("n2", Status.ERROR), ("n3", Status.VIOLATION)]
    assert findings[1].message == "n3: total 21"


def test_a_let_when_reads_is_computed_before_it(evaluate: Evaluate) -> None:
    policy = compiled(FLAGGED_SUM.replace("eq: [$subject.meta.flagged, true]", "gt: [$total, 0]"))
    assert ir.deferred_lets(policy) == frozenset()
    case = records({"id": "n1", "at": "2024-05-01T09:00:00+00:00", "meta": {"amount": "text"}})
    assert [f.status for f in evaluate([policy], case).findings] == [Status.ERROR]


def test_a_let_another_needed_let_reads_stays_first() -> None:
    policy = compiled(
        FLAGGED_SUM.replace(
            "  total: {add: [$subject.meta.amount, 1]}\n",
            "  total: {add: [$subject.meta.amount, 1]}\n  double: {add: [$total, $total]}\n  spare: 1\n",
        ).replace("eq: [$subject.meta.flagged, true]", "gt: [$double, 0]")
    )
    assert ir.deferred_lets(policy) == {"spare"}


AFTER_SUBJECT = """
id: answered
title: t
severity: error
rationale: r
for_each: {type: contact, where: {eq: [$it.direction, inbound]}}
require:
  exists:
    type: contact
    as: reply
    where:
      - after: [$reply, $subject]
      - eq: [$reply.direction, outbound]
message: "{subject.id} unanswered"
"""

LAST_BEFORE = """
id: last-before
title: t
severity: error
rationale: r
for_each: {type: contact, where: {eq: [$it.direction, outbound]}}
let:
  previous:
    latest:
      type: contact
      where:
        - before: [$it, $subject]
        - eq: [$it.direction, inbound]
require:
  present: $previous
message: "{subject.id} answers nothing"
"""


def _contacts(directions: str) -> list[Record]:
    return records(
        *(
            {
                "id": f"k{index}",
                "type": "contact",
                "at": f"2024-05-01T{9 + index // 60:02d}:{index % 60:02d}:00+00:00",
                "channel": "email",
                "direction": "inbound" if direction == "i" else "outbound",
            }
            for index, direction in enumerate(directions)
        )
    )


@pytest.mark.parametrize("directions", ["", "i", "o", "io", "oi", "iio", "ioi", "oio", "iiooiio", "oooiii"])
def test_queries_bounded_by_a_record_find_what_a_full_scan_finds(evaluate: Evaluate, directions: str) -> None:
    """Every pattern of inbound and outbound contacts: the same findings and evidence as by hand."""
    case = _contacts(directions)
    findings = evaluate([compiled(AFTER_SUBJECT), compiled(LAST_BEFORE)], case).findings
    expected = []
    for index, direction in enumerate(directions):
        if direction == "i" and "o" not in directions[index + 1 :]:
            expected.append(("answered", f"k{index}", (f"k{index}",)))
    for index, direction in enumerate(directions):
        if direction == "o" and "i" not in directions[:index]:
            expected.append(("last-before", f"k{index}", (f"k{index}",)))
    got = [(f.policy, f.record_id, f.evidence) for f in findings]
    assert sorted(got) == sorted(expected)
