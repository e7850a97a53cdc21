"""Money movements. Each one writes its ledger row(s) and the project's budget counters in the
same transaction; the database refuses counters that would pass the budget.

Budget counters on the project (``reserved``, ``spent``) are the fast guard that claims check;
the ledger is the record. ``billing.selectors.ledger_mismatches`` compares the two (the tripwire).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Round
from django.utils import timezone

from audit.services import audit_record
from hitl_platform import money
from hitl_platform.db import sql_insert, sql_insert_select
from hitl_platform.errors import ApplicationError, Conflict
from tasks.models import Project
from workers.models import Worker

from .models import Account, LedgerEntry, Movement, Payout
from .selectors import account_balance, payable_balances


class BudgetExceeded(Conflict):
    code = "budget_exhausted"


def _entry(movement, debit, debit_owner, credit, credit_owner, amount, **refs) -> LedgerEntry:
    return LedgerEntry(
        movement=movement,
        debit=debit,
        debit_owner=debit_owner,
        credit=credit,
        credit_owner=credit_owner,
        amount=amount,
        **refs,
    )


def reserve_entry(*, project_id: int, assignment) -> LedgerEntry:
    return _entry(
        Movement.RESERVE,
        Account.BUDGET,
        project_id,
        Account.RESERVED,
        project_id,
        assignment.reward,
        project_id=project_id,
        worker_id=assignment.worker_id,
        assignment=assignment,
    )


def release_entry(
    *, project_id: int, assignment, reason: str = "", movement=Movement.RELEASE
) -> LedgerEntry:
    return _entry(
        movement,
        Account.RESERVED,
        project_id,
        Account.BUDGET,
        project_id,
        assignment.reward,
        project_id=project_id,
        worker_id=assignment.worker_id,
        assignment=assignment,
        reason=reason,
    )


def approve_entry(*, project_id: int, assignment) -> LedgerEntry:
    return _entry(
        Movement.APPROVE,
        Account.RESERVED,
        project_id,
        Account.PENDING,
        assignment.worker_id,
        assignment.reward,
        project_id=project_id,
        worker_id=assignment.worker_id,
        assignment=assignment,
    )


def counters_move(
    *,
    project_id: int,
    reserve: Decimal = money.ZERO,
    release: Decimal = money.ZERO,
    spend: Decimal = money.ZERO,
    entries: list[LedgerEntry] = (),
) -> bool:
    """Apply a net change to the project's counters and write its ledger rows, atomically.

    ``reserve`` moves budget to reserved, ``release`` reserved back to budget, ``spend`` reserved
    to spent (an approval). When the change takes more of the budget, it is a compare-and-swap
    that fails (returns False, writes nothing) if spent + reserved would pass the budget. Call it
    as a transaction's last write: it takes the project's row lock.
    """
    changed = (reserve - release - spend) or spend
    if changed:
        sql, params = counters_sql(
            project_id=project_id, reserve=reserve, release=release, spend=spend
        )
        if entries and connection.vendor == "postgresql":
            # One round trip: the ledger rows are written only if the counters moved.
            insert, values = sql_insert_select(connection, list(entries), "moved")
            with connection.cursor() as cursor:
                cursor.execute(f"WITH moved AS ({sql} RETURNING id) {insert}", params + values)
                rows = cursor.fetchall()
            for entry, (pk,) in zip(entries, rows, strict=False):
                entry.pk = pk
                entry._state.adding, entry._state.db = False, connection.alias
            return bool(rows)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if not cursor.rowcount:
                return False
    if entries:
        sql_insert(connection, list(entries))
    return True


def counters_sql(
    *,
    project_id: int,
    reserve: Decimal = money.ZERO,
    release: Decimal = money.ZERO,
    spend: Decimal = money.ZERO,
    reserve_sql: str | None = None,
) -> tuple[str, list]:
    """``(sql, params)`` of ``counters_move``'s UPDATE of the project's counters, with its
    compare-and-swap when the change takes more of the budget (a WHERE clause; more conditions
    may be appended with AND). ``reserve_sql`` is an SQL expression of the amount to reserve,
    instead of ``reserve`` (a claim reading the reward in the same statement; nothing released
    or spent). One hand-written statement (the hot path of every claim); the SQL is the ORM's,
    valid on SQLite and PostgreSQL alike. Round in SQL: exact on PostgreSQL; on SQLite it stops
    binary floating-point drift."""
    if reserve_sql is not None:
        change, change_params, taken, taken_params = reserve_sql, [], reserve_sql, []
    else:
        change, change_params = "CAST(%s AS NUMERIC)", [reserve - release - spend]
        taken, taken_params = "CAST(%s AS NUMERIC)", [reserve - release]
    sql = (
        "UPDATE tasks_project"  # noqa: S608 (identifiers from the models; values are parameters)
        f" SET reserved = CAST(ROUND(CAST(reserved + {change} AS NUMERIC), {money.PLACES}) AS NUMERIC),"
        f" spent = CAST(ROUND(CAST(spent + CAST(%s AS NUMERIC) AS NUMERIC), {money.PLACES}) AS NUMERIC)"
        " WHERE id = %s"
    )
    params = [*change_params, spend, project_id]
    if reserve_sql is not None or reserve > 0:
        sql += f" AND budget >= CAST(spent + reserved AS NUMERIC) + {taken} - CAST(%s AS NUMERIC)"
        params += [*taken_params, money.HALF_QUANTUM]
    return sql, params


def budget_fund(*, project: Project, amount, actor=None, reason: str = "") -> Project:
    """Add money to a project's budget (its first funding, or a top-up)."""
    amount = money.quantize(amount)
    if amount <= 0:
        raise ApplicationError("A top-up must be a positive amount.")
    with transaction.atomic():
        Project.objects.filter(pk=project.pk).update(
            budget=Round(F("budget") + amount, money.PLACES)
        )
        LedgerEntry.objects.create(
            movement=Movement.FUND,
            debit=Account.FUNDING,
            debit_owner=project.pk,
            credit=Account.BUDGET,
            credit_owner=project.pk,
            amount=amount,
            project=project,
            actor=actor,
            reason=reason or "Budget funded",
        )
        if actor is not None:
            audit_record(
                action="budget.fund",
                reason=f"Added {amount} to the budget. {reason}".strip(),
                actor=actor,
                project=project,
                data={"amount": str(amount)},
            )
    project.refresh_from_db()
    return project


