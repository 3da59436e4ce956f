"""serviceflow on Dask: lint input too large for one machine, with the report one process gives.

``serviceflow lint PATH... --dask local:N`` (or ``--dask tcp://SCHEDULER:8786``) reads the input in
blocks on the workers, shuffles the records by case, settles what crosses partitions and evaluates
each partition where it lies (:mod:`.pipeline`); :func:`lint_bag` and :func:`lint_dataframe` do the
same for records already in a Dask collection (:mod:`.collections`). Needs the ``dask`` extra:
``pip install 'serviceflow[dask]'``. See docs/scale-out.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from serviceflow.errors import ServiceflowError

if TYPE_CHECKING:
    from serviceflow.dask.cluster import DaskTarget, connect, parse_address
    from serviceflow.dask.collections import DaskEvaluation, lint_bag, lint_dataframe
    from serviceflow.dask.pipeline import evaluate_on_dask

__all__ = [
    "DaskEvaluation",
    "DaskTarget",
    "connect",
    "evaluate_on_dask",
    "lint_bag",
    "lint_dataframe",
    "parse_address",
    "require_dask",
]

#: Public name -> the module that defines it, loaded (and Dask checked) on first use. Planning and
#: reading blocks (:mod:`.blocks`) needs no Dask, so the package itself imports none.
_PUBLIC = {
    "DaskEvaluation": "serviceflow.dask.collections",
    "DaskTarget": "serviceflow.dask.cluster",
    "connect": "serviceflow.dask.cluster",
    "evaluate_on_dask": "serviceflow.dask.pipeline",
    "lint_bag": "serviceflow.dask.collections",
    "lint_dataframe": "serviceflow.dask.collections",
    "parse_address": "serviceflow.dask.cluster",
}


def require_dask() -> None:
    """The usage error naming the extra to install when Dask's scheduler is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ServiceflowError("--dask needs Dask: pip install 'serviceflow[dask]'") from exc


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'serviceflow.dask' has no attribute {name!r}")
    require_dask()
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
