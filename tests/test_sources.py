"""The ``serviceflow_sources`` hook: a plugin's poller run by the service, its cursor kept in the store.

Each test drives the source itself (``SourceRunner.poll_once`` / ``sync``, or ``serviceflow sync
--once``) on SQLite and on PostgreSQL; the one test of the background thread uses a manual clock
that never sleeps. The source here is a desk whose history is a list of events (the cursor is how many
were read), so what a poll reads is exactly what the test wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from live_support import AGENT, T0, at, wait_until
from serviceflow import Engine, hookimpl
from serviceflow.cli import main
from serviceflow.config import Config, load_config
from serviceflow.errors import ConfigError
from serviceflow.live import ManualClock, Service
from serviceflow.live.connectors import (
    SourceFailed,
    SourceRunner,
    configured_sources,
    source_runner,
)
from serviceflow.live.runner import Background
from serviceflow.live.store import Store
from serviceflow.plugin import ConnectorContext, SourceBatch, SourceSpec
from serviceflow.plugins import PluginHost
from serviceflow.stores import open_store
from serviceflow.stores.schema import latest_version


class Desk:
    """A help desk's history: events appended by the test, read by the source after a cursor."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.polls: list[str | None] = []
        self.fail_with: Exception | None = None
        self.hold: threading.Event | None = None
        """When set to an Event, a poll waits for it (a server that does not answer)."""
        self.page = 100
        self.without_source = False
        self.threads: list[int] = []

    def add(self, case: str, text: str, minutes: float) -> str:
        event_id = f"ev{len(self.events) + 1}"
        self.events.append({"id": event_id, "case": case, "text": text, "at": at(minutes)})
        return event_id

    def record(self, event: Mapping[str, Any]) -> dict[str, Any]:
        record = {
            "id": f"desk-{event['id']}",
            "case_id": event["case"],
            "type": "contact",
            "at": event["at"],
            "actor": AGENT,
            "channel": "email",
            "direction": "outbound",
            "text": event["text"],
            "source": {"system": "desk", "ref": event["id"]},
        }
        if self.without_source:
            del record["source"]
        return record


class DeskSource:
    def __init__(self, desk: Desk, context: ConnectorContext) -> None:
        self.desk = desk
        self.context = context
        self.closed = False

    def poll(self, cursor: str | None) -> SourceBatch:
        self.desk.polls.append(cursor)
        self.desk.threads.append(threading.get_ident())
        if self.desk.hold is not None:
            self.desk.hold.wait(30)
        if self.desk.fail_with is not None:
            raise self.desk.fail_with
        start = int(cursor or 0)
        chosen = self.desk.events[start : start + self.desk.page]
        more = start + len(chosen) < len(self.desk.events)
        return SourceBatch(
            [self.desk.record(event) for event in chosen], str(start + len(chosen)), more, ("one odd event",)
        )

    def current_cursor(self) -> str:
        return str(len(self.desk.events))

    def close(self) -> None:
        self.closed = True


class DeskPlugin:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.created: list[tuple[dict[str, Any], ConnectorContext]] = []

    @hookimpl
    def serviceflow_sources(self) -> list[SourceSpec]:
        def create(options: Mapping[str, Any], context: ConnectorContext) -> DeskSource:
            unknown = set(options) - {"url"}
            if unknown:
                raise ConfigError(f"desk: unknown option {sorted(unknown)[0]!r}")
            self.created.append((dict(options), context))
            return DeskSource(self.desk, context)

        return [SourceSpec("desk", create, "a test desk", interval=timedelta(seconds=30))]


@pytest.fixture
def desk() -> Desk:
    return Desk()


@pytest.fixture
def desk_engine(desk: Desk) -> Iterator[Engine]:
    host = PluginHost()
    host.register(DeskPlugin(desk), "deskplugin")
    with Engine.from_config(config=Config(), plugins=host) as engine:
        yield engine


def desk_service(store: Store, engine: Engine, clock: ManualClock, **table: Any) -> Service:
    config = Config(sources={"helpdesk": {"type": "desk", "url": "https://desk.example", **table}})
    return Service(store, engine, clock=clock, config=config)


