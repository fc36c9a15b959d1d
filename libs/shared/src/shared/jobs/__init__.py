"""Long-running jobs with heartbeat, progress, cancellation, retries and checkpoints.

A job is a row of the owning service's ``jobs`` table (its migration calls
:func:`shared.jobs.sqla.upgrade_jobs`): what to do (``kind`` and ``params``), its state
(``queued -> running -> succeeded | failed | cancelled``), progress (``done`` of ``total``, so
``percent``), a ``heartbeat_at`` its worker refreshes, ``cancel_requested``, ``attempts`` with
exponential backoff between them, and a ``checkpoint`` the handler writes **in the same
transaction as the work it describes**, so a worker killed mid-job resumes where the last
commit left off and never applies a step twice. One worker holds a job at a time: a lease
(``lease_owner``, ``lease_expires_at``) that the heartbeat extends; a crashed worker's lease
expires and another worker takes the job over from its checkpoint.

- this package (framework-free, for use cases): :class:`Job`, :class:`JobState`,
  :class:`JobRecords` (the port a unit of work exposes), :class:`JobRun` (what a handler gets),
  :class:`JobCancelledError`, :class:`JobLeaseLostError`, :class:`Backoff`;
- :mod:`shared.jobs.sqla`: the table, its migration helpers, ``SqlaJobRecords``;
- :mod:`shared.jobs.runner`: :class:`~shared.jobs.runner.JobRunner`, the worker-role loop that
  claims, heartbeats, retries and counts (``jobs_total``, ``jobs_running``,
  ``jobs_heartbeat_age_seconds``).

docs/jobs.md tells the whole story with the catalog's bulk stock import as the example.
"""

from shared.jobs._model import (
    ACTIVE_STATES,
    FINAL_STATES,
    Backoff,
    Job,
    JobCancelledError,
    JobLease,
    JobLeaseLostError,
    JobRecords,
    JobRun,
    JobState,
    JobStoppedError,
)

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "Backoff",
    "Job",
    "JobCancelledError",
    "JobLease",
    "JobLeaseLostError",
    "JobRecords",
    "JobRun",
    "JobState",
    "JobStoppedError",
]
