"""``lint --dask``: the input read in blocks on Dask workers, the cases shuffled, the report of one process.

The run, as tasks (every name below is a function of :mod:`serviceflow.dask.worker`):

1. **read and route** each block (:mod:`serviceflow.dask.blocks`): its items, numbered within the
   block, split by the partition that owns their case (the stable hash of ``case_id`` that
   ``--jobs`` uses, :func:`serviceflow.coordination.partition_of`); its line and item counts;
2. **build** each partition (a :class:`~serviceflow.dask.worker.Shard`): the items routed to it from
   every block, admitted in input order at the ``seq`` and line one process gives them, once every
   block's counts give each block's first ``seq`` and line;
3. **settle** what crosses partitions with :mod:`serviceflow.coordination`: shared record ids (the
   digests split by value, each slice checked by its own task; the client sees only the records
   whose id more than one partition kept), then the customer scope (each partition's facts split by
   customer, each slice's previous cases computed by its own task and sent to the partitions);
4. **evaluate** each partition and gather what it found to the client, which merges it in report
   order: the evaluation is equal to one process's, so every report format is byte for byte the same.

Nothing is reported until every partition is evaluated. A worker lost on the way is Dask's to
recover: it recomputes what was lost from the blocks. If it cannot (a task killed its worker
``distributed.scheduler.allowed-failures`` times), the run fails with a message naming the task, and
no report is written.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from serviceflow.contributions import ReaderSpec
from serviceflow.coordination import duplicate_drops
from serviceflow.dask import worker as tasks
from serviceflow.dask.blocks import Block, block_offsets, plan_blocks
from serviceflow.dask.cluster import DaskTarget, connect, dashboard_link
from serviceflow.errors import ServiceflowError
from serviceflow.findings import Evaluation, EvaluationCollector
from serviceflow.records.raw import RECORDS_FORMAT, STDIN

__all__ = ["PARTITION_BYTES", "default_partitions", "evaluate_on_dask", "shipped"]

#: Input bytes per partition, past one partition per worker thread: a partition is evaluated by one
#: task, so it should be small enough to spread the work and to retry cheaply.
PARTITION_BYTES = 256 * 1024 * 1024
#: Blocks per worker thread the input is cut into, where it is large enough: reading and routing run
#: in parallel, and a slow block delays the rest less.
BLOCKS_PER_THREAD = 4
#: At most this many slices of the digests and of the customer facts: each slice is one task per
#: partition to cut and one to settle, so the tasks grow with partitions x slices.
MAX_SLICES = 64


def evaluate_on_dask(
    engine: Any,
    reader: ReaderSpec,
    sources: Sequence[str | Path],
    now: datetime,
    target: DaskTarget | str | Any,
    *,
    progress: Any = None,
    validate_only: bool = False,
) -> Evaluation:
    """Read ``sources`` and evaluate their cases on Dask (see the module docstring).

    ``target``: ``local:N``, a scheduler address, an open ``distributed.Client``, or a
    :class:`~serviceflow.dask.cluster.DaskTarget`. ``progress`` (a :class:`serviceflow.run.Progress`)
    hears of the blocks read (as bytes of input) and the partitions evaluated, and, when it has a
    ``dashboard(link)`` method, of the Dask dashboard.
    """
    target = DaskTarget.of(target)
    if any(str(source) == STDIN for source in sources):
        plan_blocks([STDIN], reader)  # refused before a cluster is started for nothing
    with connect(target) as client, _failures_explained():
        threads = max(1, sum(client.nthreads().values()))
        blocks, total = plan_blocks(sources, reader, target.block_size, spread=BLOCKS_PER_THREAD * threads)
        link = dashboard_link(client)
        announce = getattr(progress, "dashboard", None)
        if link is not None and announce is not None:
            announce(link)
        file_reader = None if reader.name == RECORDS_FORMAT else reader
        with shipped(client, engine, file_reader, now, validate_only) as token:
            partitions = target.partitions or default_partitions(client, total)
            shards = _read_into_shards(client, token, blocks, total, partitions, progress)
            collectors = settle_and_evaluate(
                client, token, shards, validate_only, customer_scope=getattr(engine, "customer_scope", True)
            )
            return _gather(client, collectors, now, progress)


def default_partitions(client: Any, total_bytes: int) -> int:
    """One partition per worker thread, more for a large input (:data:`PARTITION_BYTES` each), in a
    multiple of the threads so that every worker gets as many."""
    threads = max(1, sum(client.nthreads().values()))
    wanted = max(threads, math.ceil(total_bytes / PARTITION_BYTES))
    return math.ceil(wanted / threads) * threads


@contextlib.contextmanager
def shipped(
    client: Any, engine: Any, reader: ReaderSpec | None, now: datetime, validate_only: bool
) -> Iterator[str]:
    """The engine installed on every worker for the length of the block; the run's token."""
    token = uuid.uuid4().hex[:16]
    shipment = tasks.EngineShipment.pack(
        token,
        engine.admission,
        engine.evaluator,
        reader,
        now,
        validate_only,
        getattr(engine, "customer_scope", True),
    )
    name = f"serviceflow-{token}"
    client.register_plugin(shipment, name=name)
    try:
        yield token
    finally:
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(name)