@pytest.fixture
def runner(store: Store, desk_engine: Engine, clock: ManualClock) -> SourceRunner:
    return source_runner(desk_service(store, desk_engine, clock), "helpdesk")


def stored_ids(service: Service, case: str) -> list[str]:
    return [record["id"] for record in service.case(case).records]


# --- the hook ---------------------------------------------------------------------------------------------


def test_a_plugin_source_is_declared_by_the_serviceflow_sources_hook(desk: Desk) -> None:
    host = PluginHost()
    host.register(DeskPlugin(desk), "deskplugin")
    assert host.sources["desk"].plugin == "deskplugin"
    (info,) = [plugin for plugin in host.plugins() if plugin.name == "deskplugin"]
    assert info.contributes == {"sources": ["desk"]} and info.hooks == ("serviceflow_sources",)
    with pytest.raises(ConfigError, match=r"unknown source 'mailbox' \(sources: desk\)"):
        host.source("mailbox")


class BadSources:
    @hookimpl
    def serviceflow_sources(self) -> list[SourceSpec]:
        return [SourceSpec("Bad Name!", lambda options, context: None)]  # type: ignore[arg-type,return-value]


class NotSources:
    @hookimpl
    def serviceflow_sources(self) -> Any:
        return ["desk"]


def test_a_source_hook_that_fails_or_returns_the_wrong_thing_is_named_and_skipped() -> None:
    host = PluginHost()
    host.register(BadSources(), "bad")
    host.register(NotSources(), "wrong")
    assert host.sources == {}
    errors = {failure.name: failure.error for failure in host.failures}
    assert "source name 'Bad Name!' must be 1-63 characters" in errors["bad"]
    assert "must return a list of SourceSpec" in errors["wrong"]


# --- one poll --------------------------------------------------------------------------------------------


def test_a_poll_stores_its_records_through_admission_and_its_cursor_with_them(
    runner: SourceRunner, desk: Desk
) -> None:
    desk.add("c1", "We will call you back today.", 0)
    desk.add("c1", "Sorry for the wait.", 5)

    result = runner.sync()

    service = runner.service
    assert (result.accepted, result.duplicates, result.cursor, result.problems) == (
        2,
        0,
        "2",
        ("one odd event",),
    )
    assert stored_ids(service, "c1") == ["desk-ev1", "desk-ev2"]
    state = service.store.source_states()[0]
    assert (state.name, state.cursor, state.records, state.failures) == ("helpdesk", "2", 2, 0)
    # The records were evaluated as an ingest evaluates them: the case has its obligations.
    assert service.case("c1").evaluated_at == T0
    (stored,) = service.store.transact(lambda unit: unit.find_records(["desk-ev1"]), write=False).values()
    assert stored.provenance == {"via": "source", "source": "helpdesk", "system": "desk", "ref": "ev1"}
    # The next poll starts where this one stopped.
    desk.add("c1", "Done.", 10)
    assert runner.sync().accepted == 1 and desk.polls[-1] == "2"


def test_re_reading_the_same_history_stores_nothing_twice(runner: SourceRunner, desk: Desk) -> None:
    for minute in range(3):
        desk.add("c1", f"update {minute}", minute)
    runner.sync()

    again = runner.sync(cursor="0", reset=True)

    assert (again.accepted, again.duplicates, again.cursor) == (0, 3, "3")
    assert stored_ids(runner.service, "c1") == ["desk-ev1", "desk-ev2", "desk-ev3"]


def test_a_batch_limit_makes_sync_poll_again_until_nothing_is_waiting(
    runner: SourceRunner, desk: Desk
) -> None:
    desk.page = 2
    for minute in range(5):
        desk.add("c1", f"update {minute}", minute)

    result = runner.sync()

    assert (result.polls, result.accepted, result.cursor, result.more) == (3, 5, "5", False)
    assert desk.polls == [None, "2", "4"]
    limited = runner.sync(cursor="0", reset=True, max_polls=2)
    assert (limited.polls, limited.more, limited.cursor) == (2, True, "4")


