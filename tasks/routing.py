"""Who labels what: claiming work, skipping it and submitting answers.

Locks, always taken in this order so that two transactions never wait on each other in a cycle:
the worker's standing, then the assignment, then the item, then the project row last (its
counters), as the transaction's final write; nothing waits for a lock while holding the project. Items are claimed with
``select_for_update(skip_locked=True)`` so that concurrent claims pass each other instead of
queueing. On SQLite, transactions are IMMEDIATE and so already serialized.

The project row is the one row every claim writes (its budget counters), so it is held for as
short a time as possible: a claim takes it last and commits without waiting for the disk on
PostgreSQL (``_async_commit``), and a submit does not take it at all in the answer's transaction
(its counters for the refit and the model's training are a short transaction of their own,
``_jobs_count``).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from aggregation.jobs import project_refit_job, project_train_job
from aggregation.services import ITEM_ANSWERS_SQL, item_answers_keep, item_reassess, item_settle
from aggregation.training import training_check_due
from audit.services import audit_record
from billing.services import counters_move, counters_sql, release_entry, reserve_entry
from hitl_platform import money
from hitl_platform.db import (
    RowReader,
    sql_insert,
    sql_insert_select,
    sql_update,
    sql_update_parts,
)
from hitl_platform.errors import ApplicationError, Conflict, NotAllowed
from hitl_platform.jobs import enqueue_on_commit
from workers.models import Worker, WorkerStanding
from workers.services import standing_block

from .models import Assignment, Item, Project

# Whether a claim is a control question, and which one: unpredictable for workers (the OS's
# randomness), or a seeded generator while ``draws_from`` is in force.
_random: random.Random = random.SystemRandom()


@contextmanager
def draws_from(rng: random.Random) -> Iterator[None]:
    """Draw the control-question roll and the control question itself from ``rng`` inside the
    block (the simulator: a run is the same for its seed). For one thread; the platform itself
    never uses it."""
    global _random  # noqa: PLW0603 (a deliberate, scoped swap)
    saved, _random = _random, rng
    try:
        yield
    finally:
        _random = saved


class BudgetExhausted(Conflict):
    code = "budget_exhausted"


class LeaseNotLive(Conflict):
    code = "lease_not_live"


class NotYourAssignment(NotAllowed):
    """Another worker's assignment (the API answers 404, as for one that does not exist)."""


@dataclass(frozen=True)
class SubmitResult:
    status: str
    reward: Decimal
    item_status: str


# --- helpers ---------------------------------------------------------------------------------------

# The claim and the submit of the common case run in hand-written SQL (see ``RowReader``): the
# ORM's query compilation cost more than the database's work. The statements are the ORM's, in
# the same lock order; SQLite runs them without row locks (its transactions are serialized).
_SLOW = object()  # the hand-written path does not cover this case: take the general one
_PROJECT = RowReader(Project, "p")
_STANDING = RowReader(WorkerStanding, "s")
_ASSIGNMENT = RowReader(Assignment, "a")
_ITEM = RowReader(Item, "i")
_ITEM_PAYLOAD = RowReader(Item, "i", ("payload",))


def _for_update(of: str | None = None, skip_locked: bool = False) -> str:
    """The row-lock clause of this database (none on SQLite)."""
    features = connection.features
    if not features.has_select_for_update:
        return ""
    sql = " FOR UPDATE"
    if of and features.has_select_for_update_of:
        sql += f" OF {of}"
    if skip_locked and features.has_select_for_update_skip_locked:
        sql += " SKIP LOCKED"
    return sql


def _async_commit() -> str:
    """A SELECT-list prefix that makes the current transaction commit without waiting for its
    WAL flush (PostgreSQL's ``synchronous_commit = off``, for this transaction only), or "".

    Used where the project's row lock is held to the commit: every claim and every submit takes
    it, so a commit that waits for the disk (~2–4 ms here) is a critical section of its own and
    caps the whole project near 1 / flush time. Only an outermost transaction is made
    asynchronous (a caller's enclosing transaction is left as it is). What it risks: after a
    crash of the database server, the transactions of its last few hundred milliseconds that
    no synchronous commit (any submit) has flushed since are lost, whole and consistently
    (WAL order is kept): a claim that vanishes with its reservation and ledger row, whose worker
    then gets a 404 on submit. Nothing is ever half-written, and no answer is lost this way:
    submits commit synchronously."""
    if connection.vendor != "postgresql" or len(connection.atomic_blocks) > 1:
        return ""
    return "set_config('synchronous_commit', 'off', true) IS NULL, "


