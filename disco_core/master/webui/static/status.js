/* The status page: a box per node (slots, counts, state) and the job list, pushed live. */
"use strict";

(function () {
  disco.header("disco status", "status");
  const jobs = disco.jobList(document.getElementById("jobs"));
  const nodesBox = document.getElementById("nodes");
  const summary = document.getElementById("nodesummary");
  let shownNodes = "";

  function nodeBox(host, node) {
    const state = node.blacklisted ? "blacklisted" : node.connected ? "up" : "lost";
    const tasks = node.tasks || [];
    const cores = [];
    for (let i = 0; i < Math.max(node.max_workers, tasks.length); i++) {
      const job = tasks[i];
      cores.push(disco.el("span", {
        class: "core" + (job ? " busy" : ""), "data-job": job || null,
        title: job ? "running a task of " + job : "free",
        onclick: job ? () => jobs.setFilter(job) : null,
      }));
    }
    const body = disco.el("div", {class: "body"},
      disco.el("div", {class: "cores"}, cores),
      disco.el("div", {class: "muted"}, tasks.length + " of " + node.max_workers + " slots busy"));
    if (node.diskfree !== undefined && node.diskused !== undefined) {
      const all = node.diskfree + node.diskused;
      const pct = all ? Math.round(100 * node.diskused / all) : 0;
      body.append(disco.el("div", {class: "disk", title: pct + "% used"},
                           disco.el("span", {style: "width:" + pct + "%"})),
                  disco.el("div", {class: "muted"}, disco.bytes(node.diskfree) + " free"));
    }
    body.append(disco.el("div", {class: "counts"},
      disco.el("span", {class: "ok", title: "tasks done"}, "ok " + (node.job_ok || 0)),
      disco.el("span", {class: "retry", title: "tasks retried after a recoverable failure"},
               "retried " + (node.data_error || 0)),
      disco.el("span", {class: "fatal", title: "tasks that failed fatally"},
               "fatal " + (node.error || 0))));
    if (node.problem) body.append(disco.el("div", {class: "problem", text: node.problem}));
    return disco.el("div", {class: "node " + state, "data-host": host, "data-state": state},
      disco.el("div", {class: "title"}, disco.el("span", {text: host}),
               disco.el("span", {class: "state", text: state})),
      body);
  }

  function showNodes(nodes) {
    const key = JSON.stringify(nodes);
    if (key === shownNodes) return;
    shownNodes = key;
    const hosts = Object.keys(nodes).sort();
    nodesBox.replaceChildren(...hosts.map(h => nodeBox(h, nodes[h])));
    if (!hosts.length) {
      nodesBox.append(disco.el("p", {class: "muted"},
        "No nodes are configured: add some on the ", disco.el("a", {href: "/config.html",
        text: "configure"}), " page."));
    }
    const up = hosts.filter(h => nodes[h].connected && !nodes[h].blacklisted).length;
    const busy = hosts.reduce((n, h) => n + (nodes[h].tasks || []).length, 0);
    const slots = hosts.reduce((n, h) => n + nodes[h].max_workers, 0);
    summary.textContent = up + " of " + hosts.length + " up, " + busy + " of " + slots +
      " slots busy";
  }

  let shownRunning = "";
  function showRunning(running) {
    const key = JSON.stringify(running);
    if (key === shownRunning) return;
    shownRunning = key;
    const rows = [];
    for (const job of running) {
      job.stages.forEach(([stage, tasks, run, done, failed], i) => {
        if (!tasks && i > 0) return;  // a stage not started yet
        const pct = n => tasks ? (100 * n / tasks).toFixed(1) + "%" : "0";
        rows.push(disco.el("tr", {"data-job": job.name, "data-stage": stage,
                                  onmouseenter: () => disco.highlight(job.name),
                                  onmouseleave: () => disco.highlight(null)},
          disco.el("td", {}, i === 0 ? disco.el("a", {
            href: "/job.html?name=" + encodeURIComponent(job.name), text: job.name}) : ""),
          disco.el("td", {text: stage}),
          disco.el("td", {class: "num", text: run}),
          disco.el("td", {class: "num", text: done + "/" + tasks}),
          disco.el("td", {class: "num", text: failed}),
          disco.el("td", {}, disco.el("div", {class: "progress"},
            disco.el("span", {class: "done", style: "width:" + pct(done)}),
            disco.el("span", {class: "running", style: "width:" + pct(run)})))));
      });
    }
    document.querySelector("#running tbody").replaceChildren(...rows);
    document.getElementById("running").hidden = !rows.length;
    document.getElementById("norunning").hidden = !!rows.length;
  }

  disco.follow("view=status", view => {
    showNodes(view.nodes);
    showRunning(view.running);
    jobs.update(view.jobs, view.jobcount);
    disco.setLinks(view.links);
    disco.footer(view.version);
  });
})();
