"""One limit on failed sign-ins per client address, whichever door they come through: the token
API (``/api/v1/auth/token/``), the crowd's login page and the admin's, and the old password that
the crowd's password change asks for.

Every door asks ``FailedLoginThrottle`` before it checks a password, which takes one of the
address's attempts (so guesses sent in parallel each count): the token API (a 429 with
Retry-After) and the two login pages, in their form (``ThrottledLoginForm``), which say how long
to wait. A correct sign-in gives its attempt back, so people and scripts that know their
password are never slowed down. The receiver of Django's ``user_login_failed`` below counts a
failure only from a door that took no attempt first (a future one that forgot to ask).
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from hitl_platform.throttles import FailedLoginThrottle, take_attempt


@receiver(user_login_failed, dispatch_uid="hitl_platform.failed_sign_in")
def failed_sign_in_counted(sender, credentials, request=None, **kwargs) -> None:
    if request is not None:
        FailedLoginThrottle().failure_record(request)


THROTTLED = "Too many failed sign-ins from your address. Try again in %(wait)s."


def _password_checked(request, check):
    """Take one of the address's sign-in attempts, then ``check()`` the password: it raises when
    the password is wrong, and the attempt stays counted; a right one gives it back."""
    throttle = FailedLoginThrottle()
    take_attempt(throttle, request, THROTTLED)
    result = check()
    if request is not None:
        throttle.success_record(request)
    return result


class ThrottledLoginMixin:
    """Refuse to check a password from an address over the failed sign-in limit; a sign-in
    that succeeds gives its attempt back."""

    def clean(self):
        return _password_checked(self.request, super().clean)


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password's check counted like a sign-in: someone
    holding a worker's session cannot guess the password itself faster than at the doors."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self):
        return _password_checked(self.request, super().clean_old_password)


class ThrottledLoginForm(ThrottledLoginMixin, AuthenticationForm):
    """The crowd's login form."""


class ThrottledAdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin's login form."""
