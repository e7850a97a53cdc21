"""Reads of the ledger: balances are sums, never stored."""

from decimal import Decimal

from django.db.models import Q, Sum

from hitl_platform import money

from .models import Account, LedgerEntry, Movement


def account_balance(*, account: str, owner: int) -> Decimal:
    sums = LedgerEntry.objects.filter(
        Q(credit=account, credit_owner=owner) | Q(debit=account, debit_owner=owner)
    ).aggregate(
        inflow=Sum("amount", filter=Q(credit=account, credit_owner=owner)),
        outflow=Sum("amount", filter=Q(debit=account, debit_owner=owner)),
    )
    return money.quantize((sums["inflow"] or 0) - (sums["outflow"] or 0))


def worker_balances(*, worker_id: int) -> dict[str, Decimal]:
    """What the worker has earned: pending (in the approval delay), available (payable), paid."""
    return {
        "pending": account_balance(account=Account.PENDING, owner=worker_id),
        "available": account_balance(account=Account.AVAILABLE, owner=worker_id),
        "paid": account_balance(account=Account.PAID, owner=worker_id),
    }


def all_balances() -> dict[tuple[str, int], Decimal]:
    """Every account's balance; they sum to zero by construction (each row is a balanced pair)."""
    balances: dict[tuple[str, int], Decimal] = {}
    for kind, owner, total in LedgerEntry.objects.values_list("credit", "credit_owner").annotate(
        s=Sum("amount")
    ):
        balances[(kind, owner)] = balances.get((kind, owner), 0) + total
    for kind, owner, total in LedgerEntry.objects.values_list("debit", "debit_owner").annotate(
        s=Sum("amount")
    ):
        balances[(kind, owner)] = balances.get((kind, owner), 0) - total
    return {k: money.quantize(v) for k, v in balances.items()}


def ledger_mismatches(*, project) -> list[str]:
    """The tripwire: every place where a project's counters disagree with its ledger, or its
    reservation with the leases and answers that hold money."""
    project = type(project).objects.get(pk=project.pk)  # the counters as stored, not as passed
    problems = []
    funded = LedgerEntry.objects.filter(movement=Movement.FUND, project=project).aggregate(
        s=Sum("amount")
    )["s"] or Decimal(0)
    spent = LedgerEntry.objects.filter(
        project=project, movement__in=[Movement.APPROVE, Movement.BONUS]
    ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    reserved = account_balance(account=Account.RESERVED, owner=project.pk)
    budget_left = account_balance(account=Account.BUDGET, owner=project.pk)
    if money.quantize(funded) != money.quantize(project.budget):
        problems.append(f"budget {project.budget} but funded {funded}")
    if money.quantize(spent) != money.quantize(project.spent):
        problems.append(f"spent {project.spent} but ledger says {spent}")
    if reserved != money.quantize(project.reserved):
        problems.append(f"reserved {project.reserved} but ledger says {reserved}")
    if budget_left != money.quantize(project.budget - project.spent - project.reserved):
        problems.append(f"budget balance {budget_left} does not match the counters")
    # What is reserved is exactly what live leases and undecided answers hold.
    held = project.assignments.filter(status__in=["leased", "submitted"]).aggregate(
        s=Sum("reward")
    )["s"] or Decimal(0)
    if money.quantize(held) != money.quantize(project.reserved):
        problems.append(
            f"reserved {project.reserved} but live leases and undecided answers hold {held}"
        )
    return problems


def payable_balances() -> dict[int, Decimal]:
    """``{worker pk: available balance}`` of every worker with something to pay out."""
    return {
        owner: amount
        for (kind, owner), amount in all_balances().items()
        if kind == Account.AVAILABLE and amount > 0
    }
