"""Lint records already in a Dask collection: a ``dask.bag`` of records or a ``dask.dataframe`` of them.

For those who hold their history in Dask already (read from Parquet, joined with a CRM export)::

    from serviceflow import Engine
    from serviceflow.dask import lint_bag

    with Engine.from_config() as engine, lint_bag(records, engine, now, client=client) as result:
        findings = result.findings()            # a dask.bag of Finding, left on the cluster
        findings.map(Finding.to_dict).to_textfiles("findings/*.jsonl")
        evaluation = result.evaluation()        # or everything gathered: what Engine.evaluate gives

A record is a JSON object as exported (a dict) or a :class:`~serviceflow.records.model.Record`; a
data frame's rows become objects of their non-missing columns (see :func:`row_records`); nested
fields (``actor``) must be object columns, which Dask keeps only with
``dask.config.set({"dataframe.convert-string": False})`` when the frame is made (else it turns them
into strings, which admission refuses). Each record's
place in the collection, counted across partitions, is its ``seq``, and its origin is
``<records>:N`` (N from 1), as :meth:`serviceflow.Engine.evaluate` names them: the same records give
the same evaluation either way. The shuffle, the settling of duplicates and the customer scope, and
the evaluation are those of ``lint --dask`` (:mod:`.pipeline`).
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from typing import Any

from serviceflow.coordination import case_id_of, partition_of
from serviceflow.dask import worker as tasks
from serviceflow.dask.pipeline import settle_and_evaluate, shipped
from serviceflow.errors import Location
from serviceflow.findings import Evaluation, EvaluationCollector, Finding
from serviceflow.records.model import Record

__all__ = ["DaskEvaluation", "lint_bag", "lint_dataframe", "row_records"]

#: The file name of records that came from a collection, as ``Engine.evaluate`` names them.
RECORDS_NAME = "<records>"


class DaskEvaluation:
    """What a collection's lint found, left on the cluster until asked for.

    Use it in a ``with`` block (or call :meth:`close`): the engine stays installed on the workers
    until then, so that Dask can recompute a partition a lost worker held.
    """

    def __init__(
        self, client: Any, collectors: list[Any], now: datetime, stack: contextlib.ExitStack
    ) -> None:
        self.client = client
        self.collectors = collectors
        self.now = now
        self._stack = stack

    def findings(self) -> Any:
        """Every finding (violations, pending obligations, engine errors) as a ``dask.bag``, one
        partition per partition of cases, each in report order."""
        import dask
        import dask.bag

        return dask.bag.from_delayed([dask.delayed(_findings_of)(future) for future in self.collectors])

    def evaluation(self) -> Evaluation:
        """Everything gathered and merged: the evaluation one process gives for the same records."""
        merged = EvaluationCollector(self.now)
        for collector in self.client.gather(self.collectors):
            merged.merge(collector)
        return merged.freeze()

    def close(self) -> None:
        """Release the findings on the cluster and the engine on the workers."""
        self.collectors = []
        self._stack.close()

    def __enter__(self) -> DaskEvaluation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lint_bag(
    records: Any, engine: Any, now: datetime, *, client: Any = None, partitions: int | None = None
) -> DaskEvaluation:
    """Lint a ``dask.bag`` of records at ``now`` on ``client`` (default: the current Dask client).

    ``partitions``: how many partitions the cases are split into (default: one per worker thread).
    Returns when every partition is evaluated; the findings stay on the cluster.
    """
    return _lint_delayed(records.to_delayed(), _route_values, engine, now, client, partitions)


def lint_dataframe(
    frame: Any, engine: Any, now: datetime, *, client: Any = None, partitions: int | None = None
) -> DaskEvaluation:
    """Lint a ``dask.dataframe`` whose columns are record fields (``id``, ``case_id``, ``type``,
    ``at``, ``actor``, ...), one row a record; see :func:`row_records` and :func:`lint_bag`."""
    return _lint_delayed(frame.to_delayed(), _route_rows, engine, now, client, partitions)


def row_records(frame: Any) -> list[dict[str, Any]]:
    """A pandas frame's rows as records: the columns that are not missing (``None``, ``NaN``, ``NaT``),
    numpy scalars as Python values, timestamps in RFC 3339 (a naive one is refused at admission, as
    a date-time without an offset is)."""
    records = []
    for row in frame.to_dict("records"):
        record: dict[str, Any] = {}
        for key, value in row.items():
            if _missing(value):
                continue
            record[str(key)] = _plain(value)
        records.append(record)
    return records


def _lint_delayed(
    parts: list[Any], route: Any, engine: Any, now: datetime, client: Any, partitions: int | None
) -> DaskEvaluation:
    from distributed import default_client, wait

    client = client if client is not None else default_client()
    stack = contextlib.ExitStack()
    try:
        token = stack.enter_context(shipped(client, engine, None, now, False))
        count = max(1, partitions or sum(client.nthreads().values()))
        computed = client.compute(parts)
        routed = client.map(
            route, [count] * len(computed), computed, key=_keys(f"route-{token}", len(computed))
        )
        sizes = client.map(_size_of, routed, key=_keys(f"size-{token}", len(routed)))
        offsets = client.submit(_offsets, sizes, key=f"serviceflow-offsets-{token}")
        shards = []
        for index in range(count):
            buckets = client.map(
                tasks.bucket_of,
                routed,
                [index] * len(routed),
                key=_keys(f"bucket-{token}-{index}", len(routed)),
            )
            shards.append(
                client.submit(_admit, token, offsets, buckets, key=f"serviceflow-partition-{token}-{index}")
            )
        del computed, routed
        collectors = settle_and_evaluate(
            client, token, shards, False, customer_scope=getattr(engine, "customer_scope", True)
        )
        wait(collectors)
        for future in collectors:
            if future.status == "error":
                future.result()  # raises the task's error here
        return DaskEvaluation(client, collectors, now, stack)
    except BaseException:
        stack.close()
        raise


def _keys(prefix: str, count: int) -> list[str]:
    return [f"serviceflow-{prefix}-{index}" for index in range(count)]


def _route_values(partitions: int, values: list[Any]) -> tuple[list[list[tuple[int, Any]]], int]:
    """A collection partition's records split by the partition that owns their case, with their
    position in it; and how many there were."""
    buckets: list[list[tuple[int, Any]]] = [[] for _ in range(partitions)]
    for position, value in enumerate(values):
        case_id = (
            value.case_id.encode("utf-8", "surrogatepass") if isinstance(value, Record) else case_id_of(value)
        )
        buckets[partition_of(case_id, partitions)].append((position, value))
    return buckets, len(values)


def _route_rows(partitions: int, frame: Any) -> tuple[list[list[tuple[int, Any]]], int]:
    return _route_values(partitions, row_records(frame))


def _size_of(routed: tuple[Any, int]) -> int:
    return routed[1]


def _offsets(sizes: list[int]) -> list[int]:
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += size
    return offsets


def _admit(token: str, offsets: list[int], buckets: list[tasks.Parcel]) -> tasks.Shard:
    items = [
        (value, Location(RECORDS_NAME, offset + position + 1), offset + position)
        for offset, bucket in zip(offsets, buckets, strict=True)
        for position, value in bucket.content
    ]
    return tasks.admit_items(token, items)


def _findings_of(collector: EvaluationCollector) -> list[Finding]:
    frozen = collector.freeze()
    return [*frozen.violations, *frozen.pending, *frozen.engine_errors]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas

        return value is pandas.NaT or value is pandas.NA
    except ImportError:  # pragma: no cover - a dask.dataframe always has pandas
        return False


def _plain(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None and hasattr(value, "tzinfo"):
        return isoformat()
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        return item()
    return value