def _fetchone(sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _release(*, project_id: int, leases: list[Assignment]) -> None:
    """Give the rewards reserved by ``leases`` back to the budget, with their ledger rows.
    Called as the transaction's last write (it takes the project lock)."""
    paid = [a for a in leases if a.reward]
    if paid:
        counters_move(
            project_id=project_id,
            release=sum((a.reward for a in paid), money.ZERO),
            entries=[release_entry(project_id=project_id, assignment=a) for a in paid],
        )


def _expire(assignment: Assignment) -> Assignment:
    """Expire one locked lease and free its slot on the item; the caller releases its money."""
    assignment.status = Assignment.Status.EXPIRED
    sql_update(connection, assignment, ["status"])
    _execute(
        "UPDATE tasks_item SET leases_count = leases_count - 1 WHERE id = %s", [assignment.item_id]
    )
    return assignment


def standing_get(
    *, worker: Worker, project: Project, lock: bool = False, with_lease: bool = False
) -> WorkerStanding:
    """The worker's standing in the project, created on first contact (exam, or qualified at once
    when the project has no exam). ``with_lease`` adds ``live_lease_id``, the id of the worker's
    leased assignment in the project if any, in the same query."""
    qs = WorkerStanding.objects.select_for_update() if lock else WorkerStanding.objects.all()
    if with_lease:
        leased = Assignment.objects.filter(
            worker=worker, project=project, status=Assignment.Status.LEASED
        ).values("pk")[:1]
        qs = qs.annotate(live_lease_id=Subquery(leased))
    standing = qs.filter(worker=worker, project=project).first()
    if standing is None:
        has_exam = project.exam_size > 0 and project.items.exclude(gold_label="").exists()
        WorkerStanding.objects.bulk_create(
            [
                WorkerStanding(
                    worker=worker,
                    project=project,
                    state=WorkerStanding.State.EXAM if has_exam else WorkerStanding.State.QUALIFIED,
                )
            ],
            ignore_conflicts=True,
        )
        standing = qs.get(worker=worker, project=project)
    return standing


def _unanswered_by(worker: Worker):
    return ~Exists(Assignment.objects.filter(item=OuterRef("pk"), worker=worker))


def _pick_gold(*, project: Project, worker: Worker) -> Item | None:
    """A control question the worker has not answered, drawn at random (``_random``)."""
    ids = list(
        Item.objects.filter(project=project)
        .exclude(gold_label="")
        .filter(_unanswered_by(worker))
        .order_by("id")
        .values_list("id", flat=True)
    )
    return Item.objects.get(pk=_random.choice(ids)) if ids else None


def _pick_review(*, project: Project, worker: Worker) -> Item | None:
    """For an expert: the oldest item in review (people reached the maximum overlap without
    settling it) that nobody else is settling now and they have not answered."""
    return (
        Item.objects.filter(
            project=project, status=Item.Status.REVIEW, gold_label="", leases_count=0
        )
        .filter(_unanswered_by(worker))
        .order_by("id")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def _pick_task(
    *, project: Project, worker: Worker, eligible: Collection[int] | None = None
) -> Item | None:
    """The open item where one more answer is worth most: fewest live leases first (an answer
    already on the way may settle the item: workers arriving at once spread over the items
    instead of piling onto the one that is least sure), then by routing key (items below their
    minimum answers, then items nobody answered, then the least confident:
    ``aggregation.services.routing_key``), then fewest answers, then oldest; never one the
    worker has touched; never past the maximum overlap; among ``eligible`` item ids if given.
    Locked (skipping items other claims hold); served by the partial index
    ``item_open_routing``."""
    if eligible is not None and not eligible:
        return None
    pick, extra = _pick_sql(eligible)
    row = _fetchone(
        f"SELECT {_ITEM_PAYLOAD.sql(connection)}{pick}"  # noqa: S608 (identifiers from the models; values are parameters)
        + _for_update(of="i", skip_locked=True),
        [project.pk, project.max_overlap, worker.pk, *extra],
    )
    return None if row is None else _ITEM_PAYLOAD.load(connection, row)


# --- services --------------------------------------------------------------------------------------


def assignment_claim(
    *,
    worker: Worker,
    project: Project,
    now: datetime | None = None,
    eligible: Collection[int] | None = None,
) -> Assignment | None:
    """Lease the next item for ``worker`` in ``project``; ``None`` when there is no work for them.

    Returns the worker's live lease if they hold one. Raises ``NotAllowed`` (project not active,
    worker blocked) or ``BudgetExhausted``. ``eligible`` narrows the items (the simulator's replayed
    workers only take items they answered in the data). Locks: standing, item (skip locked),
    project (budget counters, last).
    """
    now = now or timezone.now()
    roll = _random.random()  # a control question when below the project's gold rate
    try:
        outcome = _SLOW
        if connection.vendor == "postgresql" and worker.status == Worker.Status.ACTIVE:
            outcome = _claim_in_one_statement(
                worker=worker, project_id=project.pk, now=now, roll=roll, eligible=eligible
            )
        if outcome is _SLOW:
            with transaction.atomic():
                outcome = _claim_common(
                    worker=worker, project_id=project.pk, now=now, roll=roll, eligible=eligible
                )
                if outcome is _SLOW:
                    outcome = _claim(
                        worker=worker, project=project, now=now, roll=roll, eligible=eligible
                    )
    except BudgetExhausted as exc:
        outcome = exc
    if isinstance(outcome, BudgetExhausted):
        _project_pause_for_budget(project=project)
    if isinstance(outcome, ApplicationError):
        raise outcome  # raised after commit: an exam failure decided on the way must be kept
    return outcome


def _project_pause_for_budget(*, project: Project) -> None:
    """The budget cannot pay one more answer: the project pauses itself, once, with a record."""
    if Project.objects.filter(pk=project.pk, status=Project.Status.ACTIVE).update(
        status=Project.Status.PAUSED
    ):
        audit_record(
            action="project.pause",
            reason="The remaining budget cannot pay one more answer; top up to continue.",
            project=project,
        )


def _claim_common(
    *, worker, project_id, now, roll, eligible=None
) -> Assignment | None | ApplicationError | object:
    """The common claim in a few hand-written statements, in the claim's transaction: an active
    worker, qualified in an active project with budget left, holding no lease there (on SQLite
    every such claim; on PostgreSQL those ``_claim_in_one_statement`` left, a control question).
    One statement locks the standing and reads the project and the worker's live lease; the rest
    is ``_claim``'s. Any other case returns ``_SLOW`` having changed nothing, and ``_claim``
    (which covers every case) runs."""
    if worker.status != Worker.Status.ACTIVE:
        return _SLOW
    row = _fetchone(
        f"SELECT {_async_commit()}CASE WHEN s.expert THEN 'expert' ELSE s.state END, (SELECT a.id FROM tasks_assignment a WHERE a.worker_id = s.worker_id"  # noqa: S608 (identifiers from the models; values are parameters)
        " AND a.project_id = s.project_id AND a.status = 'leased' LIMIT 1),"
        f" {_PROJECT.sql(connection)} FROM workers_workerstanding s"
        " JOIN tasks_project p ON p.id = s.project_id"
        " WHERE s.worker_id = %s AND s.project_id = %s" + _for_update(of="s"),
        [worker.pk, project_id],
    )
    if row is not None:
        row = row[len(row) - _PROJECT.width - 2 :]  # without the _async_commit() column
    if row is None or row[0] != WorkerStanding.State.QUALIFIED or row[1] is not None:
        return _SLOW
    project = _PROJECT.load(connection, row, 2)
    if project.status != Project.Status.ACTIVE or project.remaining < project.reward:
        return _SLOW
    item = None
    if roll < project.gold_rate:
        kind, item = Assignment.Kind.GOLD, _pick_gold(project=project, worker=worker)
    if item is not None:
        return _lease(project=project, item=item, worker=worker, kind=kind, now=now, freed=[])
    item = _pick_task(project=project, worker=worker, eligible=eligible)
    if item is None:
        return None
    return _lease(
        project=project, item=item, worker=worker, kind=Assignment.Kind.TASK, now=now, freed=[]
    )


_PICK_WHERE = (
    " FROM tasks_item i"
    " WHERE i.project_id = %s AND i.status = 'open' AND i.gold_label = ''"
    " AND i.answers_count < {max_overlap} - i.leases_count"
    " AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.item_id = i.id AND a.worker_id = %s)"
)
_PICK_ORDER = " ORDER BY i.leases_count, i.priority, i.answers_count, i.id LIMIT 1"


def _pick_sql(
    eligible: Collection[int] | None, max_overlap: str = "%s", condition: str = ""
) -> tuple[str, list]:
    """The FROM … LIMIT 1 of the pick (parameters: project, maximum overlap unless
    ``max_overlap`` is an SQL expression, worker, then the eligible ids if any); ``condition``
    is SQL ANDed to the WHERE clause."""
    where = _PICK_WHERE.format(max_overlap=max_overlap) + (f" AND {condition}" if condition else "")
    if eligible is None:
        return where + _PICK_ORDER, []
    ids = sorted(eligible)
    return f"{where} AND i.id IN ({', '.join(['%s'] * len(ids))}){_PICK_ORDER}", ids


def _claim_in_one_statement(
    *, worker, project_id, now, roll, eligible=None
) -> Assignment | None | object:
    """The common claim on PostgreSQL as one statement, its own transaction when no caller's is
    open (no BEGIN and COMMIT round trips; committed asynchronously, see ``_async_commit``).

    It covers a qualified worker who is no expert and holds no lease, in an active project with
    budget for one more answer, when ``roll`` asks for no control question. In that case it locks
    the standing, picks and locks the item (skip locked), moves the budget counters (the
    project's lock, last; a compare-and-swap), and only if they moved inserts the lease, counts
    it on the item and writes the ledger row. Otherwise it writes nothing and returns ``_SLOW``
    (the transaction's path covers every case), ``None`` when there is no item for the worker,
    or raises ``BudgetExhausted`` when the counters did not move."""
    if eligible is not None and not eligible:
        return _SLOW
    assignment = Assignment(
        project_id=project_id, worker=worker, kind=Assignment.Kind.TASK, leased_at=now
    )
    lease, lease_values = sql_insert_select(
        connection,
        [assignment],
        "picked, st, moved",  # only if the counters moved
        {"item_id": "picked.id", "reward": "st.reward", "expires_at": "st.lease_expires_at"},
    )
    entry = reserve_entry(project_id=project_id, assignment=assignment)
    ledger, ledger_values = sql_insert_select(
        connection, [entry], "leased, st", {"assignment_id": "leased.id", "amount": "st.reward"}
    )
    moved, moved_params = counters_sql(project_id=project_id, reserve_sql="(SELECT reward FROM st)")
    pick, extra = _pick_sql(
        eligible, max_overlap="(SELECT max_overlap FROM st)", condition="EXISTS (SELECT 1 FROM st)"
    )
    commit = "" if connection.in_atomic_block else ", set_config('synchronous_commit', 'off', true)"
    row = _fetchone(
        "WITH st AS MATERIALIZED (SELECT s.id AS standing_id,"  # noqa: S608 (identifiers from the models; values are parameters)
        f" {_PROJECT.sql(connection)}, CAST(%s AS timestamptz)"
        " + make_interval(secs => p.assignment_seconds) AS lease_expires_at"
        " FROM workers_workerstanding s JOIN tasks_project p ON p.id = s.project_id"
        " WHERE s.worker_id = %s AND s.project_id = %s AND s.state = 'qualified'"
        " AND NOT s.expert AND p.status = 'active' AND p.gold_rate <= %s"
        " AND p.budget - p.spent - p.reserved >= p.reward"
        " AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.worker_id = s.worker_id"
        " AND a.project_id = s.project_id AND a.status = 'leased')"
        f"{_for_update(of='s')}),"
        f" picked AS MATERIALIZED (SELECT {_ITEM_PAYLOAD.sql(connection)}{pick}"
        f"{_for_update(of='i', skip_locked=True)}),"
        f" moved AS ({moved} AND EXISTS (SELECT 1 FROM picked) RETURNING id),"
        f" leased AS ({lease}),"
        " counted AS (UPDATE tasks_item SET leases_count = leases_count + 1"
        " WHERE id IN (SELECT id FROM picked) AND EXISTS (SELECT 1 FROM leased)),"
        f" entry AS ({ledger})"
        # st.* and i.* are the CTEs' own columns, in the readers' order; the statement stays
        # under the length psycopg caches its parsing for (a test checks)
        f" SELECT st.*, leased.id, i.*{commit}"
        " FROM (SELECT 1) one LEFT JOIN st ON true LEFT JOIN picked i ON true"
        " LEFT JOIN leased ON true",
        [
            now,
            worker.pk,
            project_id,
            roll,
            project_id,
            worker.pk,
            *extra,
            *moved_params,
            *lease_values,
            *ledger_values,
        ],
    )
    width = _PROJECT.width  # st: standing, project, lease expiry; then the lease, picked item
    standing_id, lease_id, picked_id = row[0], row[width + 2], row[width + 3]
    if standing_id is None:
        return _SLOW
    if picked_id is None:
        return None
    if lease_id is None:
        raise BudgetExhausted("The budget of this project is used up.")
    project = _PROJECT.load(connection, row, 1)
    assignment.pk, assignment.project = lease_id, project
    assignment._state.adding, assignment._state.db = False, connection.alias
    assignment.reward = project.reward
    assignment.expires_at = now + project.assignment_duration
    assignment.item = _ITEM_PAYLOAD.load(connection, row, width + 3)
    return assignment


def _claim(*, worker, project, now, roll, eligible) -> Assignment | None | ApplicationError:
    project = Project.objects.get(pk=project.pk)
    if project.status != Project.Status.ACTIVE:
        return NotAllowed(
            f"“{project.name}” is not open for work ({project.get_status_display().lower()})."
        )
    if worker.status != Worker.Status.ACTIVE:
        return NotAllowed("Your account is suspended.")
    standing = standing_get(worker=worker, project=project, lock=True, with_lease=True)
    current = None
    if standing.live_lease_id is not None:  # the standing's lock serializes this worker's claims
        current = Assignment.objects.select_for_update().get(pk=standing.live_lease_id)
    freed: list[Assignment] = []
    if current is not None:
        if current.expires_at > now:
            return current
        freed.append(_expire(current))
    item = None
    if standing.state == WorkerStanding.State.EXAM:
        kind, item = Assignment.Kind.EXAM, _pick_gold(project=project, worker=worker)
        if item is None:  # fewer gold items than the exam asks: decide on what was answered
            _exam_decide(standing=standing, project=project, final=True)
    if standing.state == WorkerStanding.State.BLOCKED:
        _release(project_id=project.pk, leases=freed)  # the expired lease's money goes back
        return NotAllowed(f"You are blocked in this project: {standing.blocked_reason}")
    if standing.state == WorkerStanding.State.QUALIFIED:
        if project.remaining + sum((a.reward for a in freed), money.ZERO) < project.reward:
            _release(project_id=project.pk, leases=freed)
            return BudgetExhausted("The budget of this project is used up.")
        if standing.expert:  # trusted: no control questions; what people could not settle first
            kind, item = Assignment.Kind.TASK, _pick_review(project=project, worker=worker)
        elif roll < project.gold_rate:
            kind, item = Assignment.Kind.GOLD, _pick_gold(project=project, worker=worker)
        if item is None:
            kind = Assignment.Kind.TASK
            item = _pick_task(project=project, worker=worker, eligible=eligible)
    if item is None:
        _release(project_id=project.pk, leases=freed)
        return None

    return _lease(project=project, item=item, worker=worker, kind=kind, now=now, freed=freed)


def _lease(*, project, item, worker, kind, now, freed: list[Assignment]) -> Assignment:
    """Lease the locked ``item`` to ``worker``, reserve its reward and release what ``freed``
    held (the project's counters last)."""
    reward = money.ZERO if kind == Assignment.Kind.EXAM else project.reward
    assignment = Assignment(
        project=project,
        item=item,
        worker=worker,
        kind=kind,
        reward=reward,
        leased_at=now,
        expires_at=now + project.assignment_duration,
    )
    sql_insert(connection, [assignment])
    _execute("UPDATE tasks_item SET leases_count = leases_count + 1 WHERE id = %s", [item.pk])
    if reward:
        # Compare-and-swap on the budget counters; the database constraint backs it up.
        paid = [a for a in freed if a.reward]
        reserved = counters_move(
            project_id=project.pk,
            reserve=reward,
            release=sum((a.reward for a in paid), money.ZERO),
            entries=[reserve_entry(project_id=project.pk, assignment=assignment)]
            + [release_entry(project_id=project.pk, assignment=a) for a in paid],
        )
        if not reserved:
            raise BudgetExhausted("The budget of this project is used up.")  # rolls back the lease
    else:
        _release(project_id=project.pk, leases=freed)
    return assignment


def assignment_skip(*, assignment: Assignment, worker: Worker) -> None:
    """Give a lease back: the item is open again for others (never again for this worker)."""
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.worker_id != worker.pk:
            raise NotAllowed("This is not your assignment.")
        if locked.status != Assignment.Status.LEASED:
            raise LeaseNotLive("This task is no longer yours to skip.")
        _release(project_id=locked.project_id, leases=[_expire(locked)])
    assignment.refresh_from_db()


def assignments_expire(*, now: datetime | None = None) -> int:
    """Expire every lease past its expiry, releasing its item slot and reserved reward."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        stale = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(status=Assignment.Status.LEASED, expires_at__lte=now)
            .order_by("pk")[:5000]
        )
        by_project: dict[int, list[Assignment]] = {}
        for assignment in stale:
            by_project.setdefault(assignment.project_id, []).append(_expire(assignment))
            expired += 1
        for project_id in sorted(by_project):  # project locks in primary-key order, last
            _release(project_id=project_id, leases=by_project[project_id])
    return expired


def answer_submit(
    *, assignment: Assignment, worker: Worker, label: str, now: datetime | None = None
) -> SubmitResult:
    """Store a worker's answer on their live lease and update the item's consensus.

    Idempotent: a second submit of an answered lease stores nothing and returns the first result.
    An expired lease (by the clock, whether or not the expiry job ran) is refused with
    ``LeaseNotLive`` and nothing is stored. ``assignment`` needs only its ``pk`` and ``worker_id``;
    one that does not exist raises ``Assignment.DoesNotExist``, another worker's
    ``NotYourAssignment``. Locks: standing, assignment, item, project (last).
    """
    now = now or timezone.now()
    if assignment.worker_id != worker.pk:
        raise NotYourAssignment("This is not your assignment.")
    with transaction.atomic():
        standing, locked, project = _submit_lock(assignment_id=assignment.pk, worker=worker)
        if locked.status in Assignment.ANSWERED:
            item_status = Item.objects.values_list("status", flat=True).get(pk=locked.item_id)
            return SubmitResult(locked.status, locked.reward, item_status)
        if locked.status != Assignment.Status.LEASED:
            raise LeaseNotLive("This task expired or was skipped; your answer was not stored.")
        if locked.expires_at <= now:
            _release(project_id=project.pk, leases=[_expire(locked)])
            expired = True
        else:
            expired = False
            if label not in project.labels:
                raise ApplicationError(
                    f"{label!r} is not a label of this project ({', '.join(project.labels)})."
                )
            was_final = locked.item.status == "final"
            item, writes = _answer_store(
                assignment=locked, project=project, label=label, now=now, standing=standing
            )
            writes.append(_standing_count(standing=standing, assignment=locked, item=item))
            if connection.vendor == "postgresql" and locked.kind != Assignment.Kind.EXAM:
                # One round trip for the item and the standing.
                (item_sql, item_params), (standing_sql, standing_params) = writes
                _execute(
                    f"WITH counted AS ({standing_sql}) {item_sql}", [*standing_params, *item_params]
                )
            else:
                for sql, values in writes:
                    _execute(sql, values)
                if locked.kind == Assignment.Kind.EXAM:
                    _exam_decide(standing=standing, project=project)
    if expired:  # raised after commit: the expiry itself is kept
        raise LeaseNotLive("This task expired before you submitted; your answer was not stored.")
    labeled = locked.kind == Assignment.Kind.TASK and item.status == "final" and not was_final
    _jobs_count(project, labeled=labeled)
    return SubmitResult(locked.status, locked.reward, item.status)


def _jobs_count(project: Project, *, labeled: bool) -> None:
    """Count a stored answer towards the project's next refit, and a label it settled towards
    the model's next training; queue the refit, or a training check, when due.

    Its own short transaction, after the answer's (committed asynchronously on PostgreSQL, see
    ``_async_commit``): the counters are on the project row, which every submit would otherwise
    hold locked through its commit's disk flush, one submit after another. The counters only
    decide when a job is due (the periodic pass refits any project with a count above zero, and
    every refit checks whether the model is due); if the server crashed between the two
    commits, one answer would go uncounted and the job would come one answer later."""
    counted, labels = _fetchone(
        "UPDATE tasks_project SET answers_since_refit = answers_since_refit + 1,"  # noqa: S608 (a fixed clause is added; the values are parameters)
        " labels_since_training = labels_since_training + %s WHERE id = %s"
        f" RETURNING answers_since_refit, labels_since_training{_async_commit_returning()}",
        [int(labeled), project.pk],
    )[:2]
    if counted == project.refit_every:
        # The crossing: one job per refit cycle, however many answers arrive while it waits or
        # runs (the job queues a follow-up if the count is past it again).
        enqueue_on_commit(project_refit_job, project.pk)
    if labeled and project.model_enabled and training_check_due(project, labels):
        # A check, not a training: ``training_due`` decides. Only a training resets the count.
        enqueue_on_commit(project_train_job, project.pk)


def _async_commit_returning() -> str:
    """``_async_commit`` for an autocommit statement's RETURNING list."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return ""
    return ", set_config('synchronous_commit', 'off', true) IS NULL"


def _submit_lock(*, assignment_id: int, worker: Worker):
    """Lock the worker's standing, their assignment, then its item (kept on the assignment);
    returns (standing, assignment, project).

    The common case is one statement: the standing, the assignment and its item, locked in
    that order (the order of ``FOR UPDATE OF``, as every other path takes them), read with the
    project. A missing standing (a lease claimed before standings existed) is created here."""
    row = _fetchone(
        f"SELECT {_STANDING.sql(connection)}, {_PROJECT.sql(connection)},"  # noqa: S608 (identifiers from the models; values are parameters)
        f" {_ASSIGNMENT.sql(connection)}, {_ITEM.sql(connection)} FROM workers_workerstanding s"
        " JOIN tasks_assignment a ON a.project_id = s.project_id AND a.worker_id = s.worker_id"
        " JOIN tasks_project p ON p.id = a.project_id JOIN tasks_item i ON i.id = a.item_id"
        " WHERE a.id = %s AND a.worker_id = %s" + _for_update(of="s, a, i"),
        [assignment_id, worker.pk],
    )
    if row is not None:
        standing = _STANDING.load(connection, row)
        project = _PROJECT.load(connection, row, _STANDING.width)
        offset = _STANDING.width + _PROJECT.width
        locked = _ASSIGNMENT.load(connection, row, offset)
        locked.item = _ITEM.load(connection, row, offset + _ASSIGNMENT.width)
        locked.project = project
        return standing, locked, project
    # not theirs, not there, or no standing yet
    found = Assignment.objects.filter(pk=assignment_id).values_list("worker_id", "project_id")
    owner, project_id = found.first() or (None, None)
    if owner is None:
        raise Assignment.DoesNotExist("No Assignment matches the given query.")
    if owner != worker.pk:
        raise NotYourAssignment("This is not your assignment.")
    project = Project.objects.get(pk=project_id)
    standing = standing_get(worker=worker, project=project, lock=True)
    locked = Assignment.objects.select_for_update().get(pk=assignment_id)
    locked.item = Item.objects.select_for_update().get(pk=locked.item_id)
    locked.project = project
    return standing, locked, project


def _answer_store(
    *, assignment: Assignment, project: Project, label: str, now: datetime, standing
) -> tuple[Item, list]:
    """Store the answer on its locked lease and re-decide the item under its row lock (an
    expert's answer settles it: source ``review``, kept by refits like a gold label); returns
    the item and its write (``(sql, params)``), left to the caller to send with the next ones."""
    assignment.status = Assignment.Status.SUBMITTED
    assignment.label = label
    assignment.submitted_at = now
    assignment.seconds_spent = max((now - assignment.leased_at).total_seconds(), 0.0)
    stored = sql_update_parts(
        connection, assignment, ["status", "label", "submitted_at", "seconds_spent"]
    )
    item = assignment.item  # locked by _submit_lock
    if connection.vendor == "postgresql" and assignment.kind == Assignment.Kind.TASK:
        # One round trip: store the answer and read the item's others (the statement does not
        # see its own write; the item's lock keeps every other answer to it out meanwhile).
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH stored AS ({stored[0]}) {ITEM_ANSWERS_SQL}",
                [*stored[1], project.pk, item.pk],
            )
            others = cursor.fetchall()
        current = (label, standing.confusion, standing.evidence_answers, assignment.pk)
        item_answers_keep(item, project, [*others, current])
    else:
        _execute(*stored)
    item.answers_count += 1
    item.leases_count -= 1
    if assignment.kind == Assignment.Kind.TASK and standing.expert:
        item_settle(item=item, label=label, now=now)
    elif assignment.kind == Assignment.Kind.TASK:
        item_reassess(item=item, project=project)
    write = sql_update_parts(
        connection,
        item,
        [
            "answers_count",
            "leases_count",
            "status",
            "final_label",
            "confidence",
            "priority",
            "label_source",
            "finalized_on",
        ],
    )
    return item, [write]


