"""``abcd``: the Action-Based Conversations Dataset's agent chats and their actions to records.

The mapping is tested on conversations written here in the corpus's two layouts. The real files
(``../shared/data/real``) are read when present: the counts of the README, recomputed from the
records, must agree. The policies that judge these records are the serviceflow-abcd pack's
(plugins/serviceflow-abcd), which also declares the ``verification`` record type.
"""

from __future__ import annotations

import gzip
import io
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from serviceflow.cli import main
from serviceflow.errors import InputError
from serviceflow.importers.abcd import AbcdConversations, action_of, expand_sources, reader, subflow_of
from serviceflow.plugin import hookimpl
from serviceflow.records import RawItem, RecordValidator

REAL = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "real"
    / "abcd-action-based-conversations"
)
FLAT_FILES = [REAL / "abcd_dev_conversations_flat.json.gz", REAL / "abcd_test_conversations_flat.json.gz"]
needs_corpus = pytest.mark.skipif(
    not all(path.is_file() for path in FLAT_FILES), reason=f"needs the ABCD flat files in {REAL}"
)
SHIM = """\
from serviceflow.importers.abcd import reader
from serviceflow.plugin import hookimpl


@hookimpl
def serviceflow_readers():
    return [reader()]
"""

REFUND = "\n\n".join(
    [
        "SYS:Hello, how can I help?",
        "USR:I want a refund for my jeans",
        "ACT:Account has been pulled up for Joseph Banter.",
        "ACT:Purchase validation in progress ...",
        "ACT:A reason of credit card has been recorded.",
        "ACT:A refund has been made for the amount of $94.",
        "SYS:Done! Anything else?",
    ]
)


def write(tmp_path: Path, conversations: Any, name: str = "abcd_mine_conversations_flat.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(conversations), encoding="utf-8")
    return path


def read(*paths: Path) -> list[RawItem]:
    return list(AbcdConversations()(list(paths)))


def data(items: list[RawItem]) -> list[dict[str, Any]]:
    assert [str(item.error) for item in items if item.error is not None] == []
    return [item.data for item in items]


def errors(items: list[RawItem]) -> list[str]:
    return [str(item.error) for item in items if item.error is not None]


# --- the mapping ---------------------------------------------------------------------------------


def test_a_conversation_is_a_case_and_each_line_a_record_one_second_after_the_last(tmp_path: Path) -> None:
    made = data(read(write(tmp_path, [[REFUND, "refund_initiate"]])))
    assert [(item["id"], item["type"], item["at"]) for item in made] == [
        ("mine-1-opened", "case_opened", "2000-01-01T00:00:00Z"),
        ("mine-1-1", "contact", "2000-01-01T00:00:01Z"),
        ("mine-1-2", "contact", "2000-01-01T00:00:02Z"),
        ("mine-1-3", "note", "2000-01-01T00:00:03Z"),
        ("mine-1-4", "verification", "2000-01-01T00:00:04Z"),
        ("mine-1-5", "note", "2000-01-01T00:00:05Z"),
        ("mine-1-6", "concession", "2000-01-01T00:00:06Z"),
        ("mine-1-7", "contact", "2000-01-01T00:00:07Z"),
    ]
    opened, agent, customer = made[:3]
    assert (opened["subject"], opened["channel"], opened["meta"]) == (
        "refund_initiate",
        "chat",
        {
            "label": "refund_initiate",
            "conversation": 1,
            "subflow": "refund_initiate",
            "flow": "product_defect",
        },
    )
    assert (agent["direction"], agent["actor"], agent["channel"]) == (
        "outbound",
        {"role": "agent", "id": "agent"},
        "chat",
    )
    assert (customer["direction"], customer["actor"]["role"], customer["text"]) == (
        "inbound",
        "customer",
        "I want a refund for my jeans",
    )
    assert all("customer_id" not in item for item in made), "customers are not known across chats"
    assert made[6]["source"] == {"system": "abcd", "ref": "mine-1/6"}


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            "A refund has been made for the amount of $94.",
            {"type": "concession", "kind": "refund", "amount": 94},
        ),
        (
            "A refund has been made for the amount of $$8.50.",
            {"type": "concession", "kind": "refund", "amount": 8.5},
        ),
        ("A refund has been made for the amount of $.", {"type": "concession", "kind": "refund"}),
        ("A promo code has been created.", {"type": "concession", "kind": "discount"}),
        ("The manager has been notified.", {"type": "escalation", "to": "manager"}),
        (
            "The Purchasing  Department has been notified.",
            {"type": "escalation", "to": "purchasing department"},
        ),
        ("The  has been notified.", {"type": "escalation", "to": "internal team"}),
        ("Identity verification in progess ...", {"type": "verification", "kind": "identity"}),
        ("Purchase validation in progress ...", {"type": "verification", "kind": "purchase"}),
        (
            "Order has been updated with By Mail.",
            {"type": "note", "meta": {"action": "update-order", "value": "By Mail"}},
        ),
        ("Membership level of  has been noted.", {"type": "note", "meta": {"action": "membership"}}),
        (
            "System Action: search jeans",
            {"type": "note", "meta": {"action": "search-jeans", "value": "jeans"}},
        ),
        (
            "Agent is looking for solutions ...",
            {"type": "note", "meta": {"actions": ["try-again", "log-out-in", "instructions"]}},
        ),
        ("The printer is on fire.", {"type": "note", "meta": {"unrecognised": True}}),
    ],
)
def test_an_action_line_becomes_the_record_its_button_stands_for(
    tmp_path: Path, text: str, fields: dict[str, Any]
) -> None:
    *_, action = data(read(write(tmp_path, [[f"USR:hi\n\nACT:{text}", "refund_status"]])))
    assert {key: action.get(key) for key in fields} == fields
    assert (action["actor"], action["text"]) == ({"role": "agent", "id": "agent"}, text)
    if action["type"] == "concession" and action["kind"] == "refund":
        assert action["currency"] == "USD"
    if action["type"] == "escalation":
        assert action["reason"] == "refund_status", "the chat's label says what was escalated"