def test_records_without_a_source_ref_are_rejected_and_the_others_stored(
    runner: SourceRunner, desk: Desk
) -> None:
    desk.add("c1", "first", 0)
    desk.without_source = True

    result = runner.sync()

    assert result.accepted == 0
    assert result.rejected == (
        "record 0: /source: a connector's record must carry source: {system, ref} (the event it came from)",
    )
    assert result.cursor == "1"  # the poll succeeded; the bad record is reported, not retried for ever


def test_records_and_cursor_commit_together_or_not_at_all(
    runner: SourceRunner, desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while moving the cursor (the process dying there) rolls the records back too."""
    desk.add("c1", "first", 0)
    store = runner.service.store
    real_transact = store.transact

    class Dying:
        def __init__(self, unit: Any) -> None:
            self.unit = unit

        def __getattr__(self, name: str) -> Any:
            return getattr(self.unit, name)

        def advance_source(self, *args: Any) -> bool:
            raise RuntimeError("killed between the records and the cursor")

    monkeypatch.setattr(
        store, "transact", lambda work, write=True: real_transact(lambda unit: work(Dying(unit)), write=write)
    )
    with pytest.raises(RuntimeError, match="killed"):
        runner.poll_once()
    monkeypatch.undo()

    assert store.case_count() == 0 and store.source_states() == []
    assert runner.sync().accepted == 1  # read again from the same cursor, stored once


@pytest.fixture
def held_desk(desk: Desk) -> Iterator[threading.Event]:
    release = threading.Event()
    desk.hold = release
    yield release
    release.set()


def test_two_processes_polling_at_once_store_each_record_once(
    store: Store, desk_engine: Engine, clock: ManualClock, desk: Desk, held_desk: threading.Event
) -> None:
    """The cursor moves by compare-and-set in the records' transaction: the poll that read the same
    events but commits second stores nothing (its records are the first one's), and loses nothing."""
    slow = source_runner(desk_service(store, desk_engine, clock), "helpdesk")
    fast = source_runner(desk_service(store, desk_engine, clock, **{"poll-timeout": "30s"}), "helpdesk")
    desk.add("c1", "first", 0)
    desk.add("c1", "second", 1)
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(slow.poll_once()))
    thread.start()
    wait_until(lambda: len(desk.polls) == 1, 10, "the slow poll to start")
    desk.hold = None  # the fast poll does not wait
    desk.add("c1", "third", 2)
    won = fast.poll_once()
    held_desk.set()
    thread.join(10)

    (lost,) = outcome
    assert (won.accepted, won.cursor) == (3, "3")
    assert (lost.lost_race, lost.accepted) == (True, 0)
    assert stored_ids(slow.service, "c1") == ["desk-ev1", "desk-ev2", "desk-ev3"]
    assert store.source_states()[0].cursor == "3"


# --- failures ----------------------------------------------------------------------------------------------


def test_a_poll_that_raises_stores_nothing_keeps_the_cursor_and_is_counted(
    runner: SourceRunner, desk: Desk
) -> None:
    desk.add("c1", "first", 0)
    runner.sync()
    desk.add("c1", "second", 1)
    desk.fail_with = ConnectionError("desk.example: connection refused")

    with pytest.raises(SourceFailed, match=r"source 'helpdesk': poll failed: ConnectionError: desk\.example"):
        runner.poll_once()
    runner.failed(SourceFailed("helpdesk", "poll failed: ConnectionError: desk.example: connection refused"))

    state = runner.service.store.source_states()[0]
    assert (state.cursor, state.failures, state.records) == ("1", 1, 1)
    assert (
        state.last_error
        == "source 'helpdesk': poll failed: ConnectionError: desk.example: connection refused"
    )
    desk.fail_with = None
    runner.failures = 0
    assert runner.sync().accepted == 1
    assert runner.service.store.source_states()[0].failures == 0


def test_a_poll_that_hangs_is_abandoned_and_not_polled_again_until_it_returns(
    store: Store, desk_engine: Engine, clock: ManualClock, desk: Desk, held_desk: threading.Event
) -> None:
    runner = source_runner(desk_service(store, desk_engine, clock, **{"poll-timeout": "0.05s"}), "helpdesk")
    desk.add("c1", "first", 0)

    with pytest.raises(SourceFailed, match=r"poll did not return within 0.05s; abandoned"):
        runner.poll_once()
    with pytest.raises(SourceFailed, match="an earlier poll that was abandoned has still not returned"):
        runner.poll_once()
    assert len(desk.polls) == 1  # no second call piled up on the hung one

    desk.hold = None
    held_desk.set()
    wait_until(lambda: not runner.polling(), 10, "the hung poll to return")
    assert runner.sync().accepted == 1


def test_every_poll_of_a_source_runs_on_one_worker_thread_of_its_own(
    runner: SourceRunner, desk: Desk
) -> None:
    """Not a thread per poll: a source's store lookups then reuse one database connection."""
    for minute in range(3):
        desk.add("c1", f"update {minute}", minute)
        runner.sync()
    assert len(set(desk.threads)) == 1 and desk.threads[0] != threading.get_ident()
    runner.close()
    assert runner.sync().polls == 1  # a closed runner starts a new worker when used again


def test_backoff_doubles_after_each_failure_up_to_the_maximum_with_jitter(runner: SourceRunner) -> None:
    runner.settings = replace(
        runner.settings, interval=timedelta(seconds=10), max_backoff=timedelta(seconds=100)
    )
    assert runner.delay() == 10
    delays = []
    for failures in (1, 2, 3, 4, 10):
        runner.failures = failures
        delays.append(runner.delay())
    ceilings = [20, 40, 80, 100, 100]
    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))


