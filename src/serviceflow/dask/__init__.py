"""serviceflow on Dask: lint input too large for one machine, with the report one process gives.

``serviceflow lint PATH... --dask local:N`` (or ``--dask tcp://SCHEDULER:8786``) reads the input in
blocks on the workers, shuffles the records by case, settles what crosses partitions and evaluates
each partition where it lies (:mod:`.pipeline`); :func:`lint_bag` and :func:`lint_dataframe` do the
same for records already in a Dask collection (:mod:`.collections`). Needs the ``dask`` extra:
``pip install 'serviceflow[dask]'``. See docs/scale-out.md.
"""

from serviceflow.errors import ServiceflowError

try:
    import distributed  # noqa: F401  # checked first, to say which extra is missing
except ImportError as exc:
    raise ServiceflowError("--dask needs Dask: pip install 'serviceflow[dask]'") from exc

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
]