def test_every_button_of_the_ontology_is_recognised_by_its_text() -> None:
    texts = {
        "pull-up-account": "Account has been pulled up for Crystal Minh.",
        "update-account": "Account has been updated with extend subscription.",
        "make-password": "A password has been generated.",
        "enter-details": "Details of (977) 625-2661 have been entered.",
        "search-faq": "Searching the FAQ pages ...",
        "select-faq": "FAQ answer related to timing (question4) was selected.",
        "ask-the-oracle": "Querying the system for an answer ...",
        "subscription-status": "Querying the system for subscription status ...",
        "make-purchase": "A purchase of Guess Boots was made.",
        "record-reason": "A reason of competitor has been recorded.",
        "shipping-status": "Shipping status of In Transit has been noted.",
        "send-link": "A link will be sent.",
    }
    assert {button: action_of(text).button for button, text in texts.items()} == {b: b for b in texts}
    assert action_of("System Action: search unicorns") is None


@pytest.mark.parametrize(
    ("label", "subflow"),
    [
        ("timing_4", "timing"),
        ("boots_how_3", "boots"),
        ("jacket_other_1", "jacket"),
        ("manage", "manage"),
        ("status_questions", None),
        ("timing", "timing"),
        ("refund_initiate_2", None),
    ],
)
def test_the_flat_files_labels_name_their_subflow(label: str, subflow: str | None) -> None:
    assert subflow_of(label) == subflow


def test_a_label_that_is_no_subflow_is_kept_and_names_none(tmp_path: Path) -> None:
    opened = data(read(write(tmp_path, [["USR:hi", "status_questions"]])))[0]
    assert opened["meta"] == {"label": "status_questions", "conversation": 1}


def test_the_full_format_gives_case_ids_subflows_and_the_buttons_themselves(tmp_path: Path) -> None:
    conversation = {
        "convo_id": 4711,
        "scenario": {"flow": "troubleshoot_site", "subflow": "slow_speed"},
        "original": [
            ["customer", "The site is so slow"],
            ["action", "Agent is looking for solutions ..."],
            ["agent", "Please log out and in again"],
        ],
        "delexed": [
            {"speaker": "customer", "targets": ["slow_speed", None, None, [], -1]},
            {"speaker": "action", "targets": ["slow_speed", "take_action", "log-out-in", [], -1]},
            {"speaker": "agent", "targets": ["slow_speed", "retrieve_utterance", None, [], 3]},
        ],
    }
    opened, question, action, answer = data(read(write(tmp_path, [conversation], name="abcd_sample.json")))
    assert (opened["id"], opened["meta"]["subflow"], opened["meta"]["flow"]) == (
        "abcd-4711-opened",
        "slow_speed",
        "troubleshoot_site",
    )
    assert (question["direction"], answer["direction"]) == ("inbound", "outbound")
    assert (action["id"], action["type"], action["meta"]) == ("abcd-4711-2", "note", {"action": "log-out-in"})


