"""Money in the admin: the ledger and payouts (read-only), and the payout run for operators."""

import csv
import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from workers.models import Worker

from .models import LedgerEntry, Payout
from .selectors import payable_balances
from .services import payouts_run


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "movement",
        "amount",
        "debit",
        "debit_owner",
        "credit",
        "credit_owner",
        "project",
        "worker",
        "reason",
    ]
    list_filter = ["movement", "debit", "credit"]
    list_select_related = ["project", "worker__user"]
    show_full_result_count = False


@admin.register(Payout)
class PayoutAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["created_at", "worker", "amount", "reference", "created_by"]
    list_select_related = ["worker__user", "created_by"]
    change_list_template = "admin/billing/payout/change_list.html"

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="billing_payout_run"),
            *super().get_urls(),
        ]

    def run_view(self, request):
        """List payable balances; on confirm, pay them all out and download the CSV for the
        payment provider. Each worker's balance is paid at most once (see ``payout_create``)."""
        if not request.user.is_superuser:
            raise PermissionDenied
        payable = payable_balances()
        workers = Worker.objects.filter(pk__in=payable).select_related("user").order_by("pk")
        if request.method != "POST":
            return TemplateResponse(
                request,
                "admin/billing/payout/run.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": "Pay out available balances",
                    "rows": [(w, payable[w.pk]) for w in workers],
                    "total": sum(payable.values()),
                },
            )
        reference, payouts = payouts_run(actor=request.user)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["payout_id", "worker_id", "username", "email", "amount", "reference"])
        for payout in payouts:
            user = payout.worker.user
            writer.writerow(
                [payout.pk, payout.worker_id, user.username, user.email, payout.amount, reference]
            )
        count = len(payouts)
        self.message_user(request, f"Created {count} payouts ({reference}).", messages.SUCCESS)
        response = HttpResponse(out.getvalue(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="payouts-{reference}.csv"'
        return response
