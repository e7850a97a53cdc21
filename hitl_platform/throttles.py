"""Throttles of the API and the login pages; their counts live in the default cache.

The default ``LocMemCache`` is per process, so with several gunicorn workers each process
counts on its own; production sets ``CACHE_URL`` to a shared cache (Redis) so that a limit is
one limit for the whole site (see docs/api.md).
"""

import contextlib

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class _SettingsRate:
    """Read the rate from the settings at each request (DRF binds it at import time), so that
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` changed in a test or by the environment counts."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class ClaimThrottle(_SettingsRate, UserRateThrottle):
    """Claims per worker (rate ``claim``)."""

    scope = "claim"


class SubmitThrottle(_SettingsRate, UserRateThrottle):
    """Submitted answers per worker (rate ``submit``)."""

    scope = "submit"


class FailedLoginThrottle(_SettingsRate, SimpleRateThrottle):
    """Failed sign-ins per client address (rate ``login``), at every door: the token API and the
    crowd's and the admin's login pages (``hitl_platform.logins`` counts them).

    Only failures count: a script that logs in correctly is never slowed down, a password guesser
    is stopped after a handful of tries. The address is ``REMOTE_ADDR``; behind ``NUM_PROXIES``
    proxies (setting, default 0) it is the address the outermost of them saw, as DRF reads
    ``X-Forwarded-For``; a header the client wrote itself is never trusted.
    """

    scope = "login"

    def _window(self, request) -> tuple[str, float]:
        """The cache key of this address's current window, and the seconds the window has left.
        Fixed windows with an atomic counter: guesses sent at the same moment each count (a
        read-then-write history would let a burst overwrite itself and count once)."""
        now = self.timer()
        window = int(now // self.duration)
        ident = f"{self.get_ident(request)}:{window}"
        key = self.cache_format % {"scope": self.scope, "ident": ident}
        return key, self.duration - (now - window * self.duration)

    def allow_request(self, request, view):
        """Take one of the address's attempts for this sign-in before its password is checked
        (an atomic increment), or refuse when they are all taken. Sign-ins sent at the same
        moment each take one, so a burst of guesses cannot all pass a count that only the
        finished failures had raised; a sign-in that succeeds gives its attempt back
        (``success_record``), so only failures use the limit up."""
        if self.rate is None:
            return True
        key, self.left = self._window(request)
        if self._take(key, self.left) > self.num_requests:
            with contextlib.suppress(ValueError):  # refused: nothing was attempted
                self.cache.decr(key)
            return False
        request._sign_in_attempt = key
        return True

    def wait(self):
        return self.left

    def _take(self, key: str, left: float) -> int:
        self.cache.add(key, 0, int(left) + 1)
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between the two calls: this attempt opens the next window
            self.cache.add(key, 1, int(self.duration) + 1)
            return 1

    def success_record(self, request) -> None:
        """The sign-in this request attempted succeeded: its attempt is given back."""
        key = getattr(request, "_sign_in_attempt", None)
        if key is None:
            return
        request._sign_in_attempt = None
        with contextlib.suppress(ValueError):  # its window is over: nothing to give back
            self.cache.decr(key)

    def failure_record(self, request) -> None:
        """A sign-in failed. One that took an attempt first is counted already; a door that
        did not ask (none of ours) is counted now."""
        if self.rate is None or getattr(request, "_sign_in_attempt", None) is not None:
            return
        key, left = self._window(request)
        self._take(key, left)
