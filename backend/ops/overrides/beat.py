"""Beat's scheduler: however many beats run, exactly one sends.

Each beat tries to hold a lock in Redis (redis-py's ``Lock``). The holder sends the schedule and
renews the lock on every wake-up; the others stand by and take over when the lock is released
(the holder stopped) or expires (it died). When each entry last ran is kept in Redis as well, so
the beat that takes over carries on every interval instead of starting them again.
docs/operations.md, "Exactly one beat".
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from typing import Any

import redis
from celery.utils.time import maybe_make_aware
from django.conf import settings
from kombu.utils.encoding import bytes_to_str
from redis.exceptions import LockError, LockNotOwnedError

from ops.liveness import HeartbeatScheduler

logger = logging.getLogger(__name__)

LOCK_KEY = "ops:beat:lock"
LAST_RUN_KEY = "ops:beat:last-run"
# How often a standby tries the lock.
STANDBY_POLL = 1.0


class SingleBeatScheduler(HeartbeatScheduler):
    _lock: Any = None
    _leading = False
    _standing_by = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._lead():
            self.heartbeat(sending=False)
            return STANDBY_POLL
        # Wake at least every third of the lock's time, to renew it well before it expires.
        interval: float = super().tick(*args, **kwargs)
        return min(interval, settings.CELERY_BEAT_LOCK_TIMEOUT / 3)

    @property
    def identity(self) -> str:
        """The same for this beat restarted in place (host and schedule file), so it takes back
        at once the lock its killed predecessor held; another beat waits for the lock to expire."""
        schedule_file: str = getattr(self, "schedule_filename", "")  # (celery-types omit it)
        return f"{socket.gethostname()}:{os.path.abspath(schedule_file)}"

    def sends(self) -> bool:
        """Whether this beat is the one that sends (taking the lock if it is free)."""
        return self._lead()

    def _lead(self) -> bool:
        """Whether this beat holds the lock (renewing it, or taking it if it is free)."""
        if self._lock is None:
            # Not thread-local: embedded beat (`worker -B`) ticks from a thread of its own.
            self._lock = self.redis.lock(
                LOCK_KEY, timeout=settings.CELERY_BEAT_LOCK_TIMEOUT, thread_local=False
            )
        try:
            if self._leading:
                self._lock.reacquire()
                return True
            if not self._lock.acquire(blocking=False, token=self.identity) and not self._ours():
                if not self._standing_by:
                    self._standing_by = True
                    logger.info("beat: another beat holds the lock %s; standing by", LOCK_KEY)
                return False
            try:
                self._take_over()
            except redis.RedisError:
                self._release()
                raise
            return True
        except LockError:
            # Paused for longer than the lock's time (a frozen VM, SIGSTOP): another beat took
            # over meanwhile, and this one must not send what that one already sent.
            self._leading = False
            logger.warning("beat: lost the lock to another beat; standing by")
            return False
        except redis.RedisError as exc:
            # Nothing could be sent anyway; the lock tells who sends once Redis is back.
            logger.warning("beat: cannot reach Redis for the lock (%s); not sending", exc)
            return False

    def _ours(self) -> bool:
        """Whether the lock is held under this beat's identity (by its killed predecessor)."""
        self._lock.local.token = self.identity.encode()
        try:
            self._lock.reacquire()
        except LockNotOwnedError:
            return False
        return True

    def _take_over(self) -> None:
        """Start from the runs the beats recorded in Redis, then send what is due."""
        recorded = {
            bytes_to_str(name): bytes_to_str(at)
            for name, at in self.redis.hgetall(LAST_RUN_KEY).items()
        }
        for name, entry in self.schedule.items():
            if name not in recorded:
                continue
            ran = maybe_make_aware(dt.datetime.fromisoformat(recorded[name]))
            # An entry this beat never sent (a standby, a new schedule file) starts from the
            # record; one it did, from the later of the two.
            own = entry.last_run_at
            if not entry.total_run_count or own is None or ran > maybe_make_aware(own):
                entry.last_run_at = ran
        self._heap = None  # rebuilt from those times on this tick
        self._leading = True
        self._standing_by = False
        logger.info("beat: holding the lock %s; sending the schedule", LOCK_KEY)

    def reserve(self, entry: Any) -> Any:
        # Recorded before the send: a beat killed in between misses one run, never doubles it.
        new_entry: Any = super().reserve(entry)
        try:
            self.redis.hset(LAST_RUN_KEY, entry.name, new_entry.last_run_at.isoformat())
        except redis.RedisError as exc:
            logger.warning("beat could not record when %s ran: %s", entry.name, exc)
        return new_entry

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._leading:
                # At once, so a standby takes over within a second instead of the lock's time.
                self._release()

    def _release(self) -> None:
        self._leading = False
        try:
            self._lock.release()
        except (LockError, redis.RedisError) as exc:
            logger.warning("beat: could not release the lock: %s", exc)
