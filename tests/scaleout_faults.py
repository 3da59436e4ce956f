"""Faults for the Dask tests: an evaluator that kills the worker process running it.

It travels to the workers by value (the test registers this module with cloudpickle), and kills only
inside a Dask worker, never the test process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any


class KillingEvaluator:
    """Wraps an evaluator; the first case it is asked about on a Dask worker ends that worker."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def evaluate_case(self, case_id: str, records: Sequence[Any], now: datetime) -> Any:
        try:
            from distributed import get_worker

            get_worker()
        except (ImportError, ValueError):
            return self.inner.evaluate_case(case_id, records, now)
        os._exit(17)

    def close(self) -> None:
        self.inner.close()
