"""What runs on a Dask worker: the engine shipped once, blocks read and routed, partitions kept and evaluated.

**Shipped once per worker.** The compiled policies, the evaluator, the record schemas, the enrichers,
the calendars, the reader, ``now``: a run's :class:`EngineShipment` carries them, pickled once on the
client, and Dask hands it to every worker when the run starts (and to any worker that joins or
replaces a lost one later). Tasks name the run by its token and find the engine in
:data:`INSTALLED`; none of them carries it. The admission's fast validator is native code that does
not pickle, so the schemas travel and each worker compiles them once (milliseconds).

**Partitions live on the workers.** A :class:`Shard` is one partition of the run's cases
(a :class:`~serviceflow.batch.Partition`) held in a worker's memory between the coordinator's steps.
It pickles without the engine (Dask may move it to another worker or spill it to disk) and finds the
engine again where it lands. The two steps that change it (dropping duplicates, then evaluating)
return it or its findings as new results, so that if a worker is lost, Dask recomputes it from its
lineage (the blocks) rather than reuse a half-changed one.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cloudpickle
from distributed.diagnostics.plugin import WorkerPlugin

from serviceflow.batch import Partition, frozen_heap, held_by_refcount
from serviceflow.contributions import ReaderSpec
from serviceflow.coordination import (
    FoundRecord,
    case_id_of,
    case_id_of_line,
    partition_of,
    previous_cases,
    shared_digests,
    slice_digests,
    slice_facts,
)
from serviceflow.dask.blocks import ERROR, LINE, Block, BlockItems, read_block
from serviceflow.errors import Location, ServiceflowError
from serviceflow.evaluators.base import Evaluator
from serviceflow.findings import EvaluationCollector
from serviceflow.records.admission import Admission
from serviceflow.records.customers import CustomerFacts, PreviousCase
from serviceflow.records.validate import RecordValidator

__all__ = ["INSTALLED", "EngineShipment", "Installed", "Shard"]


@dataclass
class Installed:
    """A run's engine on one worker."""

    admission: Admission
    evaluator: Evaluator
    reader: ReaderSpec | None
    now: datetime
    validate_only: bool
    customer_scope: bool

    def partition(self) -> Partition:
        """An empty partition for this run."""
        return Partition(
            self.admission, self.now, validate_only=self.validate_only, customer_scope=self.customer_scope
        )


#: Runs whose engine is installed in this process, by token.
INSTALLED: dict[str, Installed] = {}
#: How many times an engine was installed in this process, by token: a test reads it to check that
#: the engine was shipped once per worker, not once per task.
INSTALL_COUNTS: dict[str, int] = {}


class EngineShipment(WorkerPlugin):
    """Installs one run's engine on each worker it is given to (Dask calls :meth:`setup` there)."""

    idempotent = False

    def __init__(self, token: str, payload: bytes) -> None:
        self.token = token
        self.payload = payload

    @classmethod
    def pack(
        cls,
        token: str,
        admission: Admission,
        evaluator: Evaluator,
        reader: ReaderSpec | None,
        now: datetime,
        validate_only: bool,
        customer_scope: bool = True,
    ) -> EngineShipment:
        """The shipment of an engine's parts, pickled once here.

        Plugins loaded from a ``--plugins-dir`` are modules no worker could import, so they travel by
        value; installed plugin packages must be installed on the workers, as for any Dask code.
        """
        for name, module in list(sys.modules.items()):
            if name.startswith("serviceflow_plugins_dir.") and module is not None:
                cloudpickle.register_pickle_by_value(module)
        parts = (
            admission.validator.schemas,
            admission.enrichers,
            admission.calendars,
            evaluator,
            reader,
            now,
            validate_only,
            customer_scope,
        )
        return cls(token, cloudpickle.dumps(parts))

    def setup(self, worker: Any = None) -> None:
        schemas, enrichers, calendars, evaluator, reader, now, validate_only, customer_scope = (
            cloudpickle.loads(self.payload)
        )
        admission = Admission(RecordValidator(schemas), enrichers, calendars)
        if not INSTALLED:
            _collect_less()
        INSTALLED[self.token] = Installed(admission, evaluator, reader, now, validate_only, customer_scope)
        INSTALL_COUNTS[self.token] = INSTALL_COUNTS.get(self.token, 0) + 1

    def teardown(self, worker: Any = None) -> None:
        INSTALLED.pop(self.token, None)
        if not INSTALLED:
            _collect_as_before()


