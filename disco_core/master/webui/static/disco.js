/* What every page shares: the header and navigation, the job list, the REST calls and
 * the live feed. Plain JavaScript: the master serves these files as they are. */
"use strict";

const disco = {};

disco.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

disco.param = function (name) {
  return new URLSearchParams(window.location.search).get(name) || "";
};

/* A REST call: the reply's JSON, or an Error carrying the master's own message. */
disco.api = async function (path, body) {
  const init = body === undefined ? {} :
    {method: "POST", body: JSON.stringify(body), headers: {"Content-Type": "application/json"}};
  const reply = await fetch(path, init);
  const text = await reply.text();
  let value = text;
  try { value = JSON.parse(text); } catch (e) { /* a plain-text reply */ }
  if (!reply.ok) {
    throw new Error(typeof value === "string" ? value : reply.status + " " + reply.statusText);
  }
  return value;
};

disco.flash = function (text, isError) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = text;
  box.style.color = isError ? "#b3243a" : "";
  box.style.opacity = 1;
  clearTimeout(disco._flashTimer);
  disco._flashTimer = setTimeout(() => { box.style.opacity = 0; }, 4000);
};

disco.bytes = function (kib) {
  let value = kib, unit = 0;
  const units = ["KB", "MB", "GB", "TB", "PB"];
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return value.toFixed(value < 10 ? 1 : 0) + " " + units[unit];
};

disco.duration = function (seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return (seconds * 1000).toFixed(0) + " ms";
  if (seconds < 60) return seconds.toFixed(seconds < 10 ? 2 : 1) + " s";
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return m + " min " + s + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
};

/* The header: title, navigation (core's pages and the plugins' links), the feed's state. */
disco.header = function (title, here, links) {
  const nav = disco.el("nav", {},
    disco.el("a", {href: "/", class: here === "status" ? "here" : null, text: "status"}),
    disco.el("a", {href: "/config.html", class: here === "config" ? "here" : null,
                   text: "configure"}),
    (links || []).map(l => disco.el("a", {href: l.url, class: "plugin-link", text: l.title})));
  const header = disco.el("header", {},
    disco.el("h1", {}, disco.el("span", {class: "logo", text: "disco "}),
             title.replace(/^disco /, "")),
    nav, disco.el("span", {class: "live", id: "live", text: "connecting"}));
  const old = document.querySelector("header");
  if (old) old.replaceWith(header); else document.body.prepend(header);
  document.title = title;
};

disco.setLinks = function (links) {
  const key = JSON.stringify(links || []);
  if (key === disco._links) return;
  disco._links = key;
  const nav = document.querySelector("header nav");
  if (!nav) return;
  nav.querySelectorAll(".plugin-link").forEach(a => a.remove());
  for (const l of links || []) nav.append(disco.el("a", {href: l.url, class: "plugin-link",
                                                         text: l.title}));
};

/* Follow a server-sent view: onSnapshot(view) on every change; reconnects by itself. */
disco.follow = function (query, onSnapshot, onGone) {
  const live = () => document.getElementById("live");
  const source = new EventSource("/disco/ui/feed?" + query);
  source.addEventListener("snapshot", ev => {
    const badge = live();
    if (badge) { badge.className = "live on"; badge.textContent = "live"; }
    onSnapshot(JSON.parse(ev.data));
  });
  source.addEventListener("gone", ev => {
    source.close();
    if (onGone) onGone(JSON.parse(ev.data));
  });
  // a browser holds at most six connections to one server: let go of this one at once
  // when the page goes, or pages kept in the back-forward cache would keep theirs open
  window.addEventListener("pagehide", () => source.close());
  source.onerror = () => {
    const badge = live();
    if (badge) { badge.className = "live off"; badge.textContent = "reconnecting"; }
  };
  return source;
};

/* The job list: newest first, a coloured box per state, a filter box. */
disco.jobList = function (container) {
  const filter = disco.el("input", {type: "text", class: "filter", id: "jobfilter",
                                    placeholder: "filter jobs", "aria-label": "filter jobs"});
  const count = disco.el("div", {class: "muted", id: "jobcount"});
  const list = disco.el("ul", {class: "joblist", id: "joblist"});
  container.append(disco.el("h2", {text: "Jobs"}), filter, count, list);
  let jobs = [], total = 0, timer = null;
  const render = () => {
    const text = filter.value.trim();
    list.replaceChildren(...jobs.filter(j => !text || j[2].includes(text)).map(([, status, name]) =>
      disco.el("li", {"data-job": name, class: "job",
                      onmouseenter: () => disco.highlight(name),
                      onmouseleave: () => disco.highlight(null)},
        disco.el("span", {class: "status-box status-" + status, title: status}),
        disco.el("a", {href: "/job.html?name=" + encodeURIComponent(name), text: name}))));
    count.textContent = total > jobs.length ? "newest " + jobs.length + " of " + total + " jobs"
      : total + (total === 1 ? " job" : " jobs");
  };
  filter.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(render, 300); });
  filter.addEventListener("keydown", ev => { if (ev.key === "Enter") render(); });
  return {
    update(newJobs, newTotal) {
      if (JSON.stringify(newJobs) === JSON.stringify(jobs)) return;
      jobs = newJobs; total = newTotal === undefined ? newJobs.length : newTotal; render();
    },
    setFilter(text) { filter.value = text; render(); },
  };
};

/* Hovering a job lights up the cores its tasks hold (the status page defines the cores). */
disco.highlight = function (job) {
  document.querySelectorAll(".core").forEach(core => {
    core.classList.toggle("hover", job !== null && core.dataset.job === job);
  });
};

disco.footer = function (version) {
  let footer = document.querySelector("footer");
  if (!footer) { footer = disco.el("footer"); document.body.append(footer); }
  footer.textContent = "Disco " + (version || "");
};
