"""The web UI's details in a real browser (headless Chromium, a laptop's 1366x900 window):
a node box counts its tasks by outcome, every page fits the window's width, the job page
copies the job's name and shows a traceback line by line, and the configure page takes a
host range, edits and removes rows, keeps both blacklists, max failures and whether new
jobs are taken, and lists the settings in force."""
import json

import pytest

from disco.core import Job
from disco_core.errors import DiscoError
from disco_core.testing import running_cluster
from test_webui_browser import css, until

pytestmark = pytest.mark.usefixtures("browser")


@pytest.fixture(scope="module")
def cluster(browser):
    with running_cluster(hosts=[("localhost", 2)]) as cluster:
        browser.get(cluster.master + "/?token=" + cluster.token)  # logs the browser in
        yield cluster


def recovers(line, params):
    import os
    marker = os.path.join(params["dir"], "once-" + line)
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise IOError("the first attempt of %s fails" % line)  # recoverable: retried
    yield line, 1


def crashes(line, params):
    def parse(text):
        return int(text)  # ValueError: retried up to the failure limit, with its traceback
    yield parse(line), 1


def gives_up(line, params):
    from disco_core.errors import FatalError
    raise FatalError("this job cannot run anywhere")  # fatal: the job ends at once


def fits_the_window(browser):
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")


def box_counts(browser, host):
    return [s.text for s in css(browser, '.node[data-host="%s"] .counts span' % host)]


def test_a_node_box_counts_its_tasks_by_outcome(cluster, browser, tmp_path):
    Job().run(input=["raw://a", "raw://b"], map=recovers,
              params={"dir": str(tmp_path)}).wait(timeout=120)
    fatal = Job().run(input=["raw://x"], map=gives_up)
    with pytest.raises(Exception):
        fatal.wait(timeout=120)
    info = cluster.disco.nodeinfo()["localhost"]
    assert info["job_ok"] >= 2 and info["data_error"] >= 2 and info["error"] >= 1, info
    browser.get(cluster.master + "/")
    want = ["ok %d" % info["job_ok"], "retried %d" % info["data_error"],
            "fatal %d" % info["error"]]
    until(browser, lambda d: box_counts(d, "localhost") == want, what="status page")
    box = css(browser, '.node[data-host="localhost"]')[0]
    assert "0 of 2 slots busy" in box.text and len(css(box, ".core")) == 2
    assert fits_the_window(browser)


def test_every_page_fits_a_laptop_screen(cluster, browser):
    job = Job().run(input=["raw://%s" % ("long-input-name-" * 8 + str(i)) for i in range(3)],
                    map=crashes)
    with pytest.raises(Exception):
        job.wait(timeout=120)
    assert browser.execute_script("return window.innerWidth") <= 1366
    for path, ready in (("/", ".node"), ("/job.html?name=" + job.name, "#events li"),
                        ("/config.html", "#settings tr")):
        browser.get(cluster.master + path)
        until(browser, lambda d: css(d, ready), what=path)
        assert fits_the_window(browser), "%s is wider than a laptop's window" % path


def test_the_job_page_copies_the_name_and_shows_a_traceback_line_by_line(cluster, browser):
    job = Job().run(input=["raw://x"], map=crashes)
    with pytest.raises(Exception):
        job.wait(timeout=120)
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": cluster.master, "permissions": ["clipboardReadWrite",
                                                  "clipboardSanitizedWrite"]})
    browser.get(cluster.master + "/job.html?name=" + job.name)
    until(browser, lambda d: css(d, "#state") and css(d, "#state")[0].text == "dead",
          what="job page")
    # the traceback of the failed task: its lines one under another, not run together
    messages = until(browser, lambda d: [m for m in css(d, "#events li .msg")
                                         if "Traceback" in m.text], what="job page")
    lines = messages[0].text.split("\n")
    assert any(line.strip().startswith("File ") for line in lines), lines
    assert any("ValueError" in line for line in lines), lines
    height, line_height = browser.execute_script(
        "const e = arguments[0]; return [e.getBoundingClientRect().height,"
        " parseFloat(getComputedStyle(e).lineHeight)]", messages[0])
    assert height >= 3 * line_height  # drawn on lines of their own
    css(browser, "#copy")[0].click()
    until(browser, lambda d: ("copied " + job.name) in css(d, "#flash")[0].text,
          what="job page")
    copied = browser.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('' + e))")
    assert copied == job.name


def rows_of(cluster):
    with cluster.urlopen("/disco/ctrl/load_config_table") as reply:
        return json.loads(reply.read())


def ctrl(cluster, op):
    with cluster.urlopen("/disco/ctrl/" + op) as reply:
        return json.loads(reply.read())


def saved(browser, what="table saved"):
    until(browser, lambda d: what in css(d, "#flash")[0].text, what="configure page")


def test_the_configure_page_takes_a_range_edits_and_removes_rows(cluster, browser):
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: len(css(d, "#nodetable tr.noderow")) == 1, what="configure page")
    first = css(browser, "#nodetable tr.noderow")[0].find_element("css selector", ".workers")
    first.clear()
    first.send_keys("3")  # an edit
    css(browser, "#addrow")[0].click()
    row = css(browser, "#nodetable tr.noderow")[-1]
    row.find_element("css selector", ".spec").send_keys("127.0.0.2:3")  # a range of two
    css(browser, "#savetable")[0].click()
    saved(browser)
    assert rows_of(cluster) == [["localhost", "3"], ["127.0.0.2:3", "1"]]
    info = cluster.disco.nodeinfo()
    assert sorted(info) == ["127.0.0.2", "127.0.0.3", "localhost"]
    assert info["localhost"]["max_workers"] == 3
    browser.get(cluster.master + "/")
    until(browser, lambda d: css(d, '.node[data-host="127.0.0.3"]'), what="status page")
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: len(css(d, "#nodetable tr.noderow")) == 2, what="configure page")
    css(browser, "#nodetable tr.noderow")[-1].find_element("link text", "remove").click()
    assert len(css(browser, "#nodetable tr.noderow")) == 1
    css(browser, "#savetable")[0].click()
    saved(browser)
    assert rows_of(cluster) == [["localhost", "3"]]
    assert sorted(cluster.disco.nodeinfo()) == ["localhost"]


