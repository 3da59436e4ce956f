"""The 2,008 conversations of ABCD's flat dev and test splits, linted with the pack.

The guidelines' steps are computed again here in plain Python, straight from the flat files (split
the text into lines, name each ``ACT:`` line's button by its wording, look for the required buttons
before each concluding one), with no serviceflow code. serviceflow's findings must be exactly the
violations found here, and so the compliance rate of every subflow must agree. The files live in
``../shared/data/real`` beside the repository; the test skips where they are absent.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from abcd_cli import run, violations

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "data" / "real" / "abcd-action-based-conversations"
SPLITS = {
    "dev": CORPUS / "abcd_dev_conversations_flat.json.gz",
    "test": CORPUS / "abcd_test_conversations_flat.json.gz",
}
pytestmark = pytest.mark.skipif(
    not all(path.is_file() for path in SPLITS.values()), reason=f"needs the ABCD flat files in {CORPUS}"
)

#: The system's answer to each button, by its first words (lower case, single spaces).
BUTTONS = [
    ("account has been pulled up for", "pull-up-account"),
    ("account has been updated with", "update-account"),
    ("identity verification in progress", "verify-identity"),
    ("identity verification in progess", "verify-identity"),
    ("purchase validation in progress", "validate-purchase"),
    ("a password has been generated", "make-password"),
    ("details of", "enter-details"),
    ("searching the faq pages", "search-faq"),
    ("faq answer related to", "select-faq"),
    ("membership level of", "membership"),
    ("querying the system for an answer", "ask-the-oracle"),
    ("querying the system for subscription status", "subscription-status"),
    ("order has been updated with", "update-order"),
    ("a promo code has been created", "promo-code"),
    ("a purchase of", "make-purchase"),
    ("a refund has been made", "offer-refund"),
    ("a reason of", "record-reason"),
    ("shipping status of", "shipping-status"),
    ("a link will be sent", "send-link"),
    ("agent is looking for solutions", "try-again, log-out-in or instructions"),
]
SHIPPED = re.compile(r"^\W*(in\s*transit|transit|out\s*for\s*delivery|delivered)\W*$", re.IGNORECASE)
LOW_LEVEL = re.compile(r"^\W*(bronze|guest)\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    """What the guidelines require of a group of subflows: before each concluding action, the steps."""

    subflows: tuple[str, ...]
    concluding: tuple[str, ...]
    steps: tuple[str, ...]
    also: str = ""


#: The guidelines, as read for this test (docs/importers.md and the pack's README say why each).
RULES = {
    "abcd-initiate-refund": Rule(
        ("refund_initiate",),
        ("offer-refund",),
        ("pull-up-account", "validate-purchase", "record-reason", "enter-details"),
    ),
    "abcd-update-refund": Rule(
        ("refund_update",), ("offer-refund",), ("pull-up-account", "validate-purchase", "record-reason")
    ),
    "abcd-refund-status": Rule(
        ("refund_status",), ("notify-team", "update-order"), ("pull-up-account", "validate-purchase")
    ),
    "abcd-return": Rule(
        ("return_stain", "return_color", "return_size"),
        ("update-order",),
        ("pull-up-account", "validate-purchase", "membership", "enter-details"),
    ),
    "abcd-order-fee-or-delivery-time": Rule(
        ("status_mystery_fee", "status_delivery_time"),
        ("update-order",),
        ("pull-up-account", "verify-identity", "ask-the-oracle"),
    ),
    "abcd-order-payment-method": Rule(
        ("status_payment_method",),
        ("update-order",),
        ("pull-up-account", "verify-identity", "shipping-status"),
    ),
    "abcd-order-quantity": Rule(
        ("status_quantity",),
        ("offer-refund",),
        ("pull-up-account", "verify-identity", "ask-the-oracle", "shipping-status"),
    ),
    "abcd-shipping-speed": Rule(
        ("manage_upgrade", "manage_downgrade"),
        ("update-order", "offer-refund"),
        ("pull-up-account", "verify-identity", "shipping-status", "membership"),
    ),
    "abcd-add-item": Rule(
        ("manage_create",),
        ("make-purchase",),
        ("pull-up-account", "verify-identity", "shipping-status"),
        "membership once shipped",
    ),
    "abcd-cancel-item": Rule(
        ("manage_cancel",),
        ("offer-refund",),
        ("pull-up-account", "verify-identity", "shipping-status"),
        "membership once shipped",
    ),
    "abcd-recover-username": Rule(("recover_username",), ("verify-identity",), ("pull-up-account",)),
    "abcd-recover-password": Rule(
        ("recover_password",), ("make-password",), ("pull-up-account", "enter-details")
    ),
    "abcd-reset-two-factor": Rule(("reset_2fa",), ("send-link",), ("pull-up-account", "enter-details")),
    "abcd-service-added-or-removed": Rule(
        ("status_service_added", "status_service_removed"),
        ("update-account", "offer-refund"),
        ("pull-up-account", "record-reason", "ask-the-oracle"),
    ),
    "abcd-shipping-question": Rule(
        ("status_shipping_question",), ("send-link",), ("pull-up-account", "ask-the-oracle")
    ),
    "abcd-credit-missing": Rule(
        ("status_credit_missing",), ("promo-code",), ("pull-up-account", "record-reason", "ask-the-oracle")
    ),
    "abcd-profile-change": Rule(
        ("manage_change_address", "manage_change_name", "manage_change_phone", "manage_payment_method"),
        ("update-account",),
        ("pull-up-account", "record-reason", "verify-identity"),
    ),
    "abcd-bad-price": Rule(
        ("bad_price_competitor", "bad_price_yesterday"),
        ("promo-code",),
        ("pull-up-account", "record-reason", "verify-identity"),
    ),
    "abcd-out-of-stock-general": Rule(
        ("out_of_stock_general",), ("promo-code",), ("pull-up-account", "notify-team")
    ),
    "abcd-out-of-stock-one-item": Rule(
        ("out_of_stock_one_item",), ("make-purchase",), ("pull-up-account", "record-reason", "notify-team")
    ),
    "abcd-promo-code-invalid": Rule(
        ("promo_code_invalid", "promo_code_out_of_date"),
        ("promo-code",),
        ("pull-up-account", "ask-the-oracle"),
    ),
    "abcd-billing-already-returned": Rule(
        ("mistimed_billing_already_returned",),
        ("update-order",),
        ("pull-up-account", "validate-purchase", "record-reason"),
        "membership under 7 days",
    ),
    "abcd-billing-never-bought": Rule(
        ("mistimed_billing_never_bought",),
        ("update-order",),
        ("pull-up-account", "validate-purchase", "ask-the-oracle"),
    ),
    "abcd-shipping-status": Rule(
        ("status",),
        ("update-order",),
        ("pull-up-account", "verify-identity", "validate-purchase", "ask-the-oracle"),
    ),
    "abcd-shipping-change": Rule(
        ("manage",), ("update-order",), ("pull-up-account", "shipping-status", "validate-purchase")
    ),
    "abcd-missing-item": Rule(
        ("missing",),
        ("update-order", "make-purchase"),
        ("pull-up-account", "validate-purchase", "record-reason"),
        "update-order before a purchase",
    ),
    "abcd-shipping-cost": Rule(
        ("cost",),
        ("update-order", "offer-refund"),
        ("pull-up-account", "validate-purchase", "shipping-status"),
    ),
    "abcd-subscription-status": Rule(
        ("status_active", "status_due_amount", "status_due_date"),
        ("send-link",),
        ("pull-up-account", "verify-identity", "subscription-status"),
    ),
    "abcd-pay-bill": Rule(
        ("manage_pay_bill",), ("update-account",), ("pull-up-account", "verify-identity", "enter-details")
    ),
    "abcd-extension": Rule(
        ("manage_extension",),
        ("update-account", "notify-team"),
        ("pull-up-account", "verify-identity", "membership"),
        "enter-details before the manager",
    ),
    "abcd-dispute-bill": Rule(
        ("manage_dispute_bill",),
        ("offer-refund",),
        ("pull-up-account", "verify-identity", "membership"),
        "oracle for bronze or guest",
    ),
    "abcd-faq-answer": Rule(
        ("boots", "shirt", "jeans", "jacket", "pricing", "membership", "timing", "policy"),
        ("select-faq",),
        ("search-faq",),
        "the subflow's topic",
    ),
}


@dataclass(frozen=True)
class Action:
    line: int
    button: str
    typed: str


def button_of(text: str) -> tuple[str, str]:
    """(button, what was typed into it) of an ACT: line."""
    words = " ".join(text.split())
    lower = words.lower()
    if lower.startswith("system action: search "):
        topic = lower.split()[3]
        return f"search-{topic}", topic
    if lower.startswith("the ") and lower.endswith("has been notified."):
        return "notify-team", words[4 : -len("has been notified.")].strip()
    for start, button in BUTTONS:
        if lower.startswith(start):
            typed = words[len(start) :]
            typed = re.sub(
                r"\s*(has been noted|has been recorded|have been entered|was made|was selected)\.?$",
                "",
                typed,
            )
            return button, typed.strip().rstrip(".").strip()
    raise AssertionError(f"an ACT: line this test does not know: {text!r}")


def label_subflow(label: str) -> str:
    match = re.fullmatch(
        r"(boots|shirt|jeans|jacket)_(?:how|other)_\d+|(pricing|membership|timing|policy)_\d+", label
    )
    return (match.group(1) or match.group(2)) if match else label


def conversations() -> list[tuple[str, str, list[Action]]]:
    """(case id, subflow, actions) of every conversation; lines numbered as the docs say."""
    found = []
    for split, path in SPLITS.items():
        with gzip.open(path, "rt", encoding="utf-8") as stream:
            for number, (text, label) in enumerate(json.load(stream), start=1):
                lines = [part.strip() for part in text.split("\n\n") if part.strip()]
                actions = [
                    Action(line, *button_of(part[4:]))
                    for line, part in enumerate(lines, 1)
                    if part.startswith("ACT:")
                ]
                found.append((f"{split}-{number}", label_subflow(label), actions))
    return found


def first_number(text: str) -> float | None:
    match = re.search(r"(?<![\d.])\d+(?:\.\d+)?", text)
    return float(match.group()) if match else None


def needed(rule: Rule, subflow: str, subject: Action, before: list[Action]) -> set[str]:
    """The buttons ``subject`` needs before it, its conditional ones included."""
    steps = set(rule.steps)
    last = {action.button: action for action in before}  # the latest of each button before the subject
    if rule.also == "membership once shipped" and "shipping-status" in last:
        if SHIPPED.match(last["shipping-status"].typed):
            steps.add("membership")
    elif rule.also == "membership under 7 days" and "record-reason" in last:
        days = first_number(last["record-reason"].typed)
        if days is not None and days < 7:
            steps.add("membership")
    elif rule.also == "update-order before a purchase" and subject.button == "make-purchase":
        steps.add("update-order")
    elif rule.also == "enter-details before the manager" and subject.button == "notify-team":
        steps.add("enter-details")
    elif rule.also == "oracle for bronze or guest" and "membership" in last:
        if LOW_LEVEL.match(last["membership"].typed):
            steps.add("ask-the-oracle")
    elif rule.also == "the subflow's topic":
        steps.add(f"search-{subflow}")
    return steps


def independent_violations() -> tuple[dict[str, set[tuple[str, str]]], dict[str, set[str]]]:
    """Per policy, the (case, record) of each concluding action lacking a step; per subflow, the cases
    that reached a concluding action."""
    violations: dict[str, set[tuple[str, str]]] = defaultdict(set)
    concluded: dict[str, set[str]] = defaultdict(set)
    for case, subflow, actions in conversations():
        for policy, rule in RULES.items():
            if subflow not in rule.subflows:
                continue
            for position, action in enumerate(actions):
                if action.button not in rule.concluding:
                    continue
                concluded[subflow].add(case)
                before = actions[:position]
                if needed(rule, subflow, action, before) - {earlier.button for earlier in before}:
                    violations[policy].add((case, f"{case}-{action.line}"))
    return violations, concluded


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = run(
        tmp_path_factory.mktemp("abcd"), "lint", *map(str, SPLITS.values()), "--input-format", "abcd",
        "--now", "2000-01-02T00:00:00Z", "--format", "json", "--fail-on", "never",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_conversation_is_read_and_every_record_is_valid_with_the_pack(report: dict[str, Any]) -> None:
    assert report["errors"] == []
    assert (report["summary"]["cases"], report["summary"]["invalid_records"]) == (2_008, 0)
    assert report["summary"]["engine_errors"] == 0


def test_the_findings_are_exactly_the_violations_computed_from_the_flat_files(report: dict[str, Any]) -> None:
    expected, _ = independent_violations()
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for finding in violations(report):
        assert finding["status"] == "violation"
        found[finding["policy"]].add((finding["case_id"], finding["record_id"]))
    assert dict(found) == dict(expected)
    assert report["summary"]["by_policy"] == {policy: len(cases) for policy, cases in expected.items()}


def test_the_compliance_rate_of_each_subflow_agrees(report: dict[str, Any]) -> None:
    """Of the conversations of a subflow that reached a concluding action, the share without a finding."""
    expected, concluded = independent_violations()
    failing_here = {case for cases in expected.values() for case, _ in cases}
    failing_sf = {finding["case_id"] for finding in violations(report)}
    ours = {subflow: (len(cases), len(cases - failing_here)) for subflow, cases in concluded.items()}
    serviceflow = {subflow: (len(cases), len(cases - failing_sf)) for subflow, cases in concluded.items()}
    assert serviceflow == ours
    judged = {subflow for rule in RULES.values() for subflow in rule.subflows}
    assert set(concluded) == judged - {"status_active"}, "status_active's chats are labelled status_questions"