# --- hostile input -------------------------------------------------------------------------------


def test_a_broken_conversation_is_reported_and_the_ones_around_it_are_read(tmp_path: Path) -> None:
    path = tmp_path / "abcd_mine_conversations_flat.json"
    good = json.dumps(["USR:hi", "recover_username"])
    path.write_text(f'[\n{good},\n["USR:hello", recover_password],\n{good}\n]\n')
    items = read(path)
    assert errors(items) == [f"{path}:3: /1: conversation 2 is not JSON: Expecting value (column 15)"]
    assert [item.data["case_id"] for item in items if item.data and item.data["type"] == "case_opened"] == [
        "mine-1",
        "mine-3",
    ]
    assert items[-1].origin.line == 4


@pytest.mark.parametrize(
    ("element", "message"),
    [
        ({"text": "USR:hi"}, "conversation 1: expected [text, label] or an object with 'original'"),
        (["USR:hi"], "conversation 1: expected [text, label] or an object with 'original'"),
        (["USR:hi", 3], "conversation 1: expected [text, label] or an object with 'original'"),
    ],
)
def test_a_conversation_of_the_wrong_shape_is_reported(tmp_path: Path, element: Any, message: str) -> None:
    path = write(tmp_path, [element, ["USR:hi", "timing_1"]])
    items = read(path)
    assert errors(items) == [f"{path}:1: /0: {message}"]
    assert next(item.data["case_id"] for item in items if item.data) == "mine-2"


def test_a_line_without_a_speaker_is_reported_and_the_other_lines_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, [["USR:hi\n\nhello there\n\nSYS:How can I help?", "timing_1"]])
    items = read(path)
    assert errors(items) == [
        f"{path}:1: /0/0: conversation 1, line 2: no USR:, SYS: or ACT: prefix: 'hello there'"
    ]
    assert [item.data["id"] for item in items if item.data] == ["mine-1-opened", "mine-1-1", "mine-1-3"]


def test_a_turn_of_the_full_format_that_is_not_speaker_and_text_is_reported(tmp_path: Path) -> None:
    conversation = {"convo_id": 1, "original": [["customer", "hi"], ["robot", "beep"], ["agent", "hello"]]}
    path = write(tmp_path, [conversation], name="abcd_sample.json")
    items = read(path)
    assert errors(items) == [f"{path}:1: /0/original/1: a turn is [speaker, text]"]
    assert [item.data["id"] for item in items if item.data] == ["abcd-1-opened", "abcd-1-1", "abcd-1-3"]


def test_a_file_cut_short_keeps_what_it_holds_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "abcd_mine_conversations_flat.json"
    path.write_text(json.dumps([["USR:hi", "timing_1"], ["USR:bye", "timing_2"]])[:-1])
    items = read(path)
    assert errors(items) == [f"{path}:1: /: the array is not closed: the file may be cut short"]
    assert len([item for item in items if item.data and item.data["type"] == "case_opened"]) == 2


def test_text_after_the_array_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "abcd_mine_conversations_flat.json"
    path.write_text(json.dumps([["USR:hi", "timing_1"]]) + "\n\ngarbage\n")
    assert errors(read(path)) == [f"{path}:3: /: text after the end of the array"]


