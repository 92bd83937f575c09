"""The tag browser in a real browser (headless Chromium): reached from the status page's
navigation, the tags filtered by prefix, a tag's attributes, linked tags, blobs and their
replicas' nodes, a big tag paged, a read-protected tag opened with its token. Each test
saves a screenshot (``.artifacts/screenshots``)."""
import io

import pytest

from disco.ddfs import DDFS

pytestmark = pytest.mark.usefixtures("browser")


def until(browser, predicate, timeout=30, what="the tag browser"):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
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


def texts(browser, selector):
    return [e.text for e in css(browser, selector)]


@pytest.fixture(scope="module")
def cluster(disco_cluster, browser):
    browser.get(disco_cluster.master + "/?token=" + disco_cluster.token)  # logs in
    return disco_cluster


def fake_blobs(hosts, n):
    return [["disco://%s/ddfs/%s/vol0/blob/00/p%04d$5f1-1-1" % (h, h, i) for h in hosts]
            for i in range(n)]


def test_the_status_page_links_to_the_tag_list_which_filters_by_prefix(cluster, browser):
    ddfs = DDFS()
    for name in ("web:fruit:apple", "web:fruit:pear", "web:veg:leek"):
        ddfs.tag(name, fake_blobs(["localhost"], 2))
    browser.get(cluster.master + "/")
    link = until(browser, lambda d: [a for a in css(d, "header nav a.plugin-link")
                                     if a.text == "ddfs"], what="status page")
    link[0].click()
    until(browser, lambda d: css(d, '#tags tr[data-tag="web:veg:leek"]'))
    box = css(browser, "#tagfilter")[0]
    box.send_keys("web:fruit:")
    until(browser, lambda d: texts(d, "#tags tbody tr td:first-child")
          == ["web:fruit:apple", "web:fruit:pear"])
    assert texts(browser, "#tagcount") == ["2 tags starting with web:fruit:"]
    assert "prefix=web%3Afruit%3A" in browser.current_url  # a link to this list
    assert css(browser, "#jobs #jobfilter") and css(browser, "footer")  # core's layout
    browser.screenshot("ddfs-tags")
    css(browser, '#tags tr[data-tag="web:fruit:pear"] a')[0].click()
    until(browser, lambda d: texts(d, "#tagname") == ["web:fruit:pear"])


def test_a_tag_page_shows_attributes_tags_and_replicas_with_their_nodes(cluster, browser):
    ddfs = DDFS()
    d = cluster.disco
    before = d.get_config()
    ddfs.tag("web:target", [])
    ddfs.push("web:data", [(io.BytesIO(b"hello\n"), "hello")])
    ddfs.tag("web:data", [["tag://web:target"], ["tag://web:missing"]]
             + fake_blobs(["localhost", "ghost"], 1))
    ddfs.setattr("web:data", "owner", "chekhov")
    d.set_config(before + [["ghost", "1"]])
    try:
        browser.get(cluster.master + "/ddfs/browse?tag=web:data")
        until(browser, lambda d: css(d, '#attrtable tr[data-attr="owner"]'))
        assert texts(browser, '#attrtable tr[data-attr="owner"] td') == ["owner", "chekhov"]
        assert texts(browser, "#linkedtags li") == ["web:target", "web:missing"]
        assert "missing" in css(browser, '#linkedtags li[data-tag="web:missing"]')[0] \
            .get_attribute("class")
        rows = css(browser, "#blobtable tbody tr.entry")
        assert [r.get_attribute("class") for r in rows] == [
            "entry tag", "entry tag", "entry blob", "entry blob"]  # newest first
        states = [(li.get_attribute("data-host"), li.get_attribute("data-state"))
                  for li in rows[2].find_elements("css selector", ".replicas li")]
        assert states == [("localhost", "up"), ("ghost", "down")]
        pushed = css(browser, "#blobtable tr.entry.blob")[-1]
        assert pushed.get_attribute("data-name").startswith("hello$")
        assert "localhost up" in pushed.text
        browser.screenshot("ddfs-tag")
        css(browser, '#linkedtags li[data-tag="web:target"] a')[0].click()
        until(browser, lambda d: texts(d, "#tagname") == ["web:target"])
        until(browser, lambda d: "The tag is empty." in d.page_source)
    finally:
        d.set_config(before)


def test_a_big_tag_is_paged(cluster, browser):
    DDFS().put("web:big", fake_blobs(["localhost"], 2345))
    browser.get(cluster.master + "/ddfs/browse?tag=web:big")
    until(browser, lambda d: len(css(d, "#blobtable tr.entry")) == 100)
    assert "1\u2013100 of 2345 entries" in texts(browser, "#blobpager")[0]
    [nxt] = [a for a in css(browser, "#blobpager a") if a.text.startswith("next")]
    nxt.click()
    until(browser, lambda d: texts(d, "#blobtable tr.entry td.num")[:1] == ["101"])
    assert css(browser, "#blobtable tr.entry")[0].get_attribute("data-name") \
        == "p0100$5f1-1-1"
    [last] = [a for a in css(browser, "#blobpager a") if a.text.startswith("last")]
    last.click()
    until(browser, lambda d: texts(d, "#blobtable tr.entry td.num")[:1] == ["2301"])
    assert len(css(browser, "#blobtable tr.entry")) == 45
    browser.screenshot("ddfs-big-tag")


def test_a_read_protected_tag_opens_with_its_token(cluster, browser):
    ddfs = DDFS()
    ddfs.tag("web:locked", fake_blobs(["localhost"], 3))
    ddfs.setattr("web:locked", "ddfs:read-token", "opensesame")
    browser.get(cluster.master + "/ddfs/browse?tag=web:locked")
    until(browser, lambda d: css(d, "#tokenform") and css(d, "#tokenform")[0].is_displayed())
    assert "read token" in texts(browser, "#tagproblem")[0]
    assert not css(browser, "#blobtable tr.entry")
    css(browser, "#tagtoken")[0].send_keys("opensesame")
    css(browser, "#tokenform button")[0].click()
    until(browser, lambda d: len(css(d, "#blobtable tr.entry")) == 3)
    assert not css(browser, "#tokenform")[0].is_displayed()


def test_a_missing_tag_says_so(cluster, browser):
    browser.get(cluster.master + "/ddfs/browse?tag=web:never-made")
    until(browser, lambda d: texts(d, "#tagproblem") == ["Tag not found."])
