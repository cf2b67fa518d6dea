"""pyresque web in a real Chromium, used as a person uses it, against a real
redis-server and a real ``pyresque web`` process: every page, retry and remove from the
failed list, bulk selection, search, a live counter moving while a real worker drains
jobs, a refresh that keeps the selection, a cross-site POST refused, no CSP violation,
and failures written by node-resque retried from the browser.

Skipped only when Chromium is missing and CI is not set (with CI=true that fails).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from pyresque import Resque
from tests.e2e.browser import chromium_paths, dashboard, start_browser
from tests.e2e.seed import add_failures, client, seed
from tests.redis_server import in_ci
from tests.worker_proc import start_worker, stop, wait_for

pytestmark = pytest.mark.redis

NAV = [("Overview", "Throughput"), ("Queues", "Queues"), ("Workers", "Workers"), ("Failed", "Failed"),
       ("Delayed", "Delayed"), ("Schedule", "Schedule"), ("Stats", "Stats")]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if chromium_paths() is None:
        if in_ci():
            pytest.fail("CI must run the browser tests: chromium and chromium-driver are missing")
        pytest.skip("chromium and chromium-driver are not installed")
    driver = start_browser()
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def app(redis_url: str) -> Iterator[Resque]:
    """A pyresque app on the test redis-server (emptied)."""
    resque = Resque(redis_url)
    yield resque
    resque.close()


@pytest.fixture
def web(app: Resque, redis_url: str) -> Iterator[str]:
    seed(app)
    with dashboard(redis_url) as base:
        yield base


def by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def text(driver: Any, selector: str) -> str:
    """The text of the first element matching ``selector`` on the page now shown; ""
    while it is not there (the next page has not come yet, or it went with the last)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        found = all_css(driver, selector)
        return str(found[0].text) if found else ""
    except StaleElementReferenceException:
        return ""