def _standing_count(*, standing: WorkerStanding, assignment: Assignment, item: Item) -> tuple:
    """Count the answer on the worker's standing; returns the write (``(sql, params)``)."""
    standing.answers += 1
    fields = ["answers"]
    if assignment.kind in (Assignment.Kind.GOLD, Assignment.Kind.EXAM):
        correct = int(assignment.label == item.gold_label)
        standing.gold_answers += 1
        standing.gold_correct += correct
        fields += ["gold_answers", "gold_correct"]
        if assignment.kind == Assignment.Kind.EXAM:
            standing.exam_answers += 1
            standing.exam_correct += correct
            fields += ["exam_answers", "exam_correct"]
    return sql_update_parts(connection, standing, fields)


def _exam_decide(*, standing: WorkerStanding, project: Project, final: bool = False) -> None:
    """Pass or fail the exam once it has ``exam_size`` answers (or no gold item is left)."""
    if standing.state != WorkerStanding.State.EXAM:
        return
    if standing.exam_answers < project.exam_size and not final:
        return
    answered, correct = standing.exam_answers, standing.exam_correct
    if answered == 0 or correct / answered >= project.exam_pass_accuracy:
        standing.state = WorkerStanding.State.QUALIFIED
        standing.save(update_fields=["state"])
        return
    standing_block(
        standing=standing,
        reason=f"Exam failed: {correct} of {answered} right; {project.exam_pass_accuracy:.0%} needed.",
        rule="exam",
        data={"correct": correct, "answered": answered},
    )
