"""The asterisk-cdr input format: Master.csv as cdr_csv writes it, one contact per call, bad rows named.

The lines are written by ``conftest.cdr_line`` in the exact order and quoting of ``build_csv_record``
in Asterisk's ``cdr/cdr_csv.c`` (asterisk/asterisk, master): the sixteen fixed columns, then
``uniqueid`` (loguniqueid), ``userfield`` (loguserfield), ``peeraccount, linkedid, sequence``
(newcdrcolumns).
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from phone_helpers import assert_valid, cdr_line
from serviceflow_phone import plugin
from serviceflow_phone.asterisk import CdrOptions, asterisk_cdr_reader
from serviceflow_phone.cdr import CdrColumns, read_cdr_conf
from serviceflow_phone.customers import CustomerMatch

from serviceflow.cli import main
from serviceflow.plugin import ConfigError, InputError, PluginError, RawItem

ALL_COLUMNS = {"loguniqueid": True, "loguserfield": True, "newcdrcolumns": True}
OPTIONS = {**ALL_COLUMNS, "timezone": "America/Los_Angeles", "default-region": "US"}


def inbound(call: str, disposition: str = "ANSWERED", **values: Any) -> str:
    answered = disposition == "ANSWERED"
    fields: dict[str, Any] = {
        "uniqueid": call,
        "linkedid": call,
        "disposition": disposition,
        "answer": "2024-05-06 09:15:10" if answered else "",
        "billsec": 192 if answered else 0,
        "dstchannel": "PJSIP/1001-00000002" if answered else "",
    }
    fields.update(values)
    return cdr_line(**fields)


def outbound(call: str, disposition: str = "ANSWERED", **values: Any) -> str:
    fields: dict[str, Any] = {
        "src": "1002",
        "dst": "4155550177",
        "dcontext": "from-internal",
        "clid": '"Bob Agent" <1002>',
        "channel": "PJSIP/1002-00000007",
        "dstchannel": "PJSIP/provider-00000008",
        "uniqueid": call,
        "linkedid": call,
        "disposition": disposition,
        "answer": "" if disposition != "ANSWERED" else "2024-05-06 09:15:10",
        "billsec": 0 if disposition != "ANSWERED" else 192,
    }
    fields.update(values)
    return cdr_line(**fields)


# Every disposition, a transfer, a repeated row, a conflicting row, an internal call, bad rows.
MASTER = [
    inbound("1714986902.1"),  # 1 answered by PJSIP/1001
    inbound("1714986902.2", "NO ANSWER", src="4155550124"),  # 2
    inbound("1714986902.3", "BUSY", src="4155550125"),  # 3
    outbound("1714986902.4", "FAILED"),  # 4
    inbound("1714986902.5", "CONGESTION", src="4155550126"),  # 5
    inbound("1714986902.6", "CANCEL", src=""),  # 6 withheld caller who hung up
    inbound(
        "1714986902.7", billsec=60, channel="PJSIP/provider-00000010", sequence=1
    ),  # 7 transfer, first leg
    inbound(  # 8 transfer, second leg: the same customer channel, now bridged with 1003
        "1714986902.7",
        billsec=120,
        channel="PJSIP/provider-00000010",
        dstchannel="PJSIP/1003-00000012",
        start="2024-05-06 09:16:12",
        end="2024-05-06 09:18:12",
        sequence=2,
    ),
    inbound("1714986902.1"),  # 9 a repeat of line 1: dropped
    inbound("1714986902.2", "NO ANSWER", src="4155550124", duration=999),  # 10 conflicts with line 2
    cdr_line(
        src="1001", dst="1002", dcontext="from-internal", uniqueid="1714986902.11", linkedid="1714986902.11"
    ),  # 11
    '"","4155550123","100"\n',  # 12 wrong column count
    inbound("1714986902.13", start="06/05/2024 09:15"),  # 13 bad date
    inbound("1714986902.14", clid='"JOS_" <4155550123>'),  # 14 a Latin-1 byte in the name, see master_bytes
    inbound("1714986902.15", disposition="EXPLODED"),  # 15 unknown disposition
    inbound("1714986902.16", linkedid="1714986902.16; rm -rf /"),  # 16 not an Asterisk id
    inbound("1714986902.17", start="2024-05-06 09:20:00", end="2024-05-06 09:19:00"),  # 17 ends before start
]


def master_bytes(lines: list[str] = MASTER) -> bytes:
    data = "".join(lines).encode("utf-8")
    return data.replace(b"JOS_", b"Jos\xe9")  # line 14: a Latin-1 byte, not UTF-8


def read(data: bytes | list[str], options: dict[str, Any] | None = None, **kwargs: Any) -> list[RawItem]:
    if isinstance(data, list):
        data = master_bytes(data)
    spec = asterisk_cdr_reader(OPTIONS if options is None else options, **kwargs)
    return list(spec.read(["-"], io.BytesIO(data)))


def records(items: list[RawItem]) -> dict[str, dict[str, Any]]:
    return {item.data["id"]: item.data for item in items if item.error is None}


def errors(items: list[RawItem]) -> list[str]:
    return [str(item.error) for item in items if item.error is not None]


def test_every_disposition_is_one_contact_and_every_bad_row_is_named_with_its_line(engine) -> None:  # type: ignore[no-untyped-def]
    items = read(MASTER)
    contacts = records(items)
    assert {record_id: record["meta"]["status"] for record_id, record in contacts.items()} == {
        "asterisk-1714986902.1": "answered",
        "asterisk-1714986902.2": "no_answer",
        "asterisk-1714986902.3": "busy",
        "asterisk-1714986902.4": "failed",
        "asterisk-1714986902.5": "congestion",
        "asterisk-1714986902.6": "canceled",
        "asterisk-1714986902.7": "answered",
    }
    assert errors(items) == [
        "<stdin>:10: /: another row with uniqueid, linkedid and sequence 1714986902.2, 1714986902.2, 1 "
        "was read at <stdin>:2, with different values",
        "<stdin>:12: /: the row has 3 fields, 21 expected (no cdr.conf setting writes that many: is this "
        "Master.csv?; set the same switches here as in cdr.conf)",
        "<stdin>:13: /start: not a date-time like 2024-05-06 09:15:02: '06/05/2024 09:15'",
        "<stdin>:14: /: not UTF-8: the row has invalid bytes",
        "<stdin>:15: /disposition: unknown disposition 'EXPLODED' (ANSWERED, NO ANSWER, BUSY, FAILED, "
        "CONGESTION, CANCEL)",
        "<stdin>:16: /linkedid: linkedid is not an Asterisk id (letters, digits and . _ : @ -): "
        "'1714986902.16; rm -rf /'",
        "<stdin>:17: /end: the call ends before it starts",
    ]
    assert_valid(engine, list(contacts.values()))


def test_an_answered_inbound_call_is_the_agents_contact_in_the_pbx_time_zone(engine) -> None:  # type: ignore[no-untyped-def]
    (item,) = [item for item in read([inbound("1714986902.1")])]
    assert item.origin.line == 1
    assert item.data == {
        "id": "asterisk-1714986902.1",
        "case_id": "asterisk-1714986902.1",
        "type": "contact",
        "at": "2024-05-06T09:15:02-07:00",
        "actor": {"role": "agent", "id": "PJSIP/1001"},
        "channel": "phone",
        "direction": "inbound",
        "summary": "Inbound call, answered, by PJSIP/1001, 3m12s",
        "source": {"system": "asterisk", "ref": "1714986902.1"},
        "meta": {
            "status": "answered",
            "disposition": "ANSWERED",
            "answered": True,
            "duration_seconds": 192,
            "total_seconds": 200,
            "ended_at": "2024-05-06T09:18:22-07:00",
            "agents": ["PJSIP/1001"],
            "legs": 1,
            "transferred": False,
            "linkedid": "1714986902.1",
            "uniqueid": "1714986902.1",
            "dcontext": "from-trunk",
            "customer_number": "+14155550123",
        },
    }
    assert_valid(engine, [item.data])


def test_a_transfer_is_one_contact_with_both_agents_and_the_talk_time_of_both_legs() -> None:
    contact = records(read(MASTER))["asterisk-1714986902.7"]
    assert contact["meta"]["agents"] == ["PJSIP/1001", "PJSIP/1003"]
    assert (contact["meta"]["legs"], contact["meta"]["transferred"]) == (2, True)
    assert contact["meta"]["duration_seconds"] == 180
    assert contact["actor"]["id"] == "PJSIP/1001"
    assert contact["summary"] == "Inbound call, answered, by PJSIP/1001, 3m00s, transferred to PJSIP/1003"


def test_legs_of_a_call_interleaved_with_other_calls_are_still_grouped() -> None:
    lines = [
        inbound("1714986902.7", billsec=60, sequence=1),
        inbound("1714986902.8", src="4155550130"),
        inbound("1714986902.7", dstchannel="PJSIP/1003-00000012", sequence=2),
    ]
    contacts = records(read(lines))
    assert sorted(contacts) == ["asterisk-1714986902.7", "asterisk-1714986902.8"]
    assert contacts["asterisk-1714986902.7"]["meta"]["legs"] == 2


def test_missed_calls_are_the_customers_contacts_named_from_the_caller_id() -> None:
    contact = records(read(MASTER))["asterisk-1714986902.2"]
    assert contact["actor"] == {"role": "customer", "id": "+14155550124", "name": "Jane Doe"}
    assert (contact["meta"]["answered"], contact["meta"]["duration_seconds"]) == (False, 0)
    withheld = records(read(MASTER))["asterisk-1714986902.6"]
    assert withheld["actor"]["id"] == "+14155550123"  # no src: the number in the caller id


def test_an_outbound_call_is_the_calling_agents() -> None:
    contact = records(read(MASTER))["asterisk-1714986902.4"]
    assert (contact["direction"], contact["actor"]) == ("outbound", {"role": "agent", "id": "PJSIP/1002"})
    assert contact["meta"]["customer_number"] == "+14155550177"


def test_a_call_between_two_extensions_is_not_a_customer_contact() -> None:
    assert "asterisk-1714986902.11" not in records(read(MASTER))


def test_a_call_the_pbx_answered_but_no_agent_took_is_answered_without_an_agent() -> None:
    line = inbound("1714986902.20", dstchannel="", lastapp="VoiceMail", billsec=40)
    (contact,) = records(read([line])).values()
    assert contact["meta"]["status"] == "answered" and contact["meta"]["answered"] is False
    assert contact["actor"]["role"] == "customer" and contact["meta"]["agents"] == []


def test_contexts_decide_the_direction_when_configured() -> None:
    line = cdr_line(src="1001", dst="1002", dcontext="callback", uniqueid="x.1", linkedid="x.1")
    assert records(read([line])) == {}
    (contact,) = records(read([line], {**OPTIONS, "outbound-contexts": ["callback"]})).values()
    assert contact["direction"] == "outbound"


def test_our_own_numbers_are_never_the_customer() -> None:
    line = outbound("x.2", src="18005551212", dst="4155550177")  # agent calls out showing the main number
    assert records(read([line]))["asterisk-x.2"]["direction"] == "inbound"  # ambiguous without help
    contact = records(read([line], {**OPTIONS, "own-numbers": ["+1 800 555 1212"]}))["asterisk-x.2"]
    assert contact["direction"] == "outbound" and contact["meta"]["customer_number"] == "+14155550177"


def test_customers_and_their_cases_come_from_the_lookup(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        "4155550123,cust-42,case-1001\n415-555-0124,cust-43\n", encoding="utf-8"
    )
    contacts = records(read(MASTER, {**OPTIONS, "customers": "customers.csv"}, base=tmp_path))
    first, missed = contacts["asterisk-1714986902.1"], contacts["asterisk-1714986902.2"]
    assert (first["customer_id"], first["case_id"]) == ("cust-42", "case-1001")
    assert (missed["customer_id"], missed["case_id"]) == ("cust-43", "asterisk-1714986902.2")
    assert missed["actor"] == {"role": "customer", "id": "cust-43", "name": "Jane Doe"}
    by_call = records(
        read(MASTER, {**OPTIONS, "case-by": "call"}, customers={"+14155550123": CustomerMatch("c", "k")}.get)
    )
    assert by_call["asterisk-1714986902.1"]["case_id"] == "asterisk-1714986902.1"
    assert by_call["asterisk-1714986902.1"]["customer_id"] == "c"


class TestColumns:
    def test_asterisks_default_sixteen_columns_one_call_per_row(self) -> None:
        line = cdr_line(loguniqueid=False, loguserfield=False, newcdrcolumns=False)
        (contact,) = records(read([line, line], {"timezone": "UTC", "default-region": "US"})).values()
        assert contact["id"].startswith("asterisk-r") and contact["at"] == "2024-05-06T09:15:02Z"
        assert "linkedid" not in contact["meta"]

    def test_the_sample_cdr_conf_columns_group_by_uniqueid_and_keep_the_userfield(self) -> None:
        line = cdr_line(newcdrcolumns=False, uniqueid="1714986902.9", userfield="vip")
        options = {"loguniqueid": "yes", "loguserfield": "yes", "usegmtime": "yes", "default-region": "US"}
        (contact,) = records(read([line], options)).values()
        assert contact["id"] == "asterisk-1714986902.9" and contact["meta"]["userfield"] == "vip"
        assert contact["at"] == "2024-05-06T09:15:02Z"  # usegmtime: UTC whatever the timezone

    def test_a_wrong_column_count_says_which_cdr_conf_switches_write_it(self) -> None:
        line = cdr_line(newcdrcolumns=False)  # 18 columns, read as 21
        (message,) = errors(read([line]))
        assert (
            "18 fields, 21 expected (18 columns is what cdr_csv writes with loguniqueid and loguserfield"
            in message
        )
        assert "loguniqueid or with loguserfield" in CdrColumns().hint(17)

    def test_the_switches_can_be_read_from_asterisks_own_cdr_conf(self, tmp_path: Path) -> None:
        conf = tmp_path / "cdr.conf"
        conf.write_text(
            "[general]\nenable=yes\nunanswered = yes ; not ours\n\n"
            '[csv]\nusegmtime=yes    ; log date/time in GMT.  Default is "no"\n'
            "loguniqueid=yes  ; log uniqueid\nloguserfield=no\n;newcdrcolumns=yes\n"
            ";-- a block\nnewcdrcolumns=yes\n--;\n"
            "[radius]\nloguserfield=yes\n"
            "[csv](+)\nloguserfield => yes\n",
            encoding="utf-8",
        )
        assert read_cdr_conf(conf) == {
            "usegmtime": True,
            "loguniqueid": True,
            "loguserfield": True,
            "newcdrcolumns": False,
        }
        options = CdrOptions.from_options({"cdr-conf": "cdr.conf", "newcdrcolumns": True}, base=tmp_path)
        assert options.columns == CdrColumns(True, True, True) and options.usegmtime
        (tmp_path / "empty.conf").write_text("[general]\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="no \\[csv\\] section"):
            read_cdr_conf(tmp_path / "empty.conf")


class TestTimes:
    def test_local_times_across_the_spring_forward_and_fall_back(self) -> None:
        options = {**OPTIONS, "timezone": "Europe/Berlin"}
        summer = inbound(
            "t.1", start="2024-07-01 12:00:00", answer="2024-07-01 12:00:05", end="2024-07-01 12:03:00"
        )
        winter = inbound(
            "t.2", start="2024-01-15 12:00:00", answer="2024-01-15 12:00:05", end="2024-01-15 12:03:00"
        )
        repeated = inbound(
            "t.3", start="2024-10-27 02:30:00", answer="", end="2024-10-27 02:31:00", disposition="NO ANSWER"
        )
        contacts = records(read([summer, winter, repeated], options))
        assert contacts["asterisk-t.1"]["at"] == "2024-07-01T12:00:00+02:00"
        assert contacts["asterisk-t.2"]["at"] == "2024-01-15T12:00:00+01:00"
        assert contacts["asterisk-t.3"]["at"] == "2024-10-27T02:30:00+02:00"  # the first of the two

    def test_durations_count_real_time_across_a_clock_change(self) -> None:
        options = {**OPTIONS, "timezone": "Europe/Berlin"}
        line = inbound(
            "t.5", start="2024-03-31 01:50:00", answer="2024-03-31 01:50:10", end="2024-03-31 03:10:00"
        )
        (contact,) = records(read([line], options)).values()
        assert (contact["at"], contact["meta"]["ended_at"]) == (
            "2024-03-31T01:50:00+01:00",
            "2024-03-31T03:10:00+02:00",
        )
        assert contact["meta"]["total_seconds"] == 20 * 60

    def test_an_offset_time_zone_is_accepted_and_an_unknown_one_is_a_config_error(self) -> None:
        (contact,) = records(read([inbound("t.4")], {**OPTIONS, "timezone": "+05:30"})).values()
        assert contact["at"] == "2024-05-06T09:15:02+05:30"
        with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
            asterisk_cdr_reader({"timezone": "Mars/Olympus"})


class TestStreaming:
    def test_a_call_is_emitted_once_the_file_has_moved_past_its_transfer_window(self) -> None:
        early = inbound("s.1")
        late = inbound(
            "s.2", start="2024-05-06 15:00:00", answer="2024-05-06 15:00:05", end="2024-05-06 15:01:00"
        )
        spec = asterisk_cdr_reader(OPTIONS)
        stream = spec.read(["-"], io.BytesIO((early + late).encode()))
        assert next(stream).data["id"] == "asterisk-s.1"  # emitted when line 2 was read, not at the end

    def test_a_leg_arriving_after_its_call_was_emitted_is_an_error_that_names_the_option(self) -> None:
        first = inbound("s.3", sequence=1)
        other = inbound(
            "s.4", start="2024-05-06 15:00:00", answer="2024-05-06 15:00:05", end="2024-05-06 15:01:00"
        )
        straggler = inbound(
            "s.3", sequence=2, start="2024-05-06 15:10:00", answer="", end="2024-05-06 15:11:00"
        )
        items = read([first, other, straggler])
        assert sorted(records(items)) == ["asterisk-s.3", "asterisk-s.4"]
        (message,) = errors(items)
        assert message.startswith("<stdin>:3: /: a row of call s.3 came more than 4:00:00 after")
        assert "transfer-window" in message
        assert errors(read([first, other, straggler], {**OPTIONS, "transfer-window": "12h"})) == []


class TestFiles:
    def test_a_gzip_file_and_a_directory_of_rotated_copies_read_as_one_history(self, tmp_path: Path) -> None:
        first_leg = inbound("f.1", sequence=1)
        second_leg = inbound("f.1", dstchannel="PJSIP/1003-00000012", sequence=2)
        (tmp_path / "Master.csv.1.gz").write_bytes(gzip.compress(first_leg.encode()))
        (tmp_path / "Master.csv").write_text(second_leg + inbound("f.2"), encoding="utf-8")
        (tmp_path / "1234.csv").write_text(first_leg, encoding="utf-8")  # an accountlogs file: not read
        items = list(asterisk_cdr_reader(OPTIONS).read([tmp_path], None))
        contacts = records(items)
        assert sorted(contacts) == ["asterisk-f.1", "asterisk-f.2"]
        assert contacts["asterisk-f.1"]["meta"]["legs"] == 2
        assert items[0].origin.file.endswith("Master.csv.1.gz")

    def test_a_truncated_gzip_keeps_the_calls_before_the_damage_and_names_the_file(
        self, tmp_path: Path
    ) -> None:
        data = gzip.compress("".join(inbound(f"g.{number}") for number in range(200)).encode())
        broken = tmp_path / "Master.csv.gz"
        broken.write_bytes(data[: len(data) // 2])
        items: list[RawItem] = []
        with pytest.raises(InputError, match=r"cannot read .*Master\.csv\.gz"):
            for item in asterisk_cdr_reader(OPTIONS).read([broken], None):
                items.append(item)
        assert len(records(items)) > 0

    def test_a_missing_file_or_an_empty_directory_is_an_input_error(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="cannot read"):
            list(asterisk_cdr_reader(OPTIONS).read([tmp_path / "nope.csv"], None))
        with pytest.raises(InputError, match=r"has no Master\.csv"):
            list(asterisk_cdr_reader(OPTIONS).read([tmp_path], None))

    def test_an_overlong_line_and_a_nul_are_bad_rows_and_the_next_row_is_read(self) -> None:
        huge = '"' + "x" * 200_000 + '"\n'
        items = read([huge, inbound("h.1").replace("Jane", "Ja\x00ne"), inbound("h.2")])
        assert errors(items) == [
            "<stdin>:1: /: the line is longer than 65536 bytes",
            "<stdin>:2: /: the line has NUL bytes",
        ]
        assert list(records(items)) == ["asterisk-h.2"]

    def test_an_empty_file_makes_nothing(self) -> None:
        assert read(b"") == []


class TestOptions:
    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"loguniqueid": "maybe"}, "'loguniqueid' must be true or false"),
            ({"case-by": "linkedid"}, "'case-by' must be one of lookup, call"),
            ({"extension-digits": 0}, "at least 1"),
            ({"inbound-contexts": ["a"], "outbound-contexts": ["a"]}, "share"),
            ({"own-numbers": ["555"]}, "not a complete phone number"),
            ({"transfer-window": "0m"}, "positive duration"),
            ({"cdr-conf": "missing.conf"}, "cannot read"),
            ({"customers": "missing.csv"}, "cannot read the customer file"),
            ({"newcdrcolumn": True}, "has no option 'newcdrcolumn'"),
        ],
    )
    def test_wrong_options_are_config_errors(
        self, options: dict[str, Any], message: str, tmp_path: Path
    ) -> None:
        with pytest.raises(ConfigError, match=message):
            CdrOptions.from_options(options, base=tmp_path)

    def test_a_bad_customer_file_names_its_line_and_masks_the_number(self, tmp_path: Path) -> None:
        (tmp_path / "customers.csv").write_text(
            "# exported from the CRM\n4155550123,c1\n(415) 555-0123,c2\n", encoding="utf-8"
        )
        with pytest.raises(ConfigError) as error:
            CdrOptions.from_options({"customers": "customers.csv", "default-region": "US"}, base=tmp_path)
        assert str(error.value).endswith("customers.csv:3: +14*******23 is listed twice (first on line 2)")
        (tmp_path / "customers.csv").write_bytes(b"4155550123,c\xe91\n")
        with pytest.raises(ConfigError, match=":1: not UTF-8"):
            CdrOptions.from_options({"customers": "customers.csv", "default-region": "US"}, base=tmp_path)
        (tmp_path / "customers.csv").write_text("number,customer_id\n555 0123,c1\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r":2: '55\* \*\*23' is not a complete phone number"):
            CdrOptions.from_options({"customers": "customers.csv", "default-region": "US"}, base=tmp_path)


def write_plugin(directory: Path, options: dict[str, Any]) -> Path:
    """A one-file plugin for --plugins-dir that declares the reader with these options."""
    directory.mkdir(exist_ok=True)
    (directory / "phone_cdr_test_plugin.py").write_text(
        "from serviceflow import hookimpl\n"
        "from serviceflow_phone.asterisk import asterisk_cdr_reader\n\n\n"
        "@hookimpl\n"
        "def serviceflow_readers():\n"
        f"    return [asterisk_cdr_reader({options!r})]\n",
        encoding="utf-8",
    )
    return directory


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "")
    monkeypatch.delenv("SERVICEFLOW_PLUGINS_DIR", raising=False)
    monkeypatch.delenv("SERVICEFLOW_PHONE_CONFIG", raising=False)


@pytest.mark.usefixtures("isolated")
def test_validate_names_each_bad_row_and_lets_the_good_ones_through(tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    master.write_bytes(master_bytes())
    plugins = write_plugin(tmp_path / "plugins", OPTIONS)
    result = CliRunner().invoke(
        main, ["validate", "--input-format", "asterisk-cdr", "--plugins-dir", str(plugins), str(master)]
    )
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 7 and all(line.startswith(f"{master}:") for line in lines)
    assert f"{master}:13: /start: not a date-time" in result.stdout
    assert "7 of 14 records invalid" in result.stderr

    clean = tmp_path / "clean" / "Master.csv"
    clean.parent.mkdir()
    clean.write_text("".join(MASTER[:9]), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["validate", "--input-format", "asterisk-cdr", "--plugins-dir", str(plugins), str(clean)]
    )
    assert result.exit_code == 0, result.output
    assert "7 records valid" in result.stderr


@pytest.mark.usefixtures("isolated")
def test_lint_evaluates_the_calls_and_reports_the_bad_rows(tmp_path: Path) -> None:
    master = tmp_path / "Master.csv"
    master.write_bytes(master_bytes())
    plugins = write_plugin(tmp_path / "plugins", OPTIONS)
    result = CliRunner().invoke(
        main,
        [
            "lint",
            "--input-format",
            "asterisk-cdr",
            "--plugins-dir",
            str(plugins),
            str(master),
            "--now",
            "2024-05-09T14:00:00Z",
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
    )
    report = json.loads(result.stdout)
    assert report["summary"]["records"] == 7 and report["summary"]["cases"] == 7
    assert [(error["line"], error["pointer"]) for error in report["errors"]] == [
        (10, ""),
        (12, ""),
        (13, "/start"),
        (14, ""),
        (15, "/disposition"),
        (16, "/linkedid"),
        (17, "/end"),
    ]
    assert result.exit_code == 2  # input errors


def test_the_plugin_reads_its_options_from_the_phone_config_file(
    serviceflow_plugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "cdr.conf").write_text(
        "[csv]\nloguniqueid=yes\nloguserfield=yes\nnewcdrcolumns=yes\n", encoding="utf-8"
    )
    (tmp_path / "phone.toml").write_text(
        '[asterisk-cdr]\ncdr-conf = "cdr.conf"\ntimezone = "America/Los_Angeles"\ndefault-region = "US"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SERVICEFLOW_PHONE_CONFIG", str(tmp_path / "phone.toml"))
    with serviceflow_plugin(plugin, "phone") as host:
        spec = host.readers["asterisk-cdr"]
        assert spec.plugin == "phone"
        items = list(spec.read(["-"], io.BytesIO(master_bytes())))
    assert len(records(items)) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[asterisk-cdr\n", "is not TOML"),
        ("[asterisk]\n", "unknown table 'asterisk'"),
        ("[asterisk-cdr]\nbogus = 1\n", "bogus"),
    ],
)
def test_a_broken_phone_config_fails_the_plugins_reader_by_name(
    serviceflow_plugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "phone.toml").write_text(content, encoding="utf-8")
    monkeypatch.setenv("SERVICEFLOW_PHONE_CONFIG", str(tmp_path / "phone.toml"))
    with (
        pytest.raises(PluginError, match=f"plugin 'phone' failed.*serviceflow_readers.*{message}"),
        serviceflow_plugin(plugin, "phone") as host,
    ):
        host.readers  # noqa: B018


def installed() -> bool:
    try:
        metadata.distribution("serviceflow-phone")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not installed(), reason="serviceflow-phone is not installed")
def test_the_installed_entry_point_reads_master_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICEFLOW_LOAD_PLUGINS", "phone")
    monkeypatch.delenv("SERVICEFLOW_PLUGINS_DIR", raising=False)
    (tmp_path / "phone.toml").write_text(
        "[asterisk-cdr]\nloguniqueid = true\nloguserfield = true\nnewcdrcolumns = true\n"
        'timezone = "America/Los_Angeles"\ndefault-region = "US"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SERVICEFLOW_PHONE_CONFIG", str(tmp_path / "phone.toml"))
    master = tmp_path / "Master.csv"
    master.write_text("".join(MASTER[:9]), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--input-format", "asterisk-cdr", str(master)])
    assert result.exit_code == 0, result.output
    assert "7 records valid" in result.stderr
    listing = CliRunner().invoke(main, ["plugins", "--json"])
    assert "asterisk-cdr" in listing.stdout and "sms" in listing.stdout


def test_the_transfer_window_is_a_duration() -> None:
    assert CdrOptions.from_options({"transfer-window": "90m"}).transfer_window == timedelta(minutes=90)
