"""One limit on failed sign-ins per client address, whichever door they come through: the token
API (``/api/v1/auth/token/``), the crowd's login page and the admin's.

Every door asks ``FailedLoginThrottle`` before it checks a password, which takes one of the
address's attempts (so guesses sent in parallel each count): the token API (a 429 with
Retry-After) and the two login pages, in their form (``ThrottledLoginForm``), which say how long
to wait. A correct sign-in gives its attempt back, so people and scripts that know their
password are never slowed down. The receiver of Django's ``user_login_failed`` below counts a
failure only from a door that took no attempt first (a future one that forgot to ask).
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from hitl_platform.throttles import FailedLoginThrottle, ThrottledFormMixin


@receiver(user_login_failed, dispatch_uid="hitl_platform.failed_sign_in")
def failed_sign_in_counted(sender, credentials, request=None, **kwargs) -> None:
    if request is not None:
        FailedLoginThrottle().failure_record(request)


class ThrottledLoginMixin(ThrottledFormMixin):
    """Refuse to check a password from an address over the failed sign-in limit; a sign-in
    that succeeds gives its attempt back."""

    throttle_class = FailedLoginThrottle
    throttled_message = "Too many failed sign-ins from your address. Try again in %(wait)s."

    def clean(self):
        cleaned = super().clean()  # raises when refused or the sign-in fails: the attempt counts
        if self.request is not None:
            FailedLoginThrottle().success_record(self.request)
        return cleaned


class ThrottledLoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The crowd's login form."""


class ThrottledAdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's login form."""