def _read_into_shards(
    client: Any, token: str, blocks: list[Block], total: int, partitions: int, progress: Any
) -> list[Any]:
    """Steps 1 and 2: one future per partition, each a Shard of admitted records."""
    from distributed import as_completed

    count = len(blocks)
    routed = client.map(
        tasks.read_and_route,
        [token] * count,
        blocks,
        [partitions] * count,
        key=[f"serviceflow-read-{token}-{block.index}" for block in blocks],
    )
    counts = client.map(
        tasks.counts_of, routed, key=[f"serviceflow-counts-{token}-{i}" for i in range(count)]
    )
    layout = client.submit(_layout, blocks, counts, key=f"serviceflow-layout-{token}")
    workers = _worker_addresses(client)
    shards = []
    for index in range(partitions):
        buckets = client.map(
            tasks.bucket_of,
            routed,
            [index] * count,
            key=[f"serviceflow-bucket-{token}-{index}-{i}" for i in range(count)],
        )
        shards.append(
            client.submit(
                _build,
                token,
                layout,
                buckets,
                key=f"serviceflow-partition-{token}-{index}",
                # Spread the partitions over the workers: where their inputs are is no guide, since
                # every partition takes a little of every block.
                workers=[workers[index % len(workers)]] if workers else None,
                allow_other_workers=True,
            )
        )
    del routed
    if progress is not None:
        size_of = {future.key: block.size for future, block in zip(counts, blocks, strict=True)}
        done = items = 0
        for future in as_completed(counts):
            done += size_of[future.key]
            items += future.result()[1]
            progress.reading(done, total, items)
    return shards


def _layout(blocks: Sequence[Block], counts: Sequence[tuple[int, int, bool]]) -> tasks.Parcel:
    """Per block: the file name its items carry, its first ``seq``, the lines before it in its file."""
    offsets = block_offsets(blocks, counts)
    return tasks.Parcel([(block.name, seq, line) for block, (seq, line) in zip(blocks, offsets, strict=True)])


def _build(token: str, layout: tasks.Parcel, buckets: list[Any]) -> tasks.Shard:
    names = [name for name, _, _ in layout.content]
    offsets = [(seq, line) for _, seq, line in layout.content]
    return tasks.build_shard(token, names, offsets, buckets)


