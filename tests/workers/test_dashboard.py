"""The dashboard: projects with their pay and the worker's standing; earnings and record."""

from decimal import Decimal

from tasks.models import Assignment, Project
from workers.selectors import projects_pay_rates

from .helpers import answer, block


def test_the_dashboard_lists_open_projects_with_reward_and_standing(
    live_project, project, worker, login_client
):
    open_ = live_project(tasks=3, name="Open one", reward=Decimal("0.0125"))
    exam = live_project(tasks=3, gold=2, exam_size=2, name="With an exam")
    blocked = live_project(tasks=3, name="Blocked here")
    block(worker, blocked, reason="Estimated accuracy 41% over 30 answers is below 55%.")
    paused = live_project(tasks=1, name="Paused one")
    Project.objects.filter(pk=paused.pk).update(status=Project.Status.PAUSED)
    html = login_client(worker).get("/crowd/").content.decode()
    assert "Open one" in html and "0.0125" in html
    assert "With an exam" in html and "Take the exam" in html
    assert "Estimated accuracy 41% over 30 answers is below 55%." in html
    assert f'href="/crowd/projects/{open_.pk}/task/"' in html
    assert f'href="/crowd/projects/{exam.pk}/task/"' in html
    assert f'href="/crowd/projects/{blocked.pk}/task/"' not in html  # no way in while blocked
    assert "Paused one" not in html and project.name not in html.replace("Open one", "")


def test_the_dashboard_shows_no_budget_figures(live_project, worker, login_client):
    live_project(tasks=2, budget=Decimal("987.6500"))
    html = login_client(worker).get("/crowd/").content.decode().lower()
    assert "987" not in html and "budget" not in html


def test_pending_earnings_and_the_answer_count_rise_with_each_paid_answer(
    live_project, worker, login_client
):
    project = live_project(tasks=5, gold=2, exam_size=2)
    client = login_client(worker)
    for _ in range(2):
        answer(worker, project, "pos")  # the exam: unpaid
    html = client.get("/crowd/").content.decode()
    assert 'data-testid="earnings-pending">0.00<' in html
    assert 'data-testid="answers">2<' in html
    assert "Qualified" in html
    for n in range(1, 4):
        answer(worker, project, "pos")
        html = client.get("/crowd/").content.decode()
        assert f'data-testid="earnings-pending">{Decimal("0.05") * n:.2f}<' in html
        assert f'data-testid="answers">{2 + n}<' in html


def test_estimated_accuracy_shows_once_known(live_project, worker, login_client):
    project = live_project(tasks=2)
    answer(worker, project, "pos")
    worker.standings.update(estimated_accuracy=0.873)
    assert 'data-testid="accuracy">87%<' in login_client(worker).get("/crowd/").content.decode()


def test_pay_per_hour_uses_the_workers_own_median_after_5_answers(
    live_project, worker, make_worker, django_assert_max_num_queries
):
    project = live_project(tasks=20, min_overlap=3, max_overlap=3)
    other = make_worker()
    for seconds in (10, 20, 30):  # others: median 20 s
        answer(other, project, "pos", seconds=seconds)
    rates = projects_pay_rates(worker=worker, projects=[project])
    assert rates[project.pk].basis == "everyone"
    assert rates[project.pk].per_hour == Decimal("9.0000")  # 0.05 × 3600 / 20
    for seconds in (4, 5, 6, 8):  # four of their own: not yet enough
        answer(worker, project, "pos", seconds=seconds)
    assert projects_pay_rates(worker=worker, projects=[project])[project.pk].basis == "everyone"
    answer(worker, project, "pos", seconds=100)  # fifth: own median = 6 s
    with django_assert_max_num_queries(2):
        rate = projects_pay_rates(worker=worker, projects=[project])[project.pk]
    assert rate.basis == "yours" and rate.median_seconds == 6
    assert rate.per_hour == Decimal("30.0000")


def test_the_median_of_an_even_number_of_answers_is_the_mean_of_the_middle_two(
    live_project, make_worker
):
    project = live_project(tasks=5, min_overlap=4, max_overlap=4)
    for seconds in (3, 10, 1, 5):
        answer(make_worker(), project, "pos", seconds=seconds)
    rate = projects_pay_rates(worker=make_worker(), projects=[project])[project.pk]
    assert rate.median_seconds == 4 and rate.per_hour == Decimal("45.0000")


def test_pay_per_hour_is_unknown_without_answers(live_project, worker, login_client):
    project = live_project(tasks=2)
    rate = projects_pay_rates(worker=worker, projects=[project])[project.pk]
    assert rate.per_hour is None and rate.basis == ""
    html = login_client(worker).get("/crowd/").content.decode()
    assert "<dd>—" in html and "no answers yet" in html


def test_unanswered_leases_do_not_count_towards_the_median(live_project, make_worker):
    project = live_project(tasks=5, min_overlap=4, max_overlap=4)
    answer(make_worker(), project, "pos", seconds=12)
    Assignment.objects.create(
        project=project,
        item=project.items.last(),
        worker=make_worker(),
        reward=project.reward,
        expires_at=project.created_at.replace(year=2100),
    )
    rate = projects_pay_rates(worker=make_worker(), projects=[project])[project.pk]
    assert rate.median_seconds == 12
