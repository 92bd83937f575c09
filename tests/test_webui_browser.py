"""The web UI in a real browser (headless Chromium): the status page follows a job to its
end, the job page shows its events and timeline and kills and purges it, the configure
page adds a node. Each test saves a screenshot of its page (``.artifacts/screenshots``)."""
import json

import pytest

from disco.core import Job
from disco_core.testing import running_cluster

pytestmark = pytest.mark.usefixtures("browser")


def until(browser, predicate, timeout=60, what="the page"):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:  # a live page redraws: an element found a moment ago may be gone, so look again
        return WebDriverWait(browser, timeout, poll_frequency=0.1,
                             ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: predicate(d))
    except Exception as exc:
        browser.screenshot("failed-" + what.replace(" ", "-"))
        raise AssertionError("%s never showed what the test waits for (%s); console: %s"
                             % (what, type(exc).__name__, browser.get_log("browser"))) from None


def css(browser, selector):
    from selenium.webdriver.common.by import By
    return browser.find_elements(By.CSS_SELECTOR, selector)


@pytest.fixture(scope="module")
def cluster(browser):
    with running_cluster(hosts=[("localhost", 2)]) as cluster:
        browser.get(cluster.master + "/?token=" + cluster.token)  # logs the browser in
        yield cluster


def napping(line, params):
    import time
    time.sleep(float(params["nap"]))
    yield line, 1


def flaky(line, params):
    import os
    counters.add("seen")  # noqa: F821 (counted by every attempt; only accepted ones count)
    marker = os.path.join(params["dir"], "flaky-" + line)
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise IOError("the first attempt of %s fails" % line)
    yield line, 1


def test_the_status_page_follows_a_running_job_to_its_end(cluster, browser):
    job = Job().run(input=["raw://%d" % i for i in range(6)], map=napping,
                    params={"nap": 1.0})
    browser.get(cluster.master + "/")
    row = '#joblist li[data-job="%s"]' % job.name
    until(browser, lambda d: css(d, row + " .status-active"), what="status page")
    busy = until(browser, lambda d: css(d, '.node[data-host="localhost"] .core.busy'),
                 what="status page")
    assert busy[0].get_attribute("data-job") == job.name
    assert css(browser, '.node[data-host="localhost"]')[0].get_attribute("data-state") == "up"
    until(browser, lambda d: css(d, '#running tr[data-job="%s"][data-stage="map"]' % job.name),
          what="status page")
    browser.screenshot("status")
    until(browser, lambda d: css(d, row + " .status-ready"), what="status page")
    assert not css(browser, ".core.busy")
    until(browser, lambda d: not css(d, '#running tr[data-job="%s"]' % job.name),
          what="status page")
    # the filter box hides the jobs whose names do not match
    box = css(browser, "#jobfilter")[0]
    box.send_keys("no-such-job-name")
    until(browser, lambda d: not css(d, row), what="status page")
    box.clear()
    box.send_keys(job.name[:6])
    until(browser, lambda d: css(d, row), what="status page")


def test_the_job_page_shows_events_and_a_timeline_with_the_retries(cluster, browser,
                                                                    tmp_path):
    job = Job().run(input=["raw://a", "raw://b", "raw://c"], map=flaky,
                    params={"dir": str(tmp_path)})
    job.wait(timeout=120)
    browser.get(cluster.master + "/job.html?name=" + job.name)
    until(browser, lambda d: css(d, "#state") and css(d, "#state")[0].text == "ready",
          what="job page")
    rects = until(browser, lambda d: css(d, '#chart rect.attempt[data-task^="map:"]'),
                  what="job page")
    outcomes = sorted(r.get_attribute("data-outcome") for r in rects)
    assert outcomes == ["done"] * 3 + ["failed"] * 3
    stage = css(browser, '#stages tr[data-stage="map"] td')
    assert [c.text for c in stage[1:6]] == ["0", "0", "0", "3", "3"]
    counter = until(browser, lambda d: css(d, '#counters tr[data-counter="seen"] td'),
                    what="job page")
    assert [c.text for c in counter[:2]] == ["seen", "3"]
    events = [li.text for li in css(browser, "#events li")]
    assert "READY: Job done" in events[0]
    assert any("the first attempt of" in e for e in events)
    browser.screenshot("job")
    # the event filter asks the master for matching events only
    css(browser, "#eventfilter")[0].send_keys("Received results")
    css(browser, "#eventform button")[0].click()
    until(browser, lambda d: all("Received results" in li.text for li in css(d, "#events li"))
          and css(d, "#events li"), what="job page")
    # clicking a host shows only its events
    css(browser, "#eventfilter")[0].clear()
    css(browser, "#eventform button")[0].click()
    until(browser, lambda d: any(li.text.split()[2] == "master" for li in css(d, "#events li")),
          what="job page")
    hosts = [h for h in css(browser, "#events .host") if h.text == "localhost"]
    hosts[0].click()
    until(browser, lambda d: {h.text for h in css(d, "#events .host")} == {"localhost"},
          what="job page")


