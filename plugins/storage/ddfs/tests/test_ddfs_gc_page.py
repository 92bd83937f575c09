"""The web UI's DDFS GC panel in a real browser (headless Chromium): linked from the status
page's navigation, it shows that no run happened yet, starts one with its Start GC link
(flashing the reply) and then shows the run's table. A screenshot is saved
(``.artifacts/screenshots``)."""
import io

import pytest

from disco.ddfs import DDFS
from disco_core.testing import running_cluster

pytestmark = pytest.mark.usefixtures("browser")


def until(browser, predicate, what, timeout=60):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1,
                             ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: predicate(d))
    except Exception as exc:
        browser.screenshot("failed-ddfs-gc-" + what.replace(" ", "-"))
        raise AssertionError("the GC page never showed %s (%s); console: %s"
                             % (what, type(exc).__name__, browser.get_log("browser"))) from None


def css(browser, selector):
    from selenium.webdriver.common.by import By
    return browser.find_elements(By.CSS_SELECTOR, selector)


def test_the_gc_panel_starts_a_run_and_shows_its_counts(browser):
    env = {"DDFS_GC_INITIAL_WAIT": "60"}
    with running_cluster(hosts=[("localhost", 1)], extra_env=env) as cluster:
        DDFS().push("test:page:gc", [(io.BytesIO(b"x\n"), "x")])
        browser.get(cluster.master + "/?token=" + cluster.token)
        link = until(browser, lambda d: [a for a in css(d, "header nav a.plugin-link")
                                         if a.text == "ddfs gc"], "its link")
        link[0].click()
        until(browser, lambda d: "GC is waiting for the cluster to stabilize" in
              css(d, "#gcstatus")[0].text, "the startup wait")
        assert "has not run" in css(browser, "#gcnone")[0].text
        start = css(browser, "#gcstart")[0]
        assert start.is_displayed() and start.text == "Start GC"
        start.click()
        until(browser, lambda d: "GC has started" in css(d, "#flash")[0].text, "the reply")
        until(browser, lambda d: css(d, "#gcstats")[0].is_displayed()
              and css(d, "#gcstatus")[0].text == "GC is idle.", "the finished run")
        rows = {r.get_attribute("data-row"): [td.text for td in r.find_elements("css selector",
                                                                              "td")]
                for r in css(browser, "#gcstats tbody tr")}
        assert list(rows) == ["Tags kept", "Tags deleted", "Blobs kept", "Blobs deleted"]
        # one node: nothing to even out, and the panel says what the run found
        balance = css(browser, "#gcbalance")[0].text
        assert balance.startswith("Disk use: average ") and balance.endswith(
            "%, threshold 0.1; over-used: none; under-used: none; blobs moved: 0 (0 bytes)"), \
            balance
        assert rows["Tags kept"][1] == "1" and rows["Blobs kept"][1:] == ["1", "2"]
        assert css(browser, "#gcwhen")[0].text.startswith("At: ")
        assert css(browser, "#gcstart")[0].is_displayed()
        browser.screenshot("ddfs-gc")