def test_the_source_thread_outlives_failures_and_backs_off(
    store: Store, desk_engine: Engine, desk: Desk
) -> None:
    clock = ManualClock(T0, advance_on_wait=True)
    runner = source_runner(desk_service(store, desk_engine, clock, interval="10s"), "helpdesk")
    stop = threading.Event()
    desk.add("c1", "first", 0)
    outcomes = [ValueError("bad answer"), ValueError("bad answer"), None, None]

    real_poll = runner.source.poll

    def poll(cursor: str | None) -> SourceBatch:
        outcome = outcomes.pop(0) if outcomes else None
        if not outcomes:
            stop.set()
        if outcome is not None:
            raise outcome
        return real_poll(cursor)

    runner.source.poll = poll  # type: ignore[method-assign]
    started = clock.now()
    runner.run(stop)

    assert stored_ids(runner.service, "c1") == ["desk-ev1"]
    state = store.source_states()[0]
    assert (state.failures, state.polls, state.last_error) == (0, 4, None)
    # Two failures waited 10-20 s and 20-40 s, then one interval of 10 s after the success.
    waited = (clock.now() - started).total_seconds()
    assert 10 / 2 + 20 / 2 + 10 <= waited <= 20 + 40 + 10


def test_serve_polls_each_configured_source_in_its_own_thread(
    store: Store, desk_engine: Engine, desk: Desk
) -> None:
    from serviceflow.live import SystemClock

    service = Service(
        store,
        desk_engine,
        clock=SystemClock(),
        config=Config(sources={"helpdesk": {"type": "desk"}, "off": {"type": "desk", "enabled": False}}),
    )
    sources = configured_sources(service)
    assert [source.name for source in sources] == ["helpdesk"]
    desk.add("c1", "first", 0)
    background = Background(service, sweeper=False, delivery=False, sources=sources)
    background.start()
    try:
        wait_until(lambda: service.store.case_count() == 1, 20, "the source thread to store the record")
    finally:
        background.stop()
    assert any(thread.name == "serviceflow-source-helpdesk" for thread in background.threads)
    assert all(source.source.closed for source in sources)  # type: ignore[attr-defined]


