/* The configure page: the node table, both blacklists, the master's settings. */
"use strict";

(function () {
  disco.header("system configuration", "config");
  const $ = id => document.getElementById(id);
  const jobs = disco.jobList($("jobs"));
  const say = promise => promise.then(reply => { disco.flash(reply || "done"); return reply; },
                                      e => { disco.flash(e.message, true); throw e; });

  function row(spec, workers) {
    const remove = disco.el("a", {href: "#", text: "remove"});
    const tr = disco.el("tr", {class: "noderow"},
      disco.el("td", {}, disco.el("input", {type: "text", class: "spec", value: spec,
                                            "aria-label": "node or range"})),
      disco.el("td", {}, disco.el("input", {type: "number", min: "1", class: "workers",
                                            value: workers, "aria-label": "max workers"})),
      disco.el("td", {}, remove));
    remove.addEventListener("click", ev => { ev.preventDefault(); tr.remove(); });
    return tr;
  }

  async function loadTable() {
    const table = await disco.api("/disco/ctrl/load_config_table");
    $("nodetable").tBodies[0].replaceChildren(...table.map(([spec, n]) => row(spec, n)));
  }

  async function loadBlacklists() {
    const [black, gcBlack] = await Promise.all([disco.api("/disco/ctrl/get_blacklist"),
                                                disco.api("/disco/ctrl/get_gc_blacklist")]);
    // which of them the storage plugins (when any is installed) say are safe to remove
    const safe = gcBlack.length ? await disco.api("/disco/ui/safe_to_remove") : [];
    const list = (hosts, op, marks) => hosts.sort().map(h => disco.el("li", {
      class: marks && marks.includes(h) ? "safe" : null, "data-host": h,
      title: "take " + h + " off the list",
      onclick: () => say(disco.api("/disco/ctrl/" + op, h)).then(loadBlacklists)}, h));
    $("blacklist").replaceChildren(...list(black, "whitelist"));
    $("gcblacklist").replaceChildren(...list(gcBlack, "gc_whitelist", safe));
    if (!black.length) $("blacklist").append(disco.el("span", {class: "muted", text: "none"}));
    if (!gcBlack.length) $("gcblacklist").append(disco.el("span", {class: "muted",
                                                                   text: "none"}));
  }

  async function loadSettings() {
    const s = await disco.api("/disco/ctrl/get_settings");
    $("maxfail").value = s.max_failure_rate;
    $("accept").value = String(s.accept_new_jobs);
    const all = await disco.api("/disco/ui/settings");
    $("settings").tBodies[0].replaceChildren(...Object.keys(all).sort().map(k =>
      disco.el("tr", {}, disco.el("td", {}, disco.el("code", {text: k})),
               disco.el("td", {text: String(all[k])}))));
  }

  $("addrow").addEventListener("click", () => {
    const tr = row("", 1);
    $("nodetable").tBodies[0].append(tr);
    tr.querySelector(".spec").focus();
  });
  $("savetable").addEventListener("click", () => {
    const rows = [...document.querySelectorAll("#nodetable tr.noderow")].map(tr =>
      [tr.querySelector(".spec").value.trim(), tr.querySelector(".workers").value.trim()]);
    say(disco.api("/disco/ctrl/save_config_table", rows))
      .then(() => Promise.all([loadTable(), loadBlacklists()]), () => {});
  });
  for (const [form, input, op] of [["blacklistform", "blacklisthost", "blacklist"],
                                   ["gcblacklistform", "gcblacklisthost", "gc_blacklist"]]) {
    $(form).addEventListener("submit", ev => {
      ev.preventDefault();
      const host = $(input).value.trim();
      if (!host) return;
      say(disco.api("/disco/ctrl/" + op, host)).then(() => { $(input).value = "";
                                                            loadBlacklists(); }, () => {});
    });
  }
  $("savesettings").addEventListener("click", () => {
    say(disco.api("/disco/ctrl/save_settings", {
      max_failure_rate: Number($("maxfail").value), accept_new_jobs: Number($("accept").value),
    })).then(loadSettings, () => {});
  });

  loadTable().catch(e => disco.flash(e.message, true));
  loadBlacklists().catch(e => disco.flash(e.message, true));
  loadSettings().catch(e => disco.flash(e.message, true));
  disco.follow("view=status", view => {
    jobs.update(view.jobs, view.jobcount);
    disco.setLinks(view.links);
    disco.footer(view.version);
  });
})();