def test_the_configure_page_keeps_both_blacklists(cluster, browser):
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: css(d, "#nodetable tr.noderow"), what="configure page")
    for form, box, listed, getter in (("#blacklistform", "#blacklisthost", "#blacklist",
                                       "get_blacklist"),
                                      ("#gcblacklistform", "#gcblacklisthost", "#gcblacklist",
                                       "get_gc_blacklist")):
        css(browser, box)[0].send_keys("localhost")
        css(browser, form + " button")[0].click()
        item = until(browser, lambda d: css(d, listed + ' li[data-host="localhost"]'),
                     what="configure page")
        assert ctrl(cluster, getter) == ["localhost"]
        item[0].click()  # off the list again
        until(browser, lambda d: not css(d, listed + ' li[data-host="localhost"]'),
              what="configure page")
        assert ctrl(cluster, getter) == []


def test_the_configure_page_sets_max_failures_and_whether_jobs_are_taken(cluster, browser):
    browser.get(cluster.master + "/config.html")
    box = until(browser, lambda d: [b for b in css(d, "#maxfail") if b.get_attribute("value")],
                what="configure page")[0]
    box.clear()
    box.send_keys("7")
    from selenium.webdriver.support.ui import Select
    Select(css(browser, "#accept")[0]).select_by_visible_text("No")
    css(browser, "#savesettings")[0].click()
    until(browser, lambda d: css(d, "#flash")[0].text == "Settings saved",
          what="configure page")
    try:
        assert ctrl(cluster, "get_settings") == {"max_failure_rate": 7, "accept_new_jobs": 0}
        with pytest.raises(DiscoError, match="No new jobs should be submitted"):
            Job().run(input=["raw://a"], map=recovers, params={"dir": "/"})
    finally:
        cluster.disco.request("/disco/ctrl/save_settings", json.dumps(
            {"max_failure_rate": 100, "accept_new_jobs": 1}))
    # the settings in force, as the master has them
    browser.get(cluster.master + "/config.html")
    until(browser, lambda d: css(d, "#settings tr"), what="configure page")
    shown = {r.find_elements("css selector", "td")[0].text:
             r.find_elements("css selector", "td")[1].text for r in css(browser, "#settings tr")}
    assert shown["DISCO_PORT"] == str(cluster.port)
    assert shown["DISCO_HOME"] == cluster.env["DISCO_HOME"]


def test_the_job_page_shows_counters_live_while_the_job_runs(cluster, browser):
    from test_counters import slow_counting_map
    job = Job().run(input=["raw://slow"], map=slow_counting_map, params={"n": 100})
    browser.get(cluster.master + "/job.html?name=" + job.name)
    cells = until(browser, lambda d: (lambda c: c if len(c) == 3 and c[2].text.startswith("+")
                                      else None)(
        css(d, '#counters tr[data-counter="ticks"] td')), what="job page")
    assert cells[1].text == "0"  # none accepted yet: the running attempt's count is apart
    assert 0 < int(cells[2].text[1:]) < 100
    assert css(browser, "#state")[0].text == "active"
    job.wait(timeout=120)
    until(browser, lambda d: [c.text for c in css(d, '#counters tr[data-counter="ticks"] td')]
          == ["ticks", "100", ""], what="job page")


def quick(line, params):
    yield line, 1


def test_the_status_page_lists_jobs_newest_first_and_each_nodes_state(cluster, browser):
    older = Job().run(input=["raw://a"], map=quick)
    older.wait(timeout=120)
    newer = Job().run(input=["raw://b"], map=quick)
    newer.wait(timeout=120)
    browser.get(cluster.master + "/")

    def order(d):
        names = [li.get_attribute("data-job") for li in css(d, "#joblist li")]
        return names if older.name in names and newer.name in names else None
    names = until(browser, order, what="status page")
    assert names.index(newer.name) < names.index(older.name)
    # everything the page loads comes from the master: no CDN
    sources = browser.execute_script(
        "return [...document.querySelectorAll('script[src], link[href], img[src]')]"
        ".map(e => e.src || e.href)")
    assert sources and all(s.startswith(cluster.master + "/") or s.startswith("data:")
                           for s in sources), sources
    table = cluster.disco.get_config()
    cluster.disco.blacklist("localhost")
    try:
        until(browser, lambda d: css(d, '.node[data-host="localhost"][data-state="blacklisted"]'),
              what="status page")
    finally:
        cluster.disco.whitelist("localhost")
    until(browser, lambda d: css(d, '.node[data-host="localhost"][data-state="up"]'),
          what="status page")
    cluster.disco.set_config(table + [["nx-elsewhere.invalid", "1"]])
    try:
        box = until(browser, lambda d: css(
            d, '.node[data-host="nx-elsewhere.invalid"][data-state="lost"] .problem'),
            what="status page")
        assert "nx-elsewhere.invalid" in box[0].text  # why it is not up
        browser.screenshot("status-node-states")
    finally:
        cluster.disco.set_config(table)
