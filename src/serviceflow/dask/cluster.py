"""Where a Dask run goes: a scheduler's address, ``local:N`` for a cluster of N processes here, or a Client.

``local:N`` starts a ``distributed.LocalCluster`` of N worker processes with one thread each (the
evaluation is pure Python: a second thread in a process would wait on the first), listening on
127.0.0.1 only, its dashboard too, and stops it when the run ends. An address (``tcp://host:8786``
and any other scheme Dask speaks) connects to a running scheduler and leaves it running.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from serviceflow.dask.blocks import DEFAULT_BLOCK_SIZE
from serviceflow.errors import ServiceflowError

__all__ = ["DaskTarget", "connect", "dashboard_link", "local_cluster", "parse_address"]

_LOCAL = re.compile(r"local:(\d+)")


@dataclass(frozen=True)
class DaskTarget:
    """A Dask run's cluster and how the input is cut.

    ``address``: ``local:N`` or a scheduler address; ``client``: an open ``distributed.Client`` to use
    instead (the caller's, left open). ``block_size``: bytes of JSON Lines per block.
    ``partitions``: how many partitions the cases are split into (default: from the workers and the
    input's size, see :func:`serviceflow.dask.pipeline.default_partitions`).
    """

    address: str | None = None
    client: Any = None
    block_size: int = DEFAULT_BLOCK_SIZE
    partitions: int | None = None

    @classmethod
    def of(cls, target: DaskTarget | str | Any) -> DaskTarget:
        """A target from an address, an open Client, or a target."""
        if isinstance(target, DaskTarget):
            return target
        if isinstance(target, str):
            parse_address(target)
            return cls(address=target)
        return cls(client=target)


def parse_address(address: str) -> int | None:
    """The worker count of ``local:N``, or ``None`` for a scheduler address; ServiceflowError otherwise."""
    local = _LOCAL.fullmatch(address)
    if local is not None:
        workers = int(local.group(1))
        if workers < 1:
            raise ServiceflowError(f"--dask {address}: a local cluster needs at least one worker")
        return workers
    if "://" not in address or address.startswith("local:"):
        raise ServiceflowError(
            f"--dask {address!r} is neither a scheduler address (tcp://HOST:PORT) nor local:N"
        )
    return None


@contextlib.contextmanager
def connect(target: DaskTarget) -> Iterator[Any]:
    """A Client for the target, closed (with its local cluster) when the block ends."""
    from distributed import Client

    if target.client is not None:
        yield target.client
        return
    address = target.address or "local:1"
    workers = parse_address(address)
    if workers is not None:
        cluster = local_cluster(workers)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ServiceflowError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
    with client:
        yield client


def local_cluster(workers: int) -> Any:
    """A ``LocalCluster`` of ``workers`` processes on 127.0.0.1, set up for serviceflow's tasks."""
    import dask
    from distributed import LocalCluster

    # The workers' sampling profiler walks the stack of a task every 10 ms: for long pure-Python
    # tasks it cost a third of their time here. A cluster of one's own can do without it.
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            # Dask's own log lines (a worker restarted, a task retried) would mix with the report's
            # stderr; what matters reaches the user as serviceflow's error or not at all.
            silence_logs=logging.ERROR,
        )


def dashboard_link(client: Any) -> str | None:
    """The dashboard's URL, when the scheduler serves one (it needs bokeh, here and there)."""
    if importlib.util.find_spec("bokeh") is None:
        return None
    try:
        info = client.scheduler_info()
    except Exception:
        return None
    if "dashboard" not in info.get("services", {}):
        return None
    link = client.dashboard_link
    return str(link) if link else None