def test_start_now_reads_only_what_happens_next(
    store: Store, desk_engine: Engine, clock: ManualClock, desk: Desk
) -> None:
    desk.add("old", "history", 0)
    runner = source_runner(desk_service(store, desk_engine, clock, start="now"), "helpdesk")
    assert runner.sync().accepted == 0
    desk.add("new", "fresh", 1)
    assert runner.sync().accepted == 1
    assert store.case_count() == 1 and stored_ids(runner.service, "new") == ["desk-ev2"]


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"type": "mailbox"}, r"no plugin offers a source 'mailbox' \(sources: desk\)"),
        ({"type": "desk", "interval": "soon"}, r"\[sources.helpdesk\] 'interval' is not a duration"),
        ({"type": "desk", "interval": "0s"}, "'interval' must be longer than zero"),
        ({"type": "desk", "start": "yesterday"}, "'start' must be 'beginning'"),
        ({"type": "desk", "enabled": "yes"}, "'enabled' must be true or false"),
        ({"type": "desk", "colour": "blue"}, "desk: unknown option 'colour'"),
    ],
)
def test_a_bad_source_table_is_a_configuration_error(
    store: Store, desk_engine: Engine, clock: ManualClock, table: dict[str, Any], message: str
) -> None:
    service = Service(store, desk_engine, clock=clock, config=Config(sources={"helpdesk": table}))
    with pytest.raises(ConfigError, match=message):
        configured_sources(service)


def test_the_source_gets_its_options_without_the_services_keys_and_a_context(
    store: Store, clock: ManualClock, desk: Desk
) -> None:
    plugin = DeskPlugin(desk)
    host = PluginHost()
    host.register(plugin, "deskplugin")
    with Engine.from_config(config=Config(), plugins=host) as engine:
        service = desk_service(store, engine, clock, interval="5m", **{"poll-timeout": "10s"})
        runner = source_runner(service, "helpdesk")
        desk.add("c1", "first", 0)
        runner.sync()
    ((options, context),) = plugin.created
    assert options == {"url": "https://desk.example"}
    assert (context.name, context.now(), context.case_of_record("desk-ev1")) == ("helpdesk", T0, "c1")
    assert context.case_of_record("desk-nope") is None
    assert runner.settings.interval == timedelta(minutes=5)


def test_the_store_migrates_to_the_connectors_tables(store: Store) -> None:
    assert store.schema_status().current == latest_version() == 2
    assert store.source_states() == []


# --- serviceflow sync -----------------------------------------------------------------------------------

DESK_PLUGIN_FILE = '''
import json
from pathlib import Path
from serviceflow.plugin import SourceBatch, SourceSpec, hookimpl


class JsonlDesk:
    """Events in a JSON Lines file; the cursor is the number of lines read."""

    def __init__(self, options, context):
        self.path = Path(options["path"])
        if not self.path.is_absolute() and context.config_dir is not None:
            self.path = context.config_dir / self.path

    def poll(self, cursor):
        if self.path.read_text().startswith("FAIL"):
            raise ConnectionError("the desk refused the connection")
        lines = self.path.read_text().splitlines()
        start = int(cursor or 0)
        return SourceBatch([json.loads(line) for line in lines[start:]], str(len(lines)))

    def close(self):
        pass


@hookimpl
def serviceflow_sources():
    return [SourceSpec("jsonl-desk", JsonlDesk, "events in a JSON Lines file")]
'''


@pytest.fixture
def sync_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "jsonldesk.py").write_text(DESK_PLUGIN_FILE)
    events = tmp_path / "events.jsonl"
    desk = Desk()
    desk.add("c7", "Your engineer comes at 10.", 0)
    desk.add("c7", "Rescheduled to 11, sorry.", 30)
    events.write_text("".join(json.dumps(desk.record(event)) + "\n" for event in desk.events))
    config = tmp_path / "serviceflow.toml"
    config.write_text('[sources.helpdesk]\ntype = "jsonl-desk"\npath = "events.jsonl"\ninterval = "1m"\n')
    return plugins, config, events


def sync_command(plugins: Path, config: Path, *extra: str) -> list[str]:
    return [
        "sync", "helpdesk", "--once", "--plugins-dir", str(plugins), "--config", str(config),
        "--db", str(config.parent / "sf.db"), "--now", "2024-05-06T12:00:00Z", *extra,
    ]  # fmt: skip


