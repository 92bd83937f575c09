/* The job page: its stages with progress, the timeline of its tasks, its events, its
 * inputs and results, and the kill and purge buttons; pushed live while it runs. */
"use strict";

(function () {
  const name = disco.param("name");
  disco.header("job: " + name, "job");
  const $ = id => document.getElementById(id);
  const chart = timelineChart($("chart"), $("legend"), $("timelinenote"));
  const jobs = disco.jobList($("jobs"));
  let hostOnly = null, lastEvents = [], source = null, shownInfo = "", shownEvents = "";

  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(name);
      disco.flash("copied " + name);
    } catch (e) {
      window.prompt("The job's name:", name);
    }
  });
  $("kill").addEventListener("click", async () => {
    if (!window.confirm("Kill job " + name + "?")) return;
    try {
      await disco.api("/disco/ctrl/kill_job", name);
      disco.flash("job killed");
    } catch (e) { disco.flash(e.message, true); }
  });
  $("purge").addEventListener("click", async () => {
    if (!window.confirm("Delete all data of job " + name + "?")) return;
    try {
      await disco.api("/disco/ctrl/purge_job", name);
      window.location.href = "/";
    } catch (e) { disco.flash(e.message, true); }
  });

  function showInfo(info) {
    const state = info.active;
    $("summary").replaceChildren("Job is ", disco.el("b", {class: "state-" + state, id: "state",
                                                          text: state}),
      ", started " + info.timestamp + (info.owner ? " by " + info.owner : ""));
    $("kill").disabled = state !== "active";
    const rows = (info.pipeline || []).map(([stage, pending, waiting, running, done, failed]) => {
      const total = pending + waiting + running + done;
      const pct = n => total ? (100 * n / total).toFixed(1) + "%" : "0";
      return disco.el("tr", {"data-stage": stage},
        disco.el("td", {text: stage}),
        [pending, waiting, running, done, failed].map(n => disco.el("td", {class: "num",
                                                                         text: n})),
        disco.el("td", {},
          disco.el("div", {class: "progress", title: done + " of " + total + " done"},
            disco.el("span", {class: "done", style: "width:" + pct(done)}),
            disco.el("span", {class: "running", style: "width:" + pct(running)})),
          disco.el("span", {class: "muted", text: " " + done + "/" + total})));
    });
    $("stages").tBodies[0].replaceChildren(...rows);
    const reason = $("reason");
    reason.hidden = !info.reason;
    reason.textContent = info.reason || "";
    const counts = {};
    for (const h of info.hosts || []) counts[h] = (counts[h] || 0) + 1;
    $("hosts").replaceChildren(...Object.keys(counts).sort().map(h =>
      disco.el("li", {text: h + (counts[h] > 1 ? " (" + counts[h] + " tasks)" : "")})));
    if (!Object.keys(counts).length) $("hosts").append(disco.el("li", {class: "muted",
                                                                      text: "none"}));
    const shunned = info.blacklisted || [], fails = info.node_failures || {};
    $("blacklistbox").hidden = !shunned.length;
    $("blacklisted").replaceChildren(...shunned.map(h => disco.el("li", {"data-host": h,
      text: h + " (" + (fails[h] || 0) + (fails[h] === 1 ? " failed attempt)"
                                                        : " failed attempts)")})));
    showUrls("results", info.results, info.results_count, "results");
    showUrls("inputs", info.inputs, info.inputs_count, "inputs");
  }

  function showUrls(id, urls, count, what) {
    $(id).replaceChildren(...(urls || []).map(u => disco.el("li", {},
      /^https?:\/\//.test(u) ? disco.el("a", {href: u, text: u}) : u)));
    $(id === "results" ? "resultnote" : "inputnote").textContent =
      count > (urls || []).length ? "Showing the first " + urls.length + " of " + count + " " + what
      : count ? "" : "none";
  }

  let shownCounters = "";
  function showCounters(view) {
    const key = JSON.stringify(view || {});
    if (key === shownCounters) return;
    shownCounters = key;
    const done = (view && view.counters) || {}, running = (view && view.running) || {};
    const names = [...new Set([...Object.keys(done), ...Object.keys(running)])].sort();
    $("counterbox").hidden = !names.length;
    $("counters").tBodies[0].replaceChildren(...names.map(n => disco.el("tr", {"data-counter": n},
      disco.el("td", {}, disco.el("code", {text: n})),
      disco.el("td", {class: "num", text: done[n] === undefined ? 0 : done[n]}),
      disco.el("td", {class: "num muted", text: running[n] === undefined ? "" :
                                                 "+" + running[n]}))));
  }

  function eventClass(message) {
    if (/^(ERROR|FATAL)/.test(message)) return "error";
    if (/^WARN/.test(message)) return "warning";
    if (/^READY/.test(message)) return "ready";
    return "";
  }

  function showEvents(events) {
    lastEvents = events;
    const shown = hostOnly ? events.filter(e => e[1] === hostOnly) : events;
    $("events").replaceChildren(...shown.map(([when, host, message]) =>
      disco.el("li", {class: eventClass(message)},
        disco.el("span", {class: "muted", text: when}),
        disco.el("span", {class: "host", text: host, title: "show only " + host + "'s events",
                          onclick: () => { hostOnly = hostOnly === host ? null : host;
                                           showEvents(lastEvents); }}),
        disco.el("span", {class: "msg", text: message}))));
    $("hostfilter").textContent = hostOnly ? "only " + hostOnly + " (click it again for all)"
      : "";
  }

  function follow() {
    if (source) source.close();
    const filter = $("eventfilter").value.trim();
    source = disco.follow("view=job&name=" + encodeURIComponent(name) +
                          (filter ? "&filter=" + encodeURIComponent(filter) : ""), view => {
      // redrawn only when they changed, so a reader's selection or hover stays put
      const info = JSON.stringify(view.info), events = JSON.stringify(view.events);
      if (info !== shownInfo) { shownInfo = info; showInfo(view.info); }
      jobs.update(view.jobs, view.jobcount);
      disco.setLinks(view.links);
      disco.footer(view.version);
      showCounters(view.counters);
      if (events !== shownEvents) { shownEvents = events; showEvents(view.events); }
      if (view.timeline) chart.update(view.timeline, view.info.active === "active");
    }, () => {
      disco.flash("job " + name + " is gone (purged)", true);
    });
  }
  $("eventform").addEventListener("submit", ev => { ev.preventDefault(); follow(); });
  follow();
})();
