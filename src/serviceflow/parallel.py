"""``lint --jobs N``: the cases split between N worker processes, the findings those of one process.

The main process reads the input and routes each item to the worker that owns its case (a stable
hash of ``case_id``); each worker admits its items into a :class:`~serviceflow.batch.Partition`. Two
things cross partitions, and the main process settles them as one partition would have, with the
steps of :mod:`serviceflow.coordination` (which Dask shares):

* a record id seen in two partitions (two cases): every worker reports a digest of each id it kept,
  and for the ids more than one kept, the one first in the input stays and the others become
  "duplicate record id" errors where they are;
* the customer scope (a customer's earlier close, for the returning-customer policy): every worker
  reports what its cases say of their customers, and each gets back the previous case of each of its
  cases, computed from all of them.

Then every worker evaluates its cases and sends back what it found; the main process merges it in
report order. The report, its order and the exit status are those of ``--jobs 1``.

Routing does not decode JSON Lines: the case id is found in the line's bytes when that is certain
(the key ``"case_id"`` appears once and its value has no escape), else the line is decoded. Where a
line goes does not change what it means: its worker decodes and validates it in full, and a line
with no case id goes to the first worker, which reports it.

Workers are forked from the main process after the engine is built, so they start at once, with the
compiled policies, schemas and plugins already in memory. A worker that dies (killed, out of memory)
ends the run with an error naming it: there is no report rather than a partial one. Ctrl-C stops every
worker. Where ``fork`` is not available (Windows), use ``--jobs 1``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, BinaryIO

from serviceflow.batch import Partition
from serviceflow.contributions import ReaderSpec
from serviceflow.coordination import (
    FoundRecord,
    case_id_of,
    case_id_of_line,
    partition_of,
    settle_duplicates,
    share_customer_scope,
)
from serviceflow.errors import InputError, Location, ServiceflowError
from serviceflow.evaluators.base import Evaluator
from serviceflow.feeding import feed
from serviceflow.findings import Evaluation, EvaluationCollector
from serviceflow.records.admission import Admission
from serviceflow.records.customers import CustomerFacts, PreviousCase
from serviceflow.records.raw import RawItem

__all__ = ["evaluate_in_parallel", "worker_for"]

#: Items sent to a worker at a time: large enough that pickling is cheap per item, small enough that
#: workers start early.
BATCH_ITEMS = 2000


def worker_for(case_id: bytes | None, workers: int) -> int:
    """The worker that owns a case: :func:`serviceflow.coordination.partition_of`."""
    return partition_of(case_id, workers)


def evaluate_in_parallel(
    engine: Any,
    reader: ReaderSpec,
    sources: Sequence[str | Path],
    now: datetime,
    *,
    stdin: BinaryIO | None = None,
    jobs: int,
    progress: Any = None,
    validate_only: bool = False,
) -> Evaluation:
    """Read ``sources`` and evaluate their cases in ``jobs`` worker processes (see the module docstring)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        raise ServiceflowError("--jobs needs the 'fork' start method, which this system lacks: use --jobs 1")
    context = multiprocessing.get_context("fork")
    workers = [
        _Worker.start(context, engine.admission, engine.evaluator, now, index, validate_only)
        for index in range(jobs)
    ]
    try:
        router = _Router(workers)
        feed(router, reader, sources, stdin=stdin, progress=progress)
        router.flush()
        coordinated = _Workers(workers)
        settle_duplicates(coordinated)
        share_customer_scope(coordinated)
        for worker in workers:
            worker.send(("evaluate",))
        merged = EvaluationCollector(now)
        for done, worker in enumerate(workers, start=1):
            merged.merge(worker.receive())
            if progress is not None:
                progress.evaluating(done, len(workers))
        return merged.freeze()
    finally:
        for worker in workers:
            worker.stop()


class _Workers:
    """The workers as :func:`settle_duplicates` and :func:`share_customer_scope` see them: each
    question sent to every worker, the answers received in worker order."""

    def __init__(self, workers: list[_Worker]) -> None:
        self.workers = workers

    def _ask(self, *message: Any) -> list[Any]:
        for worker in self.workers:
            worker.send(message)
        return [worker.receive() for worker in self.workers]

    def _tell(self, kind: str, payloads: Sequence[Any]) -> None:
        for worker, payload in zip(self.workers, payloads, strict=True):
            worker.send((kind, payload))
        for worker in self.workers:
            worker.receive()

    def id_digests(self) -> Iterator[list[tuple[int, int]]]:
        # One worker's digests at a time: a million records' worth is large.
        for worker in self.workers:
            worker.send(("digests",))
        for worker in self.workers:
            yield worker.receive()

    def records_with_digests(self, digests: set[int]) -> list[list[FoundRecord]]:
        return self._ask("records", digests)

    def drop_duplicates(self, drops: Sequence[Mapping[int, Location | None]]) -> None:
        self._tell("drop", drops)

    def customer_facts(self) -> list[CustomerFacts]:
        return self._ask("facts")

    def use_previous_cases(self, previous: Sequence[Mapping[str, PreviousCase]]) -> None:
        self._tell("previous", previous)