def bonus_pay(*, project: Project, worker: Worker, amount, reason: str, actor) -> LedgerEntry:
    """A bonus from the project's budget straight to the worker's payable balance."""
    amount = money.quantize(amount)
    if amount <= 0:
        raise ApplicationError("A bonus must be a positive amount.")
    if not reason.strip():
        raise ApplicationError("Say why the bonus is paid; the worker sees the reason.")
    with transaction.atomic():
        audit_record(
            action="money.bonus",
            reason=reason,
            actor=actor,
            project=project,
            worker=worker,
            data={"amount": str(amount)},
        )
        entry = _entry(
            Movement.BONUS,
            Account.BUDGET,
            project.pk,
            Account.AVAILABLE,
            worker.pk,
            amount,
            project=project,
            worker=worker,
            reason=reason,
            actor=actor,
        )
        if not counters_move(project_id=project.pk, reserve=amount, spend=amount, entries=[entry]):
            raise BudgetExceeded(f"The budget of “{project.name}” cannot pay a bonus of {amount}.")
    return entry


def payout_create(*, worker: Worker, actor=None, reference: str = "") -> Payout | None:
    """Pay out the worker's whole available balance; ``None`` when there is nothing to pay.

    The worker row is locked while the balance is read and the payout written, so two payout runs
    (a double click, a retried job) cannot both pay the same balance.
    """
    with transaction.atomic():
        Worker.objects.select_for_update().get(pk=worker.pk)
        amount = account_balance(account=Account.AVAILABLE, owner=worker.pk)
        if amount <= 0:
            return None
        payout = Payout.objects.create(
            worker=worker, amount=amount, created_by=actor, reference=reference
        )
        LedgerEntry.objects.create(
            movement=Movement.PAYOUT,
            debit=Account.AVAILABLE,
            debit_owner=worker.pk,
            credit=Account.PAID,
            credit_owner=worker.pk,
            amount=amount,
            worker=worker,
            payout=payout,
            actor=actor,
            reason=reference or "Payout",
        )
        audit_record(
            action="money.payout",
            reason=f"Paid out {amount}",
            actor=actor,
            worker=worker,
            data={"amount": str(amount), "payout": payout.pk},
        )
    return payout


def payouts_run(*, actor=None, reference: str = "") -> tuple[str, list[Payout]]:
    """Pay out every positive available balance; returns the run's reference and its payouts.

    One transaction per worker (``payout_create``), so a run killed half-way leaves the workers
    it paid paid and the rest for the next run, and no run, repeat or retry pays a balance twice.
    """
    reference = reference or f"run-{timezone.now():%Y%m%d-%H%M%S}"
    payouts = []
    workers = Worker.objects.filter(pk__in=payable_balances()).select_related("user")
    for worker in workers.order_by("pk"):
        payout = payout_create(worker=worker, actor=actor, reference=reference)
        if payout is not None:
            payouts.append(payout)
    return reference, payouts
