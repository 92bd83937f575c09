"""What DDFS adds to core's pages, in a real browser (headless Chromium): the status page's
node boxes show each node's DDFS disk use, and the configure page marks the DDFS-blacklisted
nodes whose blobs all have replicas elsewhere as safe to remove."""
import io

import pytest

from disco.ddfs import DDFS
from disco_core.testing import running_cluster, wait_for

pytestmark = pytest.mark.usefixtures("browser")


def until(browser, predicate, timeout=60, what="the page"):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.2,
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
    hosts = [("127.0.0.2", 1), ("127.0.0.3", 1)]
    with running_cluster(hosts=hosts, extra_env={"DDFS_GC_INITIAL_WAIT": "0"}) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        browser.get(cluster.master + "/?token=" + cluster.token)  # logs the browser in
        yield cluster


def test_a_node_box_shows_its_ddfs_disk_use(cluster, browser):
    info = wait_for(lambda: (lambda i: i if all("diskfree" in n for n in i.values()) else None)(
        cluster.disco.nodeinfo()), timeout=60)
    browser.get(cluster.master + "/")
    for host, node in info.items():
        bar = until(browser, lambda d: css(d, '.node[data-host="%s"] .disk' % host),
                    what="status page")
        used = round(100 * node["diskused"] / (node["diskused"] + node["diskfree"]))
        assert abs(int(bar[0].get_attribute("title").split("%")[0]) - used) <= 1
        width = bar[0].find_element("css selector", "span").get_attribute("style")
        assert "width:" in width.replace(" ", "")
        box = css(browser, '.node[data-host="%s"]' % host)[0]
        assert " free" in box.text  # how much, in KB / MB / GB


def test_a_ddfs_blacklisted_node_is_marked_safe_once_its_blobs_moved(cluster, browser):
    ddfs = DDFS()
    ddfs.push("test:pages:moving", [(io.BytesIO(b"moving\n"), "m")], forceon=["127.0.0.2"])
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: css(d, "#nodetable tr.noderow"), what="configure page")
    css(browser, "#gcblacklisthost")[0].send_keys("127.0.0.2")
    css(browser, "#gcblacklistform button")[0].click()
    item = until(browser, lambda d: css(d, '#gcblacklist li[data-host="127.0.0.2"]'),
                 what="configure page")
    try:
        assert item[0].get_attribute("class") != "safe"  # its blob is there alone

        def marked(d):
            d.refresh()  # the marks are read as the page loads
            return until(d, lambda d: css(d, '#gcblacklist li[data-host="127.0.0.2"]'),
                         what="configure page")[0].get_attribute("class") == "safe"
        until(browser, marked, timeout=90, what="configure page")
        browser.screenshot("config-safe-to-remove")
        [[moved]] = ddfs.urls("test:pages:moving")
        assert moved.startswith("disco://127.0.0.3/")
    finally:
        cluster.disco.request("/disco/ctrl/gc_whitelist", '"127.0.0.2"')
        ddfs.delete("test:pages:moving")
