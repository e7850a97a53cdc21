"""The crowd worker's browser UI, mounted at /crowd/."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from hitl_platform.logins import ThrottledLoginForm

from . import views

app_name = "crowd"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("history/", views.history, name="history"),
    path("projects/<int:project_id>/task/", views.task, name="task"),
    path("assignments/<int:assignment_id>/submit/", views.submit, name="submit"),
    path("assignments/<int:assignment_id>/skip/", views.skip, name="skip"),
    # Accounts
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="workers/login.html",
            redirect_authenticated_user=True,
            authentication_form=ThrottledLoginForm,
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/",
        views.PasswordChangeView.as_view(
            template_name="workers/password_change.html",
            success_url=reverse_lazy("crowd:password_change_done"),
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="workers/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path(
        "password-reset/",
        views.PasswordResetView.as_view(
            template_name="workers/password_reset.html",
            email_template_name="workers/email/password_reset.txt",
            subject_template_name="workers/email/password_reset_subject.txt",
            success_url=reverse_lazy("crowd:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="workers/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="workers/password_reset_confirm.html",
            success_url=reverse_lazy("crowd:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="workers/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]
