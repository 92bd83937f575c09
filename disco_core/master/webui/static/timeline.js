/* The timeline chart: one row per node and worker slot, one bar per task attempt over
 * time, coloured by stage; failed attempts outlined in red, abandoned and killed ones
 * faded, running ones growing while the page watches. */
"use strict";

const STAGE_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
                       "#9c755f", "#ff9da7"];
const OUTCOME_WORDS = {running: "running", done: "done", failed: "failed (retried)",
                       fatal: "failed fatally", abandoned: "abandoned (retried elsewhere)",
                       killed: "killed (the job ended)"};

function timelineChart(container, legend, note) {
  const NS = "http://www.w3.org/2000/svg";
  const ROW = 16, LABEL = 150, AXIS = 22;
  let data = null, receivedAt = 0, active = false, timer = null;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ticks(span) {
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                   7200, 14400, 28800, 86400];
    const step = steps.find(s => span / s <= 8) || steps[steps.length - 1];
    const out = [];
    for (let t = 0; t <= span + 1e-9; t += step) out.push(t);
    return out;
  }

  function draw() {
    if (!data) return;
    const now = data.now + (active ? (Date.now() - receivedAt) / 1000 : 0);
    const rows = [];
    for (const [host, lanes] of Object.entries(data.nodes)) {
      for (let lane = 0; lane < lanes; lane++) rows.push([host, lane]);
    }
    const rowOf = {};
    rows.forEach(([host, lane], i) => { rowOf[host + "\u0000" + lane] = i; });
    const width = Math.max(container.clientWidth || 800, 400);
    let span = 0;
    for (const a of data.attempts) span = Math.max(span, a.end === null ? now : a.end);
    span = Math.max(span, 0.001);
    const plot = width - LABEL - 10;
    const x = t => LABEL + plot * t / span;
    const chart = svg("svg", {viewBox: "0 0 " + width + " " + (rows.length * ROW + AXIS),
                              height: rows.length * ROW + AXIS, role: "img",
                              "aria-label": "task timeline"});
    rows.forEach(([host, lane], i) => {
      if (i % 2 === 0) chart.append(svg("rect", {x: 0, y: i * ROW, width: width, height: ROW,
                                                  fill: "#f7f8fa"}));
      chart.append(svg("text", {x: 4, y: i * ROW + 12, class: "lane-label"},
                       lane === 0 ? host + "  #1" : "#" + (lane + 1)));
    });
    for (const a of data.attempts) {
      const end = a.end === null ? now : a.end;
      const colour = STAGE_COLOURS[data.stages.indexOf(a.stage) % STAGE_COLOURS.length];
      const rect = svg("rect", {x: x(a.start), y: rowOf[a.host + "\u0000" + a.lane] * ROW + 2,
                                width: Math.max(x(end) - x(a.start), 1.5), height: ROW - 4,
                                rx: 2, fill: colour, class: "attempt " + a.outcome,
                                "data-task": a.task, "data-outcome": a.outcome});
      rect.append(svg("title", {}, a.task + " (run " + a.runid + ") on " + a.host + " slot " +
                      (a.lane + 1) + ": " + OUTCOME_WORDS[a.outcome] + ", " +
                      disco.duration(end - a.start) + " from " + disco.duration(a.start)));
      chart.append(rect);
    }
    const base = rows.length * ROW;
    chart.append(svg("line", {x1: LABEL, x2: LABEL + plot, y1: base + 2, y2: base + 2,
                              stroke: "#c4cbd3"}));
    for (const t of ticks(span)) {
      chart.append(svg("line", {x1: x(t), x2: x(t), y1: base + 2, y2: base + 6,
                                stroke: "#c4cbd3"}));
      chart.append(svg("text", {x: x(t), y: base + 17, "text-anchor": "middle", class: "axis"},
                       disco.duration(t)));
    }
    container.replaceChildren(chart);
    if (!data.attempts.length) {
      container.append(disco.el("p", {class: "muted", text: "No task has started yet."}));
    }
  }

  function showLegend() {
    const entries = data.stages.map((stage, i) => disco.el("span", {
      style: "--c:" + STAGE_COLOURS[i % STAGE_COLOURS.length], text: stage}));
    const failures = data.attempts.filter(a => a.outcome === "failed" ||
                                               a.outcome === "fatal").length;
    entries.push(disco.el("span", {style: "--c:#fff;outline:1.5px solid #b3243a",
                                   text: "failed (" + failures + ")"}));
    legend.replaceChildren(...entries);
    note.textContent = data.attempts.length + " attempts" +
      (data.omitted ? " (the newest; " + data.omitted + " older not drawn)" : "");
  }

  window.addEventListener("resize", draw);
  return {
    update(timeline, isActive) {
      data = timeline;
      receivedAt = Date.now();
      active = isActive;
      showLegend();
      draw();
      clearInterval(timer);
      if (active && data.attempts.some(a => a.end === null)) timer = setInterval(draw, 1000);
    },
  };
}
