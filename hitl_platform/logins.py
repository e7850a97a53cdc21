"""One limit on failed sign-ins per client address, whichever door they come through: the token
API (``/api/v1/auth/token/``), the crowd's login page and the admin's.

Every failure is counted where Django reports it: ``authenticate()`` sends ``user_login_failed``
with the request, and the receiver below records it in ``FailedLoginThrottle``'s cache entry for
the address. Every door asks that throttle before it checks a password, which takes one of the
address's attempts (so guesses sent in parallel each count): the token API (a 429 with
Retry-After) and the two login pages, in their form (``ThrottledLoginForm``), which say how long
to wait. A correct sign-in gives its attempt back, so people and scripts that know their
password are never slowed down.
"""

import math

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from hitl_platform.throttles import FailedLoginThrottle


@receiver(user_login_failed, dispatch_uid="hitl_platform.failed_sign_in")
def failed_sign_in_counted(sender, credentials, request=None, **kwargs) -> None:
    if request is not None:
        FailedLoginThrottle().failure_record(request)


class ThrottledLoginMixin:
    """Refuse to check a password from an address over the failed sign-in limit."""

    def clean(self):
        throttle = FailedLoginThrottle()
        if self.request is not None and not throttle.allow_request(self.request, None):
            wait = max(1, math.ceil(throttle.wait() or 1))
            raise forms.ValidationError(
                "Too many failed sign-ins from your address. Try again in %(wait)s seconds.",
                code="throttled",
                params={"wait": wait},
            )
        cleaned = super().clean()  # raises when the sign-in fails: its attempt stays counted
        if self.request is not None:
            throttle.success_record(self.request)
        return cleaned


class ThrottledLoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The crowd's login form."""


class ThrottledAdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's login form."""