def fails_on_127_0_0_2(line, params):
    from disco.error import DataError
    if this_host() == "127.0.0.2":  # noqa: F821
        raise DataError("this node cannot do it", line)
    yield line, 1


def test_the_job_page_lists_the_nodes_blacklisted_for_the_job(browser):
    hosts = [("127.0.0.2", 1), ("127.0.0.3", 1)]
    with running_cluster(hosts=hosts, extra_env={"DISCO_JOB_NODE_FAILURES": "1"}) as other:
        job = Job().run(input=["raw://%d" % i for i in range(4)], map=fails_on_127_0_0_2)
        job.wait(timeout=120)
        assert other.disco.jobinfo(job.name)["blacklisted"] == ["127.0.0.2"]
        browser.get(other.master + "/job.html?name=%s&token=%s" % (job.name, other.token))
        item = until(browser, lambda d: css(d, '#blacklisted li[data-host="127.0.0.2"]'),
                     what="job page")
        assert "127.0.0.2 (1 failed attempt)" in item[0].text
        assert css(browser, "#blacklistbox")[0].is_displayed()
        browser.screenshot("job-blacklist")


def test_a_running_job_is_killed_and_purged_from_its_page(cluster, browser):
    job = Job().run(input=["raw://%d" % i for i in range(4)], map=napping,
                    params={"nap": 60})
    browser.get(cluster.master + "/job.html?name=" + job.name)
    until(browser, lambda d: css(d, '#chart rect.attempt[data-outcome="running"]'),
          what="job page")
    css(browser, "#kill")[0].click()
    browser.switch_to.alert.accept()
    until(browser, lambda d: css(d, "#state") and css(d, "#state")[0].text == "dead",
          what="job page")
    assert cluster.disco.jobinfo(job.name)["active"] == "dead"
    until(browser, lambda d: css(d, '#chart rect.attempt[data-outcome="killed"]'),
          what="job page")
    css(browser, "#purge")[0].click()
    browser.switch_to.alert.accept()
    until(browser, lambda d: d.current_url.rstrip("/") == cluster.master, what="status page")
    until(browser, lambda d: css(d, "#joblist") and not css(
        d, '#joblist li[data-job="%s"]' % job.name), what="status page")


def test_a_node_added_on_the_configure_page_appears_on_the_status_page(cluster, browser):
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: css(d, "#nodetable tr.noderow"), what="configure page")
    css(browser, "#addrow")[0].click()
    row = css(browser, "#nodetable tr.noderow")[-1]
    row.find_element("css selector", ".spec").send_keys("127.0.0.2")
    workers = row.find_element("css selector", ".workers")
    workers.clear()
    workers.send_keys("1")
    until(browser, lambda d: css(d, "#settings tr"), what="configure page")
    browser.screenshot("config")
    css(browser, "#savetable")[0].click()
    until(browser, lambda d: "table saved" in css(d, "#flash")[0].text, what="configure page")
    with cluster.urlopen("/disco/ctrl/load_config_table") as reply:
        assert ["127.0.0.2", "1"] in json.loads(reply.read())
    browser.get(cluster.master + "/")
    until(browser, lambda d: css(d, '.node[data-host="127.0.0.2"]'), what="x")
    until(browser, lambda d: css(d, '.node[data-host="127.0.0.2"][data-state="up"]'),
          timeout=90, what="status page")
    # a bad row is refused with the master's message, and the table stays as it was
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: len(css(d, "#nodetable tr.noderow")) == 2, what="configure page")
    css(browser, "#addrow")[0].click()
    css(browser, "#nodetable tr.noderow")[-1].find_element("css selector", ".spec") \
        .send_keys("bad host name!")
    css(browser, "#savetable")[0].click()
    until(browser, lambda d: "invalid" in css(d, "#flash")[0].text.lower(),
          what="configure page")
    with cluster.urlopen("/disco/ctrl/load_config_table") as reply:
        assert len(json.loads(reply.read())) == 2


def test_without_the_token_the_browser_gets_the_login_form_and_logs_in(cluster, browser):
    browser.delete_all_cookies()
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: d.title == "disco: log in", what="login page")
    assert not css(browser, "#nodetable")  # nothing of the page without the token
    browser.screenshot("login")
    box = css(browser, "#token")[0]
    box.send_keys("not the token")
    box.submit()
    until(browser, lambda d: "not this master" in d.page_source, what="login page")
    box = css(browser, "#token")[0]
    box.send_keys(cluster.token)
    box.submit()
    until(browser, lambda d: css(d, "#nodetable tr.noderow"), what="configure page")
    assert "token" not in browser.current_url
