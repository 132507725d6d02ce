"""The trend chart on each weather card, in Chromium at a phone's size (390 x 844) against
the whole local stack (tests/e2e/test_web_app.py's fixtures): the chart is drawn with its
text alternative (the SVG is named by a summary sentence) and a table view, it redraws
when a refresh publishes, it passes axe-core and fits 390 px without sideways scrolling,
and a new visit draws the recorded observations from GET /api/cities/{id}/observations.
The card shows the pressure too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devtools.azurite import Azurite
from tests.e2e.test_web_app import Stack, browser, card, follow, stack  # noqa: F401
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def azurite(azurite_factory: Callable[[], Azurite]) -> Azurite:
    """An Azurite of this test's own (the stack's ``azurite``). On the worker's shared one,
    tests/e2e/test_web_app.py's live-cards test had refreshed Berlin at its fake clock's
    now + 90 min; this test's clock starts at about the same real time, so its refreshes
    (+15, +30 min) began before that ``refreshed_at`` and skipped Berlin as already done
    this run: the second redraw never came (it failed in every suite run that put the two
    on one worker, and passed alone)."""
    return azurite_factory()


def points(chart: Any) -> int:
    return int(chart.get_attribute("data-points"))


def test_the_chart_shows_where_the_temperature_came_from_and_where_it_goes(
    stack: Stack,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    me = stack.screen(browser, "chart").open()
    me.log_in(stack.user("chart"))
    me.wait_live()
    follow(me, "Berlin")
    berlin = card(me, "Berlin")
    berlin.wait_for()
    assert "hPa" in berlin.locator('[data-field="pressure"]').inner_text()

    chart = berlin.locator("figure.trend")
    chart.wait_for()
    svg = chart.locator("svg[role=img]")
    summary_id = svg.get_attribute("aria-labelledby")
    summary = me.page.locator(f"#{summary_id}")
    assert summary.inner_text().startswith("Berlin, DE: ")
    assert "next 24 hours" in summary.inner_text()
    assert chart.locator("path.chart-line.forecast").count() == 1
    assert points(chart) >= 25  # the forecast's 24 hours and the card's own reading
    # Playwright's accessible name of the image is the sentence.
    assert me.page.get_by_role("img", name=summary.inner_text()).count() == 1

    # A refresh publishes: the card redraws by itself, the observation joins the trend.
    before = points(chart)
    stack.clock.advance(minutes=15)
    assert stack.host.run_function("refresh_weather").status_code == 202
    wait_for(lambda: points(card(me, "Berlin").locator("figure.trend")) > before, timeout=60)
    chart = card(me, "Berlin").locator("figure.trend")
    assert chart.locator("path.chart-line.observed").count() == 1
    # The table view: the same points, for screen readers and anyone who prefers numbers;
    # it stays open when the next refresh redraws the card.
    chart = card(me, "Berlin").locator("figure.trend")
    chart.get_by_role("button", name="Show as a table").click()
    before = points(chart)
    stack.clock.advance(minutes=15)
    assert stack.host.run_function("refresh_weather").status_code == 202
    wait_for(lambda: points(card(me, "Berlin").locator("figure.trend")) > before, timeout=60)
    caption = card(me, "Berlin").locator("figcaption").inner_text()
    assert "Last 24 hours" in caption and "next 24 hours" in caption

    chart = card(me, "Berlin").locator("figure.trend")
    table = chart.locator("table")
    table.wait_for()
    assert chart.get_by_role("button", name="Hide the table").get_attribute("aria-expanded") == (
        "true"
    )
    rows = table.locator("tbody tr")
    assert rows.count() == points(chart) + 2  # the points, and a heading row per kind
    assert rows.first.inner_text().startswith("Observed")
    me.check_screen("chart")  # axe-core, and no sideways scroll at 390 px

    # A new visit: the recorded observations come from the observations route.
    me.page.reload()
    me.wait_live()
    chart = card(me, "Berlin").locator("figure.trend")
    chart.wait_for()
    me.wait_until(lambda: me.api_requests("/api/cities/"), timeout=30)
    card(me, "Berlin").locator("figure.trend[data-recorded]").wait_for()
    # 24 forecast hours and the two refreshes' observations (the newest is the card's own).
    me.wait_until(lambda: points(card(me, "Berlin").locator("figure.trend")) >= 26, timeout=30)
    assert card(me, "Berlin").locator("path.chart-line.observed").count() == 1
    me.check_screen("chart-reloaded")
    me.close()
