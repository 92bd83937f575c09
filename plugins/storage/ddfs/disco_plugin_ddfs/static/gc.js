/* The DDFS GC panel: the last run's counts (/ddfs/ctrl/gc_stats) and the disks' use it
 * found (/ddfs/ctrl/gc_balance), the status
 * (/ddfs/ctrl/gc_status) and, when GC is idle, a link that starts a run. */
"use strict";

(function () {
  disco.header("ddfs gc", "ddfs-gc", [{title: "ddfs gc", url: "/ddfs/gc"}]);
  const $ = id => document.getElementById(id);
  const ROWS = ["Tags kept", "Tags deleted", "Blobs kept", "Blobs deleted"];
  const pct = x => Math.round(100 * (x || 0)) + "%";

  function balanceText(b) {
    const hosts = names => names.map(h => h + " (" + pct(b.use[h]) + ")").join(", ") || "none";
    return "Disk use: average " + pct(b.average) + ", threshold " + b.threshold +
      "; over-used: " + hosts(b.over || []) + "; under-used: " + hosts(b.under || []) +
      "; blobs moved: " + (b.moved || []).length + " (" + (b.bytes || 0) + " bytes)";
  }

  function showBalance(b) {
    $("gcbalance").hidden = !b;
    $("gcbalance").textContent = b ? balanceText(b) : "";
  }

  function showStats(stats) {
    const has = stats && typeof stats === "object";
    $("gcstats").hidden = !has;
    $("gcnone").hidden = has;
    if (!has) {
      $("gcwhen").textContent = "";
      $("gcnone").textContent = stats || "GC has not run since the master started.";
      return;
    }
    $("gcwhen").textContent = "At: " + stats.timestamp;
    $("gcstats").tBodies[0].replaceChildren(...ROWS.map(name => {
      const [files, bytes] = stats.stats[name] || [0, 0];
      return disco.el("tr", {"data-row": name}, disco.el("td", {text: name}),
                      disco.el("td", {class: "num", text: files}),
                      disco.el("td", {class: "num", text: bytes}));
    }));
  }

  async function refresh() {
    try {
      const [stats, status, balance] = await Promise.all([
        disco.api("/ddfs/ctrl/gc_stats"), disco.api("/ddfs/ctrl/gc_status"),
        disco.api("/ddfs/ctrl/gc_balance")]);
      showStats(stats);
      showBalance(balance);
      $("gcstatus").textContent = status || "GC is idle.";
      $("gcstart").hidden = !!status && !status.startsWith("GC is waiting for the cluster");
      const badge = $("live");
      if (badge) { badge.className = "live on"; badge.textContent = "live"; }
    } catch (e) {
      const badge = $("live");
      if (badge) { badge.className = "live off"; badge.textContent = e.message; }
    }
  }

  $("gcstart").addEventListener("click", ev => {
    ev.preventDefault();
    disco.api("/ddfs/ctrl/gc_start").then(reply => { disco.flash(reply); refresh(); },
                                          e => disco.flash(e.message, true));
  });
  refresh();
  setInterval(refresh, 1000);
})();
