"""The ledger: every movement of money is one append-only row from one account to another.

An account is a (kind, owner) pair: a project's ``budget`` (money not yet committed) and
``reserved`` (held for live leases and answers awaiting approval), a worker's ``pending``
(approved, inside the approval delay) and ``available`` (payable), ``paid`` (sent to the worker),
and ``funding`` (where a project's money came from). A row moves ``amount`` (> 0) from its
``debit`` account to its ``credit`` account, so the balances of all accounts always sum to zero
and every balance is a sum: credits in minus debits out.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from hitl_platform import money

MONEY = {"max_digits": money.MAX_DIGITS, "decimal_places": money.PLACES}


class Account(models.TextChoices):
    FUNDING = "funding", "Funding (project)"
    BUDGET = "budget", "Budget (project)"
    RESERVED = "reserved", "Reserved (project)"
    PENDING = "pending", "Pending (worker)"
    AVAILABLE = "available", "Available (worker)"
    PAID = "paid", "Paid out (worker)"


class Movement(models.TextChoices):
    FUND = "fund", "Budget funded"
    RESERVE = "reserve", "Reward reserved for a lease"
    RELEASE = "release", "Reservation released"
    APPROVE = "approve", "Answer approved"
    REJECT = "reject", "Answer rejected"
    MATURE = "mature", "Approval delay over"
    BONUS = "bonus", "Bonus"
    PAYOUT = "payout", "Paid out"


class LedgerEntry(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    day = models.DateField(
        default=timezone.localdate, help_text="For daily reports, without date functions."
    )
    movement = models.CharField(max_length=16, choices=Movement.choices)
    debit = models.CharField(max_length=16, choices=Account.choices)
    debit_owner = models.BigIntegerField(help_text="Project id or worker id, by account kind.")
    credit = models.CharField(max_length=16, choices=Account.choices)
    credit_owner = models.BigIntegerField()
    amount = models.DecimalField(**MONEY)
    project = models.ForeignKey(
        "tasks.Project", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    worker = models.ForeignKey(
        "workers.Worker", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assignment = models.ForeignKey(
        "tasks.Assignment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payout = models.ForeignKey(
        "billing.Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive"),
            models.CheckConstraint(
                condition=~(Q(debit=models.F("credit")) & Q(debit_owner=models.F("credit_owner"))),
                name="ledger_two_different_accounts",
            ),
            # An answer is approved, rejected or matured at most once: no double pay, whatever
            # races or retries happen.
            models.UniqueConstraint(
                fields=["assignment", "movement"],
                condition=Q(movement__in=["approve", "reject", "mature"]),
                name="ledger_once_per_answer",
            ),
        ]
        indexes = [
            models.Index(fields=["credit", "credit_owner"], name="ledger_credit"),
            models.Index(fields=["debit", "debit_owner"], name="ledger_debit"),
            models.Index(fields=["project", "movement", "day"], name="ledger_project"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.debit}:{self.debit_owner} → {self.credit}:{self.credit_owner}"


class Payout(models.Model):
    """Money sent to a worker through a payment provider (exported as CSV, marked paid)."""

    worker = models.ForeignKey("workers.Worker", on_delete=models.PROTECT, related_name="payouts")
    amount = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    reference = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive")
        ]

    def __str__(self) -> str:
        return f"{self.amount} to {self.worker}"