#: The garbage collector's thresholds before a run was installed, to restore when none is left.
_THRESHOLDS: list[tuple[int, int, int]] = []
#: Allocations between two young collections while a run is installed (Python's default: 700).
RUN_GC_THRESHOLD = 100_000


def _collect_less() -> None:
    """Make the cyclic collector run rarely while runs are installed on this worker.

    A run's tasks create millions of small objects that form no cycle (lines, records, tuples of
    the shuffle), many of them while Dask unpickles a transfer, outside any task: every young
    collection walks them, and every full one walks all the records held. One process switches the
    collector off while it admits (:func:`~serviceflow.batch.held_by_refcount`); a worker that serves
    Dask for hours keeps it on, but far less often, so Dask's own cycles are still freed.
    """
    current = gc.get_threshold()
    _THRESHOLDS.append(current)
    gc.set_threshold(max(current[0], RUN_GC_THRESHOLD), *current[1:])


def _collect_as_before() -> None:
    if _THRESHOLDS:
        gc.set_threshold(*_THRESHOLDS.pop())


def installed(token: str) -> Installed:
    """The run's engine on this worker; a clear error where the shipment never arrived."""
    engine = INSTALLED.get(token)
    if engine is None:
        raise ServiceflowError(
            f"serviceflow run {token} has no engine on this Dask worker (was the worker plugin refused?)"
        )
    return engine


class Shard:
    """One partition of a run's cases, kept on a worker between the coordinator's steps."""

    def __init__(self, token: str, partition: Partition, size: int) -> None:
        self.token = token
        self.partition = partition
        self.size = size

    def __sizeof__(self) -> int:
        # Dask weighs moving a result by its size: a partition is large, and must look it, so that its
        # next step runs where it is rather than copying it.
        return self.size

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.partition.__dict__)
        del state["admission"]
        return {"token": self.token, "size": self.size, "partition": state}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.token = state["token"]
        self.size = state["size"]
        partition = Partition.__new__(Partition)
        partition.__dict__.update(state["partition"])
        partition.admission = installed(self.token).admission
        self.partition = partition


class Parcel:
    """A task's result that Dask moves between workers as one pickle.

    Dask serializes a bare list (or dict) element by element, so that it can send frames of the
    ones it knows apart: for a bucket of 66,000 undecoded lines that took 3.2 s against 0.3 s for
    one pickle (measured with two workers here). Every list that crosses workers travels in one.
    """

    __slots__ = ("content",)

    def __init__(self, content: Any) -> None:
        self.content = content

    def __reduce__(self) -> tuple[type[Parcel], tuple[Any]]:
        return (Parcel, (self.content,))

    def __sizeof__(self) -> int:
        content = self.content
        return 64 * len(content) + 64 if hasattr(content, "__len__") else 64


# --- tasks: reading and the shuffle ----------------------------------------------------------------------


def read_and_route(
    token: str, block: Block, partitions: int
) -> tuple[list[list[tuple[Any, ...]]], BlockItems]:
    """Read a block and split its items by the partition that owns their case.

    The items stay undecoded where they can (a JSON Lines line goes as its bytes); the block's counts
    come back without its entries, for the offsets.
    """
    engine = installed(token)
    with held_by_refcount():
        return _route(read_block(block, engine.reader), partitions)


