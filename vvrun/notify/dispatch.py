"""Delivery off the caller's critical path: `submit()` only queues (a few microseconds); one
worker thread per notifier sends, in order — a PagerDuty resolve never overtakes its trigger —
and retries with exponential backoff, within a bounded number of attempts and total time.
Each outcome goes to `on_delivery` (the engine records it in the audit trail); a `required`
message's ticket raises `NotifyFailed` when it was not delivered."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from vvrun.errors import VvrunError
from vvrun.notify.base import Delivery, Message, Notifier, NotifierConfigError, NotifyFailed
from vvrun.notify.render import mask_for


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_delay: float = 0.5  # seconds before the second attempt; then × factor
    factor: float = 2.0
    max_delay: float = 30.0
    deadline: float = 120.0  # no new attempt starts later than this after the first
    timeout: float = 10.0  # one attempt's network timeout

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        backoff = min(self.first_delay * self.factor ** (attempt - 1), self.max_delay)
        return max(backoff, retry_after or 0.0)


class Ticket:
    """One submitted message; `result()` waits for its delivery."""

    def __init__(self, notifier: str, message: Message, required: bool) -> None:
        self.notifier, self.message, self.required = notifier, message, required
        self._done = threading.Event()
        self.delivery: Delivery | None = None

    def _finish(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> Delivery | None:
        """The delivery, once it is final. A required message that failed, or is not final
        within `timeout`, raises NotifyFailed; any other returns its Delivery (None: still
        being tried)."""
        finished = self._done.wait(timeout)
        delivery = self.delivery
        if not self.required:
            return delivery
        what = f"required notification to '{self.notifier}' ({self.message.kind})"
        if not finished or delivery is None:
            raise NotifyFailed(f"{what} was not delivered within {timeout:g}s",
                               hint="check the notifier's URL and the service's status; "
                               "the attempts are in the run's audit trail")
        if not delivery.ok:
            raise NotifyFailed(f"{what} failed after {delivery.attempts} attempt(s): "
                               f"{delivery.error}",
                               hint="fix the notifier's configuration or the service, then "
                               "resume the run")
        return delivery


_STOP = object()


class Dispatcher:
    """Delivers messages to named notifiers in the background. Thread-safe."""

    def __init__(self, notifiers: Mapping[str, Notifier], *,
                 on_delivery: Callable[[Delivery], None] | None = None,
                 policy: RetryPolicy | None = None,
                 mask: Callable[[str], str] | None = None) -> None:
        self._notifiers = dict(notifiers)
        self._masks = {name: mask_for(n) for name, n in self._notifiers.items()}
        self._on_delivery = on_delivery
        self._policy = policy or RetryPolicy()
        self._mask = mask
        self._queues: dict[str, queue.SimpleQueue[object]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closing = threading.Event()
        self.callback_errors: list[str] = []

    def notifier(self, name: str) -> Notifier:
        """The named notifier (e.g. to `remember()` a Statuspage incident on resume)."""
        return self._notifiers[name]

    def add(self, name: str, notifier: Notifier) -> None:
        """One more notifier (a called runbook's, built when it first notifies)."""
        with self._lock:
            self._notifiers[name] = notifier
            self._masks[name] = mask_for(notifier)

    def submit(self, to: str, message: Message, *, required: bool = False) -> Ticket:
        """Queue `message` for notifier `to` and return at once (no I/O here)."""
        if to not in self._notifiers:
            known = ", ".join(sorted(self._notifiers)) or "none"
            raise NotifierConfigError(f"no notifier named '{to}' (declared: {known})",
                                      hint="declare it under `notifiers:`")
        if self._closing.is_set():  # its worker is gone: the message would never be final
            raise RuntimeError("Dispatcher.submit() after close()")
        ticket = Ticket(to, message, required)
        with self._lock:
            self._pending += 1
            q = self._queues.get(to)
            if q is None:
                q = self._queues[to] = queue.SimpleQueue()
                thread = threading.Thread(target=self._work, args=(to, q), daemon=True,
                                          name=f"vvrun-notify-{to}")
                self._threads.append(thread)
                thread.start()
        q.put(ticket)
        return ticket

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted message is final; False if some were not by then."""
        end = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, then stop the workers (a backoff in progress is cut short) and close the
        notifiers' clients. Returns flush's answer."""
        flushed = self.flush(timeout)
        self._closing.set()
        for q in list(self._queues.values()):
            q.put(_STOP)
        for thread in self._threads:
            thread.join(max(0.0, timeout))
        for notifier in self._notifiers.values():
            notifier.close()
        return flushed

    def _work(self, name: str, q: queue.SimpleQueue[object]) -> None:
        notifier = self._notifiers[name]
        while True:
            ticket = q.get()
            if ticket is _STOP:
                return
            assert isinstance(ticket, Ticket)
            delivery = self._deliver(notifier, ticket)
            if self._on_delivery is not None:
                try:
                    self._on_delivery(delivery)
                except Exception as exc:  # a broken recorder must not stop deliveries
                    self.callback_errors.append(f"{type(exc).__name__}: {exc}")
            ticket._finish(delivery)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, notifier: Notifier, ticket: Ticket) -> Delivery:
        policy, start = self._policy, time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                delivery = notifier.send(ticket.message, policy.timeout)
            except VvrunError as exc:
                delivery = Delivery(notifier.name, notifier.KIND, ticket.message.kind, False,
                                    step=ticket.message.step, error=exc.message,
                                    message_id=ticket.message.id)
            except Exception as exc:  # a bug in a notifier must not kill its worker
                delivery = Delivery(notifier.name, notifier.KIND, ticket.message.kind, False,
                                    step=ticket.message.step, message_id=ticket.message.id,
                                    error=f"{notifier.KIND} notifier '{notifier.name}': "
                                    f"{type(exc).__name__}: {exc}")
            if delivery.ok or not delivery.retryable or attempt >= policy.attempts:
                break
            wait = policy.delay(attempt, delivery.retry_after)
            if time.monotonic() - start + wait > policy.deadline or self._closing.wait(wait):
                break
        return self._finalise(delivery, ticket, attempt, time.monotonic() - start)

    def _finalise(self, delivery: Delivery, ticket: Ticket, attempts: int, seconds: float
                  ) -> Delivery:
        error = delivery.error
        if error is not None:
            error = self._masks[ticket.notifier].mask(error)
            if self._mask is not None:
                error = self._mask(error)
        return replace(delivery, error=error, attempts=attempts, seconds=round(seconds, 3),
                       required=ticket.required)