def test_a_conversation_that_is_not_utf8_is_reported_and_the_others_are_read(tmp_path: Path) -> None:
    path = tmp_path / "abcd_mine_conversations_flat.json"
    path.write_bytes(b'[["USR:caf\xe9", "timing_1"], ["USR:hi", "timing_2"]]')
    items = read(path)
    assert errors(items) == [f"{path}:1: /0: conversation 1 is not UTF-8 (invalid continuation byte)"]
    assert next(item.data["case_id"] for item in items if item.data) == "mine-2"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty: expected a JSON array of conversations"),
        (b'{"convo_id": 1}', "is not a JSON array of conversations"),
        (b"\x1f\x8b\x08\x00broken", "cannot read"),
    ],
)
def test_a_file_that_is_no_array_of_conversations_cannot_be_read(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "abcd_mine_conversations_flat.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read(path)


def test_gzip_from_stdin_is_read(tmp_path: Path) -> None:
    raw = gzip.compress(json.dumps([["USR:hi", "timing_1"]]).encode())
    items = list(AbcdConversations()(["-"], io.BytesIO(raw)))
    assert [item.data["id"] for item in items] == ["stdin-1-opened", "stdin-1-1"]
    assert items[0].origin.file == "<stdin>"


def test_a_directory_stands_for_its_conversation_files_not_the_guidelines(tmp_path: Path) -> None:
    for name in ("guidelines.json", "kb.json", "ontology.json", "abcd_sample.json"):
        (tmp_path / name).write_text("{}")
    dev = write(tmp_path, [], name="abcd_dev_conversations_flat.json.gz")
    test = write(tmp_path, [], name="abcd_test_conversations_flat.json")
    assert expand_sources([tmp_path]) == [dev, test]


def test_the_reader_is_the_abcd_input_format_of_a_plugin(serviceflow_plugin, tmp_path: Path) -> None:
    class Corpus:
        @hookimpl
        def serviceflow_readers(self) -> list:
            return [reader()]

    path = write(tmp_path, [["USR:hi", "timing_1"]])
    with serviceflow_plugin(Corpus(), "corpus") as host:
        spec = host.readers["abcd"]
        assert spec.expand([tmp_path]) == [path]
        assert [item.data["id"] for item in spec.read([path], None)] == ["mine-1-opened", "mine-1-1"]


def test_validate_accepts_every_record_but_verifications_unless_the_pack_declares_them(
    tmp_path: Path,
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "abcd_reader.py").write_text(SHIM)
    path = write(tmp_path, [[REFUND, "refund_initiate"]])
    result = CliRunner().invoke(
        main, ["validate", str(path), "--input-format", "abcd", "--plugins-dir", str(plugins)]
    )
    assert result.exit_code == 2
    assert result.stdout.count("unknown record type 'verification'") == 1
    assert "1 of 8 records invalid" in result.stderr


# --- the real corpus: the README's counts, from the records ------------------------------------


@needs_corpus
def test_the_readme_facts_from_the_records() -> None:
    items = read(*FLAT_FILES)
    assert errors(items) == []
    records = [item.data for item in items]
    validator = RecordValidator()
    invalid = Counter(
        record["type"]
        for item, record in zip(items, records, strict=True)
        if validator.iter_errors(record, item.origin)
    )
    verifications = sum(1 for record in records if record["type"] == "verification")
    assert invalid == {"verification": verifications}, "without the pack, only the verifications are unknown"
    opened = [record for record in records if record["type"] == "case_opened"]
    actions = [record for record in records if record["type"] not in ("case_opened", "contact")]
    lines = Counter(record["case_id"] for record in records if record["type"] != "case_opened")

    def conversations_with(predicate: Any) -> int:
        return len({record["case_id"] for record in actions if predicate(record)})

    def notified(team: str) -> Any:
        return lambda record: record["type"] == "escalation" and record["to"] == team

    assert {
        "conversations": len(opened),
        "labels": len({record["meta"]["label"] for record in opened}),
        "median lines": statistics.median(lines.values()),
        "ACT lines": len(actions),
        "identity verifications": conversations_with(lambda r: r.get("kind") == "identity"),
        "purchase validations": conversations_with(lambda r: r.get("kind") == "purchase"),
        "refunds": conversations_with(lambda r: r["type"] == "concession" and r["kind"] == "refund"),
        "promo codes": conversations_with(lambda r: r["type"] == "concession" and r["kind"] == "discount"),
        "manager notified": conversations_with(notified("manager")),
        "purchasing department": conversations_with(notified("purchasing department")),
        "website team": conversations_with(notified("website team")),
    } == {
        "conversations": 2_008,
        "labels": 96,
        "median lines": 21,
        "ACT lines": 7_292,
        "identity verifications": 698,
        "purchase validations": 433,
        "refunds": 155,
        "promo codes": 116,
        "manager notified": 23,
        "purchasing department": 60,
        "website team": 38,
    }


@needs_corpus
def test_every_action_line_of_the_corpus_is_recognised_and_only_one_text_is_ambiguous() -> None:
    records = [item.data for item in read(*FLAT_FILES)]
    actions = [record for record in records if record["type"] not in ("case_opened", "contact")]
    assert [record["text"] for record in actions if record["meta"].get("unrecognised")] == []
    ambiguous = {record["text"] for record in actions if "action" not in record["meta"]}
    assert ambiguous == {"Agent is looking for solutions ..."}