def _route(items: BlockItems, partitions: int) -> tuple[list[list[tuple[Any, ...]]], BlockItems]:
    buckets: list[list[tuple[Any, ...]]] = [[] for _ in range(partitions)]
    for entry in items.entries:
        tag = entry[0]
        if tag == LINE:
            owner = partition_of(case_id_of_line(entry[1]), partitions)
        elif tag == ERROR or entry[1].error is not None:
            owner = 0
        else:
            owner = partition_of(case_id_of(entry[1].data), partitions)
        buckets[owner].append(entry)
    items.entries = []
    return buckets, items


def bucket_of(routed: tuple[list[Any], Any], index: int) -> Parcel:
    """The items of a routed block (or collection partition) for partition ``index``."""
    return Parcel(routed[0][index])


def counts_of(routed: tuple[list[list[tuple[Any, ...]]], BlockItems]) -> tuple[int, int, bool]:
    """``(lines, items, relative)`` of a routed block."""
    items = routed[1]
    return items.lines, items.items, items.relative


def build_shard(
    token: str,
    names: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    buckets: Sequence[Parcel],
) -> Shard:
    """Admit the items routed to one partition, block by block (so in input order), at their ``seq``."""
    partition = installed(token).partition()
    with held_by_refcount():
        size = _admit_blocks(partition, names, offsets, [bucket.content for bucket in buckets])
    # Admitted records take several times the bytes they were read from.
    return Shard(token, partition, 4 * size + 4096)


def _admit_blocks(
    partition: Partition,
    names: Sequence[str],
    offsets: Sequence[tuple[int, int]],
    buckets: Sequence[list[tuple[Any, ...]]],
) -> int:
    size = 0
    for name, (first_seq, first_line), bucket in zip(names, offsets, buckets, strict=True):
        for entry in bucket:
            tag = entry[0]
            if tag == LINE:
                line = entry[1]
                size += len(line)
                partition.add_line(line, Location(name, first_line + entry[2]), first_seq + entry[3])
            elif tag == ERROR:
                partition.input_error(entry[1], first_seq + entry[2])
            else:
                size += 256
                partition.add_raw(entry[1], first_seq + entry[2])
    return size


def admit_items(token: str, items: Sequence[tuple[Any, Location, int]]) -> Shard:
    """Admit decoded items (from a Dask collection) routed to one partition: ``(item, origin, seq)``."""
    partition = installed(token).partition()
    with held_by_refcount():
        for item, origin, seq in sorted(items, key=_by_seq):
            partition.add(item, origin, seq)
    return Shard(token, partition, 1024 * len(items) + 4096)


def _by_seq(entry: tuple[Any, Location, int]) -> int:
    return entry[2]


# --- tasks: the coordinator's steps (serviceflow.coordination) --------------------------------------------


def digest_slices(shard: Shard, slices: int) -> list[list[tuple[int, int]]]:
    return slice_digests(shard.partition.id_digests(), slices)


def slice_of(parts: Sequence[Any], index: int) -> Parcel:
    return Parcel(parts[index])


def shared_in_slice(*partitions: Parcel) -> set[int]:
    return shared_digests(part.content for part in partitions)


def records_with_digests(shard: Shard, digests: set[int]) -> list[FoundRecord]:
    return shard.partition.records_with_digests(digests)


def drop_duplicates(shard: Shard, drops: Mapping[int, Location | None]) -> Shard:
    """The shard without the records another partition kept first (a new result: see the module)."""
    shard.partition.drop_duplicates(drops)
    return shard


def facts_slices(shard: Shard, slices: int) -> list[CustomerFacts]:
    return slice_facts(shard.partition.customer_facts(), slices)


def previous_in_slice(*partitions: Parcel) -> list[dict[str, PreviousCase]]:
    return previous_cases([part.content for part in partitions])


def evaluate(token: str, shard: Shard, previous: Iterable[Parcel] | None) -> EvaluationCollector:
    """Evaluate the shard's cases, each told its previous case; what it found (the shard is used up)."""
    partition = shard.partition
    if previous is not None:
        merged: dict[str, PreviousCase] = {}
        for part in previous:
            merged.update(part.content)
        partition.use_previous_cases(merged)
    with frozen_heap():
        return partition.evaluate(installed(token).evaluator)