def test_sync_once_stores_the_records_and_a_second_run_stores_nothing(
    sync_setup: tuple[Path, Path, Path],
) -> None:
    plugins, config, _events = sync_setup

    first = CliRunner().invoke(main, sync_command(plugins, config))
    second = CliRunner().invoke(main, sync_command(plugins, config))
    reread = CliRunner().invoke(main, sync_command(plugins, config, "--from", "0"))

    assert first.exit_code == 0, first.output
    assert (
        first.stdout
        == "helpdesk: 1 poll, 2 records stored, 0 already held, 0 rejected, 0 problems; cursor 2\n"
    )
    assert (
        second.stdout
        == "helpdesk: 1 poll, 0 records stored, 0 already held, 0 rejected, 0 problems; cursor 2\n"
    )
    assert (
        reread.stdout
        == "helpdesk: 1 poll, 0 records stored, 2 already held, 0 rejected, 0 problems; cursor 2\n"
    )
    store = open_store(str(config.parent / "sf.db"))
    try:
        assert store.case_count() == 1 and store.source_states()[0].records == 2
    finally:
        store.close()


def test_sync_once_of_a_failing_source_exits_2_and_counts_the_failure(
    sync_setup: tuple[Path, Path, Path],
) -> None:
    plugins, config, events = sync_setup
    events.write_text("FAIL\n")

    result = CliRunner().invoke(main, sync_command(plugins, config))

    assert result.exit_code == 2
    assert result.stderr == (
        "serviceflow: error: source 'helpdesk': poll failed: "
        "ConnectionError: the desk refused the connection\n"
    )
    store = open_store(str(config.parent / "sf.db"))
    try:
        (state,) = store.source_states()
        assert (state.failures, state.cursor) == (1, None)
    finally:
        store.close()


def test_sync_of_a_source_that_is_not_configured_says_which_are(sync_setup: tuple[Path, Path, Path]) -> None:
    plugins, config, _events = sync_setup
    command = sync_command(plugins, config)
    command[1] = "mailbox"
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2
    assert "no [sources.mailbox] table in the configuration (configured sources: helpdesk)" in result.stderr


def test_metrics_show_each_sources_polls_and_failures(
    store: Store, desk_engine: Engine, clock: ManualClock, desk: Desk
) -> None:
    from serviceflow.http import create_app

    service = desk_service(store, desk_engine, clock)
    runner = source_runner(service, "helpdesk")
    desk.add("c1", "first", 0)
    runner.sync()
    runner.failed(SourceFailed("helpdesk", "poll failed: timeout"))
    with TestClient(create_app(service)) as client:
        text = client.get("/metrics").text
    assert 'serviceflow_source_polls_total{source="helpdesk"} 2.0' in text
    assert 'serviceflow_source_records_total{source="helpdesk"} 1.0' in text
    assert 'serviceflow_source_failures{source="helpdesk"} 1.0' in text
    assert 'serviceflow_source_last_success_timestamp_seconds{source="helpdesk"} 1.714986e+09' in text


def test_the_connectors_module_imports_no_http_framework_or_database_driver() -> None:
    blocked = [
        "click",
        "fastapi",
        "starlette",
        "httpx",
        "psycopg",
        "psycopg_pool",
        "sqlite3",
        "uvicorn",
        "pydantic",
    ]
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import serviceflow.live.connectors, serviceflow.plugin, serviceflow.live.runner
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_configuration_file_takes_sources_and_routes_tables(tmp_path: Path) -> None:
    path = tmp_path / "serviceflow.toml"
    path.write_text('[sources.rt]\nurl = "https://rt"\n\n[routes.twilio]\npublic-url = "https://x"\n')
    config = load_config(path)
    assert config.sources == {"rt": {"url": "https://rt"}} and config.routes == {
        "twilio": {"public-url": "https://x"}
    }
    path.write_text('sources = "rt"\n')
    with pytest.raises(ConfigError, match="'sources' must be a table of tables"):
        load_config(path)
