"""Failed sign-ins are rate-limited per client address: past `max_failures` within
`window_seconds`, every request from that address is answered 429 (with Retry-After) until the
oldest failure leaves the window.

The count is kept in each gateway replica's memory: an attacker spread over N replicas gets N
times the budget, still far too little to guess a 256-bit token, and nothing is written per
attempt. Memory is bounded: past `max_clients` addresses the oldest one is forgotten."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after_seconds(self, client: str) -> int:
        """0 when the client may try; otherwise whole seconds until it may."""
        failures = self._recent(client)
        if failures is None or len(failures) < self._max:
            return 0
        return max(1, int(failures[0] + self._window - self._clock()) + 1)

    def failed(self, client: str) -> bool:
        """Count a failure; True when this one reached the limit (worth an audit record)."""
        failures = self._recent(client)
        if failures is None:
            failures = self._failures[client] = deque()
            if len(self._failures) > self._max_clients:
                self._failures.popitem(last=False)
        failures.append(self._clock())
        self._failures.move_to_end(client)
        return len(failures) == self._max

    def _recent(self, client: str) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
