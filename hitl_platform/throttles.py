"""Throttles of the API and of the browser's forms (sign-in, sign-up, password reset); their
counts live in the default cache.

The default ``LocMemCache`` is per process, so with several gunicorn workers each process
counts on its own; production sets ``CACHE_URL`` to a shared cache (Redis) so that a limit is
one limit for the whole site (see docs/api.md).
"""

import contextlib
import math

from django import forms
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


class AddressAttemptThrottle(_SettingsRate, SimpleRateThrottle):
    """Attempts per client address (rate ``scope``), counted in fixed windows with an atomic
    counter: ``allow_request`` takes one of the address's attempts before the work is done, so
    attempts sent at the same moment each count (a read-then-write history would let a burst
    through on one count).

    The address is ``REMOTE_ADDR``; behind ``NUM_PROXIES`` proxies (setting, default 0) it is the
    address the outermost of them saw, as DRF reads ``X-Forwarded-For``; a header the client wrote
    itself is never trusted.
    """

    def _window(self, request) -> tuple[str, float]:
        """The cache key of this address's current window, and the seconds the window has left."""
        now = self.timer()
        window = int(now // self.duration)
        ident = f"{self.get_ident(request)}:{window}"
        key = self.cache_format % {"scope": self.scope, "ident": ident}
        return key, self.duration - (now - window * self.duration)

    def allow_request(self, request, view):
        """Take one of the address's attempts, or refuse when they are all taken."""
        if self.rate is None:
            return True
        key, self.left = self._window(request)
        if self._take(key) > self.num_requests:
            with contextlib.suppress(ValueError):  # refused: nothing was attempted
                self.cache.decr(key)
            return False
        request._attempt_keys = {**getattr(request, "_attempt_keys", {}), self.scope: key}
        return True

    def wait(self):
        return self.left

    def _take(self, key: str) -> int:
        # The window is in the key; the entry lives a whole window, so that it cannot expire
        # while its window is still current (one clock for the key, the cache's for expiry).
        self.cache.add(key, 0, int(self.duration) + 1)
        try:
            return self.cache.incr(key)
        except ValueError:  # evicted between the two calls: count from this attempt
            self.cache.add(key, 1, int(self.duration) + 1)
            return 1

    def _taken_by(self, request) -> str | None:
        return getattr(request, "_attempt_keys", {}).get(self.scope)


class FailedLoginThrottle(AddressAttemptThrottle):
    """Failed sign-ins per client address (rate ``login``), at every door: the token API and the
    crowd's and the admin's login pages (which ask it in ``hitl_platform.logins``).

    Every sign-in takes an attempt before its password is checked, so a burst of guesses cannot
    all pass a count that only finished failures had raised; a sign-in that succeeds gives its
    attempt back (``success_record``). So only failures use the limit up: a script that logs in
    correctly is never slowed down, a password guesser is stopped after a handful of tries.
    """

    scope = "login"

    def success_record(self, request) -> None:
        """The sign-in this request attempted succeeded: its attempt is given back."""
        key = self._taken_by(request)
        if key is None:
            return
        request._attempt_keys = {**request._attempt_keys, self.scope: None}
        with contextlib.suppress(ValueError):  # its window is over: nothing to give back
            self.cache.decr(key)

    def failure_record(self, request) -> None:
        """A sign-in failed. One that took an attempt first is counted already; a door that
        did not ask (none of ours) is counted now."""
        if self.rate is None or self._taken_by(request) is not None:
            return
        self._take(self._window(request)[0])


class SignupThrottle(AddressAttemptThrottle):
    """Sign-ups per client address (rate ``signup``): accounts are free, and fake ones are how a
    cheat gets past exams and control questions."""

    scope = "signup"


class PasswordResetThrottle(AddressAttemptThrottle):
    """Password-reset requests per client address (rate ``password_reset``): each sends an
    email, and nobody should be able to flood someone's mailbox from the reset page."""

    scope = "password_reset"


def wait_text(seconds: float) -> str:
    """“45 seconds”, or “24 minutes” from two minutes on: how long to wait, as people say it."""
    seconds = max(1, math.ceil(seconds or 1))
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


class ThrottledFormMixin:
    """A form that takes an attempt of ``throttle_class`` (per client address) when it is
    validated, and refuses with how long to wait when the address has used them all. With
    ``count_invalid`` false, a form whose fields have errors takes no attempt (someone fixing a
    typo is not held back; nothing was created or sent). The form needs ``self.request``."""

    throttle_class: type[AddressAttemptThrottle]
    throttled_message = "Too many tries from your address. Try again in %(wait)s."
    count_invalid = True

    def clean(self):
        if self.count_invalid:  # before the form's own checks
            self._take_attempt()
            return super().clean()
        cleaned = super().clean()
        if not self.errors:
            self._take_attempt()
        return cleaned

    def _take_attempt(self) -> None:
        take_attempt(self.throttle_class(), self.request, self.throttled_message)


def take_attempt(throttle: AddressAttemptThrottle, request, message: str) -> None:
    """Take one of the address's attempts for a form, or refuse it with ``message`` (a
    ``%(wait)s`` in it says how long to wait). No request (a form built in code): no limit."""
    if request is not None and not throttle.allow_request(request, None):
        raise forms.ValidationError(
            message, code="throttled", params={"wait": wait_text(throttle.wait())}
        )