def attribute(driver: Any, selector: str, name: str) -> str:
    """An attribute of the first element matching ``selector`` ("" as :func:`text`)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        found = all_css(driver, selector)
        return str(found[0].get_attribute(name) or "") if found else ""
    except StaleElementReferenceException:
        return ""


def flash(driver: Any) -> str:
    """The notice of the page now shown."""
    return text(driver, ".flash")


def csp_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_every_page_by_its_navigation_with_scripts_running(browser: Any, web: str) -> None:
    browser.get(web + "/")
    browser.get_log("browser")  # start clean
    for label, heading in NAV:
        link = next(a for a in all_css(browser, "header nav a") if a.text.split(" ")[0] == label)
        link.click()
        wait_for(lambda h=heading: h in text(browser, "main"), what=f"{label} page")
        assert "aria-current" in attribute(browser, "header nav a.active", "outerHTML")
        assert "<script>alert" not in browser.page_source
    browser.get(web + "/")
    wait_for(lambda: attribute(browser, "#live-status", "class") == "on", what="the live stream")
    by_css(browser, "main a[href*='queue?name=mail']").click()
    wait_for(lambda: "Queue mail" in text(browser, "h1"), what="the queue page")
    browser.get(web + "/delayed")
    by_css(browser, "main table a").click()
    wait_for(lambda: "Delayed at" in text(browser, "h1"), what="a timestamp's page")
    browser.get(web + "/stats/keys")
    assert "resque:queues" in text(browser, "main")
    assert csp_errors(browser) == []


def test_retry_and_remove_from_the_failed_list(browser: Any, web: str, app: Resque) -> None:
    r = client(app)
    browser.get(web + "/failed")
    boxes = all_css(browser, "#bulk input[name=ref]")
    assert len(boxes) == 25
    boxes[0].click()
    boxes[2].click()
    assert text(browser, "#selected-count") == "2 selected"
    by_css(browser, "#bulk button[formaction$='/failed/retry']").click()
    wait_for(lambda: "2 failure(s) retried" in flash(browser), what="the retry notice")
    assert r.llen("resque:queue:mail") == 31 + 2
    retried = [json.loads(raw) for raw in r.lrange("resque:failed", 0, 2)]
    assert [bool(e.get("retried_at")) for e in retried] == [True, False, True]
    before = r.llen("resque:failed")
    gone = r.lindex("resque:failed", 1)
    all_css(browser, "#bulk input[name=ref]")[1].click()
    by_css(browser, "#bulk button[formaction$='/failed/remove']").click()
    wait_for(lambda: "1 failure(s) removed" in flash(browser), what="the remove notice")
    assert r.llen("resque:failed") == before - 1 and gone not in r.lrange("resque:failed", 0, -1)


def test_bulk_select_all_and_a_refresh_that_keeps_the_selection(browser: Any, web: str, app: Resque) -> None:
    browser.get(web + "/failed")
    by_css(browser, "#interval").send_keys("1 s")
    by_css(browser, "#select-all").click()
    assert text(browser, "#selected-count") == "25 selected"
    by_css(browser, "#select-all").click()
    assert text(browser, "#selected-count") == "0 selected"
    all_css(browser, "#bulk input[name=ref]")[4].click()
    browser.execute_script("window.scrollTo(0, 400)")
    add_failures(app, 10)  # 44 -> 54 failures: the page's fingerprint changes
    wait_for(lambda: "page 1 of 3" in text(browser, "#live-region"), what="the live refresh")
    assert browser.find_element("css selector", "body").get_attribute("data-refreshed")
    checked = [b.get_attribute("value") for b in all_css(browser, "#bulk input[name=ref]") if b.is_selected()]
    assert len(checked) == 1 and checked[0].startswith("4:")
    assert text(browser, "#selected-count") == "1 selected"
    assert browser.execute_script("return window.scrollY") == 400


def test_search_filters_the_failed_list(browser: Any, web: str) -> None:
    browser.get(web + "/failed")
    box = by_css(browser, "#search")
    box.send_keys("division by zero")
    box.submit()
    wait_for(lambda: "3 match(es)" in text(browser, "#live-region"), what="the search")
    rows = all_css(browser, "tbody.failure")
    assert len(rows) == 3 and all("BuildReport" in row.text for row in rows)
    assert "q=division+by+zero" in browser.current_url


def test_a_live_counter_moves_while_a_worker_drains_jobs(
    browser: Any, web: str, app: Resque, redis_url: str
) -> None:
    for i in range(300):
        app.enqueue("live", "noop", i)
    browser.get(web + "/")
    wait_for(lambda: attribute(browser, "#live-status", "class") == "on", what="the live stream")
    start = text(browser, "[data-live=processed]")
    worker = start_worker(redis_url, "live", "--burst")
    try:
        wait_for(lambda: text(browser, "[data-live=processed]") != start, timeout=30, what="a live update")
        wait_for(lambda: client(app).llen("resque:queue:live") == 0, timeout=30, what="the drain")
    finally:
        stop(worker)
    wait_for(
        lambda: text(browser, "[data-live=processed]") == f"{12345 + 300:,}",
        timeout=20,
        what="the total",
    )


def test_a_cross_site_post_is_refused(browser: Any, web: str, app: Resque) -> None:
    page = (
        "<form method='post' action='" + web + "/queues/remove'><input name='name' value='mail'></form>"
        "<script>document.forms[0].submit()</script>"
    )
    browser.get("data:text/html," + urllib.parse.quote(page))
    wait_for(lambda: "cross-site request refused" in browser.page_source, what="the refusal")
    assert client(app).llen("resque:queue:mail") == 31


def test_failures_written_by_node_resque_are_retried_from_the_browser(
    browser: Any, app: Resque, redis_url: str
) -> None:
    from tests.interop.node import NodeResque, NodeUnavailable, install_node_resque

    try:
        modules = install_node_resque()
    except NodeUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI must run the node-resque interop: {exc}")
        pytest.skip(str(exc))
    node = NodeResque(modules, redis_url)
    try:
        node.queue(
            {"op": "enqueue", "queue": "nodeq", "class": "Fail", "args": ["<img src=x onerror=alert(1)>"]}
        )
        node.work(["nodeq"], expect=1)
    finally:
        node.close()
    with dashboard(redis_url) as base:
        browser.get(base + "/failed")
        assert "&lt;img src=x onerror=alert(1)&gt;" in browser.page_source
        all_css(browser, "#bulk input[name=ref]")[0].click()
        by_css(browser, "#bulk button[formaction$='/failed/retry']").click()
        wait_for(lambda: "1 failure(s) retried" in flash(browser), what="the retry")
    [job] = [json.loads(raw) for raw in client(app).lrange("resque:queue:nodeq", 0, -1)]
    assert job["class"] == "Fail" and job["args"] == ["<img src=x onerror=alert(1)>"]


def test_delayed_and_schedule_actions(browser: Any, web: str, app: Resque) -> None:
    r = client(app)
    browser.get(web + "/delayed")
    by_css(browser, "main table a").click()  # the soonest timestamp: two jobs
    wait_for(lambda: "Delayed at" in text(browser, "h1"), what="a timestamp's page")
    before = r.llen("resque:queue:mail") + r.llen("resque:queue:reports")
    by_css(browser, "form[action$='/delayed/enqueue-now'] button").click()
    wait_for(lambda: "enqueued now" in flash(browser), what="the enqueue notice")
    assert r.llen("resque:queue:mail") + r.llen("resque:queue:reports") == before + 1
    by_css(browser, "form[action$='/delayed/cancel'] button").click()
    browser.switch_to.alert.accept()  # "Cancel this delayed job?"
    wait_for(lambda: "cancelled" in flash(browser), what="the cancel notice")
    assert r.zcard("resque:delayed_queue_schedule") == 11
    browser.get(web + "/schedule")
    by_css(browser, "form[action$='/schedule/run'] button").click()
    wait_for(lambda: "enqueued on reports" in flash(browser), what="the run notice")
    assert r.llen("resque:queue:reports") >= 6


def test_quiet_a_pyresque_worker_and_pause_a_queue_from_the_browser(
    browser: Any, web: str, app: Resque, redis_url: str
) -> None:
    """Quiet shows on the pyresque worker only (the seeded Ruby-style ones have none) and
    makes the real worker exit; Pause on a queue writes paused-queues, Resume clears it."""
    import socket

    from selenium.webdriver.common.by import By

    r = client(app)
    worker = start_worker(redis_url, "ctl", "--mode", "inprocess", "--heartbeat-interval", "1")
    wid = f"{socket.gethostname()}:{worker.pid}:ctl"
    try:
        wait_for(lambda: r.exists(f"resque:worker:{wid}:lease"), what="the worker's lease")
        browser.get(web + "/workers")
        assert len(all_css(browser, "form[action$='/workers/quiet']")) == 1  # the seeded workers: none
        quiet = f"//form[contains(@action,'/workers/quiet')][input[@name='id' and @value='{wid}']]//button"
        browser.find_element(By.XPATH, quiet).click()
        browser.switch_to.alert.accept()  # "Let this worker finish its current job, then exit?"
        wait_for(lambda: "asked worker" in flash(browser), what="the quiet notice")
        assert stop(worker) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(5)
    assert not r.sismember("resque:workers", wid)
    browser.get(web + "/queues")
    pause = "//form[contains(@action,'/queues/pause-queue')][input[@name='name' and @value='mail']]//button"
    browser.find_element(By.XPATH, pause).click()
    browser.switch_to.alert.accept()
    wait_for(lambda: "paused for pyresque workers" in flash(browser), what="the pause notice")
    assert r.smembers("resque:paused-queues") == {b"mail"}
    assert "paused (pyresque workers)" in text(browser, "#live-region")
    browser.find_element(By.XPATH, pause).click()  # now the Resume button of that row
    wait_for(lambda: "resumed" in flash(browser), what="the resume notice")
    assert not r.exists("resque:paused-queues")
