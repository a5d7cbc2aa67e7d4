"""The piccolo table of failed background jobs (see m0008_jobs); `domain.failed_jobs` has the
use-cases. Kept apart so that the table list (`domain.registry`) imports no use-case module."""

from __future__ import annotations

from piccolo.columns import BigSerial, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class FailedJobRow(Table, tablename="failed_jobs"):
    """One job that failed for good."""

    id = BigSerial(primary_key=True)
    job_id = Varchar(length=200)
    function = Varchar(length=100)
    args = Text(default="")
    tries = Integer()
    error = Text()
    failed_at = Timestamptz()
