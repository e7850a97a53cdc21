"""Forms of the crowd worker UI. They validate; the views call services to write."""

from django import forms
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm

from hitl_platform.throttles import PasswordResetThrottle, SignupThrottle, ThrottledFormMixin


class SignupForm(ThrottledFormMixin, UserCreationForm):
    """Username and password, checked by Django's user model and password validators (similarity
    to the username, length, common passwords, all digits). ``save()`` is not used: the view
    creates the account with ``workers.services.worker_create``. Sign-ups per client address
    are limited (``SignupThrottle``); a form with errors takes no attempt."""

    throttle_class = SignupThrottle
    throttled_message = "Too many sign-ups from your address. Try again in %(wait)s."
    count_invalid = False

    email = forms.EmailField(
        required=False,
        help_text="Optional. Only used to reset a forgotten password.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["username"].widget.attrs.update(autocomplete="username", autofocus=True)
        for name in ("password1", "password2"):
            self.fields[name].widget.attrs["autocomplete"] = "new-password"


class ThrottledPasswordResetForm(ThrottledFormMixin, PasswordResetForm):
    """Django's password-reset form, with reset requests per client address limited
    (``PasswordResetThrottle``): each request sends an email."""

    throttle_class = PasswordResetThrottle
    throttled_message = "Too many reset requests from your address. Try again in %(wait)s."
    count_invalid = False

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
