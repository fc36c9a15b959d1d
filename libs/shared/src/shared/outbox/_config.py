"""Relay tuning, with defaults measured on the reference machine (see docs/benchmarks.md)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.outbox._schema import DEFAULT_LANES

__all__ = ["RelayConfig"]


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """How one relay replica reads, publishes, rebalances and cleans up.

    Attributes:
        lanes: ordering lanes; must equal the writers' ``Outbox(lanes=...)``.
        batch_size: rows read and published per round (per publish loop).
        publishers: concurrent publish loops per replica; each serves a fixed share of the
            replica's lanes, so one loop's round trips overlap another's sending.
        listen: LISTEN for the writers' NOTIFY (wakes within a millisecond of a commit in
            another process). Polling and the in-process doorbell work either way.
        poll_interval_s: the fallback: the longest a committed row waits when no ring came.
            Rings are the norm (NOTIFY from other processes, the in-process doorbell, a lane
            acquired, a lane's backoff ending), so polling only covers a lost notification:
            every poll is a query per publish loop, which an idle relay should not run twice
            a second.
        rebalance_interval_s: how often lane ownership is checked (and the control connection
            proves it is alive): how long the lanes of a replica that died wait for another.
        publish_timeout_s: the longest one round waits for the broker's acknowledgements.
        db_timeout_s: the budget of every database call of the relay.
        lane_backoff_initial_s / lane_backoff_max_s: a lane whose head row failed waits this
            long (doubling, with jitter) before it is tried again; other lanes go on.
        reconnect_backoff_max_s: the cap of the wait between reconnections to PostgreSQL.
        retention_s: how long published rows are kept (for audits and replays) before deletion.
        cleanup_interval_s / cleanup_batch: how often and how many rows per statement to delete.
        metrics_interval_s: how often the backlog gauges are refreshed.
        idle_session_timeout_s: PostgreSQL ends the control session of a relay frozen this long,
            which releases its lanes to the other replicas.
    """

    lanes: int = DEFAULT_LANES
    batch_size: int = 1000
    publishers: int = 2
    listen: bool = True
    poll_interval_s: float = 5.0
    rebalance_interval_s: float = 2.0
    publish_timeout_s: float = 15.0
    db_timeout_s: float = 5.0
    lane_backoff_initial_s: float = 0.2
    lane_backoff_max_s: float = 30.0
    reconnect_backoff_max_s: float = 10.0
    retention_s: float = 24 * 3600.0
    cleanup_interval_s: float = 60.0
    cleanup_batch: int = 5000
    metrics_interval_s: float = 5.0
    idle_session_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= 32767:
            raise ValueError("lanes must be between 1 and 32767")
        if self.batch_size < 1 or self.cleanup_batch < 1:
            raise ValueError("batch sizes must be >= 1")
        if not 1 <= self.publishers <= self.lanes:
            raise ValueError("publishers must be between 1 and lanes")
        for name in (
            "poll_interval_s",
            "rebalance_interval_s",
            "publish_timeout_s",
            "db_timeout_s",
            "lane_backoff_initial_s",
            "lane_backoff_max_s",
            "reconnect_backoff_max_s",
            "cleanup_interval_s",
            "metrics_interval_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.retention_s < 0:
            raise ValueError("retention_s must be >= 0")
        if self.idle_session_timeout_s < 3 * self.rebalance_interval_s:
            raise ValueError("idle_session_timeout_s must be at least 3 rebalance intervals")