def settle_and_evaluate(
    client: Any, token: str, shards: list[Any], validate_only: bool, *, customer_scope: bool = True
) -> list[Any]:
    """Steps 3 and 4: the duplicates and the customer scope settled; one future per partition, each
    the :class:`~serviceflow.findings.EvaluationCollector` of what it found."""
    if validate_only:
        # Validation keeps no record, so nothing crosses partitions.
        return [
            client.submit(tasks.evaluate, token, shard, None, key=f"serviceflow-evaluate-{token}-{index}")
            for index, shard in enumerate(shards)
        ]
    slices = min(len(shards), MAX_SLICES)
    shared = _shared_digests(client, token, shards, slices)
    if shared:
        found = client.gather(
            [client.submit(tasks.records_with_digests, shard, shared, pure=False) for shard in shards]
        )
        drops = duplicate_drops(found)
        shards = [
            client.submit(tasks.drop_duplicates, shard, drop, key=f"serviceflow-settled-{token}-{index}")
            if drop
            else shard
            for index, (shard, drop) in enumerate(zip(shards, drops, strict=True))
        ]
    # Without a policy that reads previous_case, the customer scope is not computed, as in one process.
    previous = _previous_cases(client, token, shards, slices) if customer_scope else [None] * len(shards)
    return [
        client.submit(
            tasks.evaluate, token, shard, previous[index], key=f"serviceflow-evaluate-{token}-{index}"
        )
        for index, shard in enumerate(shards)
    ]


def _shared_digests(client: Any, token: str, shards: list[Any], slices: int) -> set[int]:
    """The record id digests more than one partition kept, each slice of digests settled by a task."""
    cut = [
        client.submit(tasks.digest_slices, shard, slices, key=f"serviceflow-digests-{token}-{index}")
        for index, shard in enumerate(shards)
    ]
    settled = [
        client.submit(
            tasks.shared_in_slice,
            *_pick(client, cut, part, f"serviceflow-digest-slice-{token}-{part}"),
            key=f"serviceflow-shared-{token}-{part}",
        )
        for part in range(slices)
    ]
    shared: set[int] = set()
    for digests in client.gather(settled):
        shared |= digests
    return shared


def _previous_cases(client: Any, token: str, shards: list[Any], slices: int) -> list[list[Any]]:
    """Per partition: futures of the previous cases of its cases, one per slice of customers."""
    cut = [
        client.submit(tasks.facts_slices, shard, slices, key=f"serviceflow-facts-{token}-{index}")
        for index, shard in enumerate(shards)
    ]
    answered = [
        client.submit(
            tasks.previous_in_slice,
            *_pick(client, cut, part, f"serviceflow-facts-slice-{token}-{part}"),
            key=f"serviceflow-previous-{token}-{part}",
        )
        for part in range(slices)
    ]
    return [
        _pick(client, answered, index, f"serviceflow-previous-of-{token}-{index}")
        for index in range(len(shards))
    ]


def _pick(client: Any, futures: list[Any], index: int, prefix: str) -> list[Any]:
    """Element ``index`` of each future's list, as futures (the other elements stay where they are)."""
    return client.map(
        tasks.slice_of, futures, [index] * len(futures), key=[f"{prefix}-{i}" for i in range(len(futures))]
    )


def _gather(client: Any, collectors: list[Any], now: datetime, progress: Any) -> Evaluation:
    from distributed import as_completed

    merged = EvaluationCollector(now)
    total = len(collectors)
    for done, future in enumerate(as_completed(collectors), start=1):
        merged.merge(future.result())
        if progress is not None:
            progress.evaluating(done, total)
    return merged.freeze()


def _worker_addresses(client: Any) -> list[str]:
    """Each worker thread's worker, sorted, so that partitions go round the threads."""
    return [address for address, threads in sorted(client.nthreads().items()) for _ in range(max(threads, 1))]


@contextlib.contextmanager
def _failures_explained() -> Iterator[None]:
    """Dask's failures as serviceflow errors that say no report was written."""
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    try:
        yield
    except ServiceflowError:
        raise
    except KilledWorker as exc:
        raise ServiceflowError(
            f"a Dask worker died each time it ran {exc.task!r} ({exc.allowed_failures + 1} times "
            f"or more: out of memory, or killed); no report was written"
        ) from exc
    except (CommClosedError, OSError, TimeoutError) as exc:
        raise ServiceflowError(f"lost the Dask scheduler: {exc}; no report was written") from exc
    except Exception as exc:
        raise ServiceflowError(
            f"a Dask task failed: {type(exc).__name__}: {exc}; no report was written"
        ) from exc
