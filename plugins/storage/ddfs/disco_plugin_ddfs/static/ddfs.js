/* The tag browser: the tags by prefix, or one tag (?tag=NAME) with its attributes, the tags
 * it points to and its blobs a page at a time, each replica with its node's state. */
"use strict";

(function () {
  const $ = id => document.getElementById(id);
  const tag = disco.param("tag");
  const offset = Math.max(0, parseInt(disco.param("offset"), 10) || 0);
  disco.header(tag ? "ddfs tag: " + tag : "ddfs tags", "ddfs");
  const jobs = disco.jobList($("jobs"));
  const browse = query => "/ddfs/browse?" + new URLSearchParams(query).toString();
  const tagLink = (name, exists) => disco.el("a", {
    href: browse({tag: name}), text: name, class: exists === false ? "missing" : null,
    title: exists === false ? "no such tag (deleted, or never made)" : null});

  /* A JSON view; a tag's read token (typed into the page) goes with it when there is one. */
  async function view(path) {
    const token = sessionStorage.getItem("ddfs-token:" + tag);
    const headers = token ? {Authorization: "Basic " + btoa("token:" + token)} : {};
    const reply = await fetch(path, {headers});
    const text = await reply.text();
    let value = text;
    try { value = JSON.parse(text); } catch (e) { /* a plain-text reply */ }
    if (!reply.ok) {
      const error = new Error(typeof value === "string" ? value : reply.status + "");
      error.status = reply.status;
      throw error;
    }
    return value;
  }

  function pager(box, at, shown, count, link, what) {
    const parts = [];
    const step = Math.max(shown, 1);
    const to = (label, where, ok) => ok ? disco.el("a", {href: link(where), text: label})
      : disco.el("span", {class: "disabled", text: label});
    if (count > step || at > 0) {
      parts.push(to("\u00ab first", 0, at > 0),
                 to("\u2039 previous", Math.max(0, at - step), at > 0),
                 disco.el("span", {class: "muted", text: (count ? at + 1 : 0) + "\u2013" +
                   Math.min(at + shown, count) + " of " + count + " " + what}),
                 to("next \u203a", at + step, at + step < count),
                 to("last \u00bb", Math.max(0, Math.floor((count - 1) / step) * step),
                    at + step < count));
    }
    box.replaceChildren(...parts);
  }

  async function showTags() {
    $("taglist").hidden = false;
    const filter = $("tagfilter");
    filter.value = disco.param("prefix");
    let timer = null;
    const load = async (at) => {
      const prefix = filter.value.trim();
      const query = {prefix, offset: at};
      const got = await view("/ddfs/ui/tags?" + new URLSearchParams(query));
      history.replaceState(null, "", browse(at ? query : prefix ? {prefix} : {}));
      $("tags").tBodies[0].replaceChildren(...got.tags.map(t => disco.el("tr",
        {"data-tag": t.name},
        disco.el("td", {}, tagLink(t.name)),
        disco.el("td", {class: "num", text: t["read-protected"] ? "read-protected" :
                        t.entries}),
        disco.el("td", {text: t["last-modified"]}))));
      if (!got.tags.length) {
        $("tags").tBodies[0].append(disco.el("tr", {}, disco.el("td", {colspan: 3,
          class: "muted", text: prefix ? "No tag starts with " + prefix + "." : "No tags yet."})));
      }
      $("tagcount").textContent = got.count + (got.count === 1 ? " tag" : " tags") +
        (prefix ? " starting with " + prefix : "");
      pager($("tagpager"), got.offset, got.tags.length, got.count,
            where => browse({prefix, offset: where}), "tags");
    };
    const reload = () => load(0).catch(e => disco.flash(e.message, true));
    filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(reload, 300); });
    filter.addEventListener("keydown", ev => { if (ev.key === "Enter") reload(); });
    await load(offset);
  }

  function replicaList(replicas) {
    return disco.el("ul", {class: "replicas"}, replicas.map(r => disco.el("li",
      {"data-host": r.host || "", "data-state": r.state},
      disco.el("span", {class: "node-state " + r.state, text: r.host ?
        r.host + " " + r.state : r.state, title: r.host ? "node " + r.host + " is " + r.state :
        "not on a node of this cluster"}),
      disco.el("span", {class: "url", text: r.url}))));
  }

  async function showTag() {
    $("tag").hidden = false;
    $("tagname").textContent = tag;
    let got;
    try {
      got = await view("/ddfs/ui/tag?" + new URLSearchParams({name: tag, offset}));
    } catch (e) {
      $("tokenform").hidden = e.status !== 401;
      $("tagfacts").tBodies[0].replaceChildren(disco.el("tr", {}, disco.el("td",
        {colspan: 2, class: "problem", id: "tagproblem", text: e.status === 401 ?
          "This tag has a read token: give it to see the tag." : e.message})));
      throw e;
    }
    const fact = (k, v) => disco.el("tr", {}, disco.el("td", {text: k}), disco.el("td", {}, v));
    $("tagfacts").tBodies[0].replaceChildren(
      fact("incarnation", got.id), fact("last modified", got["last-modified"]),
      fact("entries", got.blob_count + " blobs, " + got.tag_count + " tags"),
      fact("tokens", (got["read-protected"] ? "read" : "no read") + " token, " +
                     (got["write-protected"] ? "write" : "no write") + " token"));
    const attrs = Object.keys(got.attrs).sort();
    $("attrs").hidden = !attrs.length;
    $("attrtable").tBodies[0].replaceChildren(...attrs.map(k => disco.el("tr",
      {"data-attr": k}, disco.el("td", {}, disco.el("code", {text: k})),
      disco.el("td", {text: got.attrs[k]}))));
    $("links").hidden = !got.tags.length;
    $("linkcount").textContent = got.tag_count > got.tags.length ?
      "the first " + got.tags.length + " of " + got.tag_count : "";
    $("linkedtags").replaceChildren(...got.tags.map(t => disco.el("li",
      {"data-tag": t.name, class: t.exists ? null : "missing"}, tagLink(t.name, t.exists))));
    $("blobs").hidden = false;
    $("blobcount").textContent = got.count + (got.count === 1 ? " entry" : " entries");
    $("blobtable").tBodies[0].replaceChildren(...got.entries.map((e, i) => disco.el("tr",
      {class: "entry " + e.kind, "data-name": e.name},
      disco.el("td", {class: "num muted", text: got.offset + i + 1}),
      disco.el("td", {class: "name"}, e.kind === "tag" ? ["tag ", tagLink(e.name, e.exists)]
               : e.name),
      disco.el("td", {}, e.kind === "tag" ? "" : replicaList(e.replicas)))));
    if (!got.entries.length) {
      $("blobtable").tBodies[0].append(disco.el("tr", {}, disco.el("td", {colspan: 3,
        class: "muted", text: got.count ? "No entries on this page." : "The tag is empty."})));
    }
    pager($("blobpager"), got.offset, got.entries.length, got.count,
          where => browse({tag, offset: where}), "entries");
  }

  $("tokenform").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem("ddfs-token:" + tag, $("tagtoken").value);
    window.location.reload();
  });
  (tag ? showTag() : showTags()).catch(e => disco.flash(e.message, true));
  disco.follow("view=status", view => {
    jobs.update(view.jobs, view.jobcount);
    disco.setLinks(view.links);
    document.querySelectorAll("header nav a.plugin-link").forEach(a =>
      a.classList.toggle("here", a.getAttribute("href") === window.location.pathname));
    disco.footer(view.version);
  });
})();
