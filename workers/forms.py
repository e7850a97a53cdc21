"""Forms of the crowd worker UI. They validate; the views call services to write."""

from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password, checked by Django's user model and password validators (similarity
    to the username, length, common passwords, all digits). ``save()`` is not used: the view
    creates the account with ``workers.services.worker_create``."""

    email = forms.EmailField(
        required=False,
        help_text="Optional. Only used to reset a forgotten password.",
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autocomplete="username", autofocus=True)
        for name in ("password1", "password2"):
            self.fields[name].widget.attrs["autocomplete"] = "new-password"