class _Router:
    """Sends each item read to the worker that owns its case, in batches."""

    def __init__(self, workers: list[_Worker]) -> None:
        self.workers = workers
        self.count = len(workers)
        self.batches: list[list[tuple[Any, ...]]] = [[] for _ in workers]
        self.files: dict[str | None, int] = {}

    def add_line(self, line: bytes, origin: Location, seq: int) -> None:
        self._put(
            partition_of(case_id_of_line(line), self.count),
            ("l", line, self._file(origin.file), origin.line, seq),
        )

    def add_raw(self, item: RawItem, seq: int) -> None:
        owner = partition_of(case_id_of(item.data), self.count) if item.error is None else 0
        self._put(owner, ("r", item, seq))

    def input_error(self, error: InputError, seq: int) -> None:
        self._put(0, ("e", error, seq))

    def _file(self, name: str | None) -> int:
        index = self.files.get(name)
        if index is None:
            index = self.files[name] = len(self.files)
            for worker in self.workers:
                worker.send(("file", index, name))
        return index

    def _put(self, owner: int, entry: tuple[Any, ...]) -> None:
        batch = self.batches[owner]
        batch.append(entry)
        if len(batch) >= BATCH_ITEMS:
            self.workers[owner].send(("items", batch))
            self.batches[owner] = []

    def flush(self) -> None:
        for owner, batch in enumerate(self.batches):
            if batch:
                self.workers[owner].send(("items", batch))
                self.batches[owner] = []


class _Worker:
    """One worker process and the main process's end of its pipe."""

    def __init__(
        self, process: multiprocessing.process.BaseProcess, connection: Connection, index: int
    ) -> None:
        self.process, self.connection, self.index = process, connection, index

    @classmethod
    def start(
        cls,
        context: Any,
        admission: Admission,
        evaluator: Evaluator,
        now: datetime,
        index: int,
        validate_only: bool = False,
    ) -> _Worker:
        mine, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, mine, admission, evaluator, now, validate_only),
            name=f"serviceflow-worker-{index}",
        )
        process.start()
        theirs.close()
        return cls(process, mine, index)

    def send(self, message: tuple[Any, ...]) -> None:
        try:
            self.connection.send(message)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise self._died() from None

    def receive(self) -> Any:
        try:
            reply = self.connection.recv()
        except (EOFError, ConnectionResetError, OSError):
            raise self._died() from None
        if isinstance(reply, tuple) and reply and reply[0] == "failed":
            raise ServiceflowError(f"worker {self.index} failed: {reply[1]}; no report was written")
        return reply

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def _died(self) -> ServiceflowError:
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        elif code is not None:
            how = f"exited with status {code}"
        else:
            how = "stopped answering"
        return ServiceflowError(f"worker {self.index} (pid {self.process.pid}) {how}; no report was written")


def _serve(
    connection: Connection,
    parents_end: Connection,
    admission: Admission,
    evaluator: Evaluator,
    now: datetime,
    validate_only: bool,
) -> None:
    """A worker's life: admit the items it is sent, answer the coordinator, evaluate, report, exit."""
    parents_end.close()
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a worker at once; the main process reports
    partition = Partition(admission, now, validate_only=validate_only)
    files: dict[int, str | None] = {}
    status = 0
    try:
        for message in _messages(connection):
            kind = message[0]
            if kind == "items":
                for entry in message[1]:
                    tag = entry[0]
                    if tag == "l":
                        partition.add_line(entry[1], Location(files[entry[2]], entry[3]), entry[4])
                    elif tag == "r":
                        partition.add_raw(entry[1], entry[2])
                    else:
                        partition.input_error(entry[1], entry[2])
            elif kind == "file":
                files[message[1]] = message[2]
            elif kind == "digests":
                connection.send(partition.id_digests())
            elif kind == "records":
                connection.send(partition.records_with_digests(message[1]))
            elif kind == "drop":
                partition.drop_duplicates(message[1])
                connection.send(("dropped",))
            elif kind == "facts":
                connection.send(partition.customer_facts())
            elif kind == "previous":
                partition.use_previous_cases(message[1])
                connection.send(("ok",))
            elif kind == "evaluate":
                connection.send(partition.evaluate(evaluator))
                break
    except Exception as exc:  # reported by the main process, which ends the run
        with contextlib.suppress(OSError):
            connection.send(("failed", f"{type(exc).__name__}: {exc}"))
        status = 1
    finally:
        with contextlib.suppress(OSError):
            connection.close()
    # Leave without tearing down a heap of a million records object by object.
    os._exit(status)


def _messages(connection: Connection) -> Iterator[tuple[Any, ...]]:
    while True:
        try:
            yield connection.recv()
        except EOFError:
            return
