"""Batch work over many models: convert, check parity and time each, in local worker processes or on Ray.

Ray is an optional extra (``deploy-studio[cluster]``), imported only by
:mod:`engine.batch.cluster` and only when a cluster address is given.
"""

from __future__ import annotations

from engine.batch.runner import BatchReport, default_workers, run_batch
from engine.batch.work import STAGES, BatchOptions

__all__ = ["STAGES", "BatchOptions", "BatchReport", "default_workers", "run_batch"]
