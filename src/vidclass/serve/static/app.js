// The vidclass page: upload a video, show whole-video bars, the timeline plot (plain SVG) and the video.
// A regression model (task "regression") shows its value instead: the whole video's, and over time.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf"];
const SVG = "http://www.w3.org/2000/svg";
const $ = (selector) => document.querySelector(selector);
const state = { labels: [], task: "classification", job: null, timeline: null, playhead: null, run: 0 };

function colour(label) {
  const i = state.labels.indexOf(label);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}

function element(tag, attributes = {}, text = "") {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// fetch JSON; a full queue (503) is retried after Retry-After; other errors throw the server's message.
async function api(path, options = {}) {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(path, options);
    const body = await response.json().catch(() => null);
    if (response.ok) return body;
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    if (response.status === 503 && attempt < 20) {
      showStatus(`server busy: ${message}`);
      await sleep(1000 * Number(response.headers.get("Retry-After") || 1));
      continue;
    }
    throw new Error(message);
  }
}

function showError(message) {
  $("#error").textContent = message;
  $("#error").hidden = !message;
}

function showStatus(text, progress) {
  $("#progress-text").textContent = text;
  if (progress !== undefined) $("#progress").value = progress;
}

async function loadModel() {
  try {
    const model = await api("/v1/model");
    state.labels = model.labels;
    state.task = model.task;
    const metric = (name, shown) => model.metrics && model.metrics[name] !== undefined
      ? `, test ${shown} ${Number(model.metrics[name]).toFixed(3)}` : "";
    const regression = model.task === "regression";
    $("#model").textContent = regression
      ? `${model.kind} regression model: a value per video${metric("r2", "R²")}`
      : `${model.kind} model, ${model.labels.length} classes: ${model.labels.join(", ")}${metric("accuracy", "accuracy")}`;
    $("#top-name").textContent = regression ? "value" : "top label";
    $("#segments-title").hidden = regression;
    $("#model").title = `model folder: ${model.name}`;
    const l = model.limits;
    $("#limits").textContent = `up to ${Math.round(l.max_upload_bytes / 1048576)} MB and ${l.max_duration_s} s`;
  } catch (error) {
    showError(`cannot load the model: ${error.message}`);
  }
}

function form(file) {
  const data = new FormData();
  data.append("file", file, file.name);
  return data;
}

async function label(file) {
  const run = ++state.run;
  showError("");
  state.timeline = null;
  $("#empty").hidden = true;
  $("#results").hidden = false;
  $("#status").hidden = false;
  $("#source").textContent = file.name;
  $("#bars").replaceChildren();
  $("#top-label").textContent = "…";
  $("#plot").replaceChildren(element("p", { class: "muted" }, "computing…"));
  $("#legend").replaceChildren();
  $("#segments").replaceChildren();
  $("#now-label").hidden = true;
  const video = $("#video");
  video.src = URL.createObjectURL(file);
  $("#video-note").textContent = "the uploaded video; the annotated one replaces it when the timeline is done";
  showStatus("uploading…", 0);
  const annotate = $("#annotate").checked;
  const smooth = Math.max(1, Number($("#smooth").value) || 1);
  const whole = api("/v1/predict", { method: "POST", body: form(file) }).then((prediction) => {
    if (run === state.run) drawBars(prediction);
  });
  const over = time(file, annotate, smooth, run);
  const results = await Promise.allSettled([whole, over]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed && run === state.run) showError(failed.reason.message);
}

async function time(file, annotate, smooth, run) {
  let job = await api(`/v1/timeline?annotate=${annotate}&smooth=${smooth}`, { method: "POST", body: form(file) });
  state.job = job;
  $("#cancel").hidden = false;
  try {
    while (job.status === "queued" || job.status === "running") {
      showStatus(`${job.status}: ${(100 * job.progress).toFixed(0)} % of ${job.duration.toFixed(1)} s`, job.progress);
      job = await api(`${job.url}?wait=1`);
      if (run !== state.run) return;
    }
  } finally {
    $("#cancel").hidden = true;
  }
  if (job.status === "cancelled") { showStatus("cancelled"); return; }
  if (job.status === "failed") throw new Error(job.error.message);
  showStatus(`done: ${job.result.windows.length} windows` +
    (job.result.values ? "" : `, ${job.result.segments.length} segments`), 1);
  state.timeline = job.result;
  drawPlot(job.result);
  listSegments(job.result);
  if (job.video_url) {
    $("#video").src = job.video_url;
    $("#video-note").textContent = "annotated video: the label box shows what a live display would have shown";
  }
  updateNow();
}

function drawBars(prediction) {
  if (prediction.value !== undefined) {  // a regression model: the value, no bars
    $("#top-label").textContent = prediction.value.toPrecision(4);
    $("#bars").replaceChildren();
    return;
  }
  $("#top-label").textContent = prediction.label;
  const rows = prediction.top.flatMap((entry) => {
    const bar = element("div", { class: "bar" });
    bar.style.width = `${(100 * entry.probability).toFixed(1)}%`;
    bar.style.background = colour(entry.label);
    const track = element("div", { class: "bar-track" });
    track.append(bar);
    return [element("span", { class: "bar-label" }, entry.label), track,
      element("span", { class: "value" }, entry.probability.toFixed(3))];
  });
  $("#bars").replaceChildren(...rows);
}

function listSegments(result) {
  $("#segments").replaceChildren(...result.segments.map((segment) => {
    const row = element("tr");
    const swatch = element("span", { class: "swatch" });
    swatch.style.background = colour(segment.label);
    const name = element("td");
    name.append(swatch, segment.label);
    row.append(name, element("td", {}, `${segment.start.toFixed(2)}–${segment.end.toFixed(2)} s`),
      element("td", { class: "value" }, segment.mean_probability.toFixed(2)));
    row.addEventListener("click", () => { $("#video").currentTime = segment.start; });
    return row;
  }));
}

// --- the timeline plot ---------------------------------------------------------------------------

const PLOT = { width: 900, height: 300, left: 40, right: 12, top: 10, band: 26, gap: 8, bottom: 24 };

function drawPlot(result) {
  const w = result.windows;
  if (!w.length) { $("#plot").replaceChildren(element("p", { class: "muted" }, "no windows")); return; }
  const t0 = w[0].start, t1 = w[w.length - 1].end;
  const innerW = PLOT.width - PLOT.left - PLOT.right;
  const lineH = PLOT.height - PLOT.top - PLOT.band - PLOT.gap - PLOT.bottom;
  const x = (t) => PLOT.left + (innerW * (t - t0)) / Math.max(t1 - t0, 1e-9);
  // probabilities on 0..1; a regression model's values on their own range
  const all = result.values ? w.flatMap((win) => [...win.raw, ...win.smoothed]) : [0, 1];
  let lo = Math.min(...all), hi = Math.max(...all);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const y = (p) => PLOT.top + lineH * (1 - (p - lo) / (hi - lo));
  const centres = w.map((win) => (win.start + win.end) / 2);
  const svg = element("svg:svg", { viewBox: `0 0 ${PLOT.width} ${PLOT.height}`, role: "img",
    "aria-label": result.values ? "values over time" : "class probabilities over time" });

  for (const p of [lo, (lo + hi) / 2, hi]) {
    svg.append(element("svg:line", { class: "axis", x1: PLOT.left, x2: PLOT.width - PLOT.right, y1: y(p), y2: y(p) }));
    svg.append(element("svg:text", { x: PLOT.left - 6, y: y(p) + 4, "text-anchor": "end" },
      result.values ? Number(p.toPrecision(3)).toString() : p.toFixed(1)));
  }
  const bandY = PLOT.top + lineH + PLOT.gap;
  const step = niceStep((t1 - t0) / 8);
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
    svg.append(element("svg:text", { x: x(t), y: bandY + PLOT.band + 16, "text-anchor": "middle" },
      `${Number(t.toFixed(2))} s`));
  }
  result.labels.forEach((name, c) => {
    const points = (key) => centres.map((t, i) => `${x(t).toFixed(1)},${y(w[i][key][c]).toFixed(1)}`).join(" ");
    svg.append(element("svg:polyline", { class: "raw", points: points("raw"), fill: "none", stroke: colour(name),
      "stroke-opacity": 0.25, "stroke-width": 1.2 }));
    svg.append(element("svg:polyline", { class: "line", "data-label": name, points: points("smoothed"), fill: "none",
      stroke: colour(name), "stroke-width": 2.2 }));
    if (w.length === 1) {  // one window: a polyline of one point draws nothing
      svg.append(element("svg:circle", { class: "point", "data-label": name, cx: x(centres[0]).toFixed(1),
        cy: y(w[0].smoothed[c]).toFixed(1), r: 5, fill: colour(name) }));
    }
  });
  for (const segment of result.segments) {
    const rect = element("svg:rect", { class: "segment", x: x(segment.start), y: bandY,
      width: Math.max(1, x(segment.end) - x(segment.start)), height: PLOT.band, fill: colour(segment.label) });
    rect.append(element("svg:title", {},
      `${segment.label} ${segment.start.toFixed(2)}–${segment.end.toFixed(2)} s (mean p ${segment.mean_probability.toFixed(2)})`));
    svg.append(rect);
    if (x(segment.end) - x(segment.start) > 60) {
      svg.append(element("svg:text", { x: (x(segment.start) + x(segment.end)) / 2, y: bandY + PLOT.band / 2 + 4,
        "text-anchor": "middle", style: "fill:#fff;font-weight:600" }, segment.label));
    }
  }
  const hover = element("svg:line", { class: "hover-line", y1: PLOT.top, y2: bandY + PLOT.band, visibility: "hidden" });
  const playhead = element("svg:line", { class: "playhead", y1: PLOT.top, y2: bandY + PLOT.band, visibility: "hidden" });
  const overlay = element("svg:rect", { x: PLOT.left, y: PLOT.top, width: innerW, height: bandY + PLOT.band - PLOT.top,
    fill: "transparent", style: "cursor:crosshair" });
  svg.append(hover, playhead, overlay);

  const timeAt = (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * PLOT.width;
    return t0 + ((px - PLOT.left) / innerW) * (t1 - t0);
  };
  overlay.addEventListener("mousemove", (event) => {
    const t = timeAt(event);
    let i = 0;
    centres.forEach((c, j) => { if (Math.abs(c - t) < Math.abs(centres[i] - t)) i = j; });
    hover.setAttribute("x1", x(centres[i]));
    hover.setAttribute("x2", x(centres[i]));
    hover.setAttribute("visibility", "visible");
    showTooltip(event, w[i], result.labels);
  });
  overlay.addEventListener("mouseleave", () => {
    hover.setAttribute("visibility", "hidden");
    $("#tooltip").hidden = true;
  });
  overlay.addEventListener("click", (event) => {
    const video = $("#video");
    video.currentTime = Math.max(0, timeAt(event));
  });
  state.playhead = (t) => {
    playhead.setAttribute("visibility", t >= t0 && t <= t1 ? "visible" : "hidden");
    playhead.setAttribute("x1", x(t));
    playhead.setAttribute("x2", x(t));
  };
  $("#plot").replaceChildren(svg);
  $("#legend").replaceChildren(...result.labels.map((name) => {
    const item = element("span");
    const swatch = element("span", { class: "swatch" });
    swatch.style.background = colour(name);
    item.append(swatch, name);
    return item;
  }));
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
}

function showTooltip(event, win, labels) {
  const tip = $("#tooltip");
  const rows = labels.map((name, c) => [name, win.smoothed[c], win.raw[c]]).sort((a, b) => b[1] - a[1]);
  const table = element("table");
  const head = element("tr");
  head.append(element("td", { colspan: 3 }, `${win.start.toFixed(2)}–${win.end.toFixed(2)} s: ${win.label}`));
  table.append(head);
  for (const [name, smoothed, raw] of rows) {
    const tr = element("tr");
    const swatch = element("span", { class: "swatch" });
    swatch.style.background = colour(name);
    const cell = element("td");
    cell.append(swatch, name);
    tr.append(cell, element("td", {}, smoothed.toFixed(3)), element("td", { class: "muted" }, `raw ${raw.toFixed(3)}`));
    table.append(tr);
  }
  tip.replaceChildren(table);
  tip.hidden = false;
  tip.style.left = `${event.clientX + 14}px`;
  tip.style.top = `${event.clientY + 14}px`;
}

// The label at the video's current time: the segment it falls in, with the nearest window's smoothed probability.
function updateNow() {
  const result = state.timeline;
  const now = $("#now-label");
  if (result && result.values && result.windows.length) { showValueNow(result, now); return; }
  if (!result || !result.segments.length) { now.hidden = true; return; }
  const t = $("#video").currentTime;
  const segment = result.segments.find((s) => t >= s.start && t < s.end) ||
    (t >= result.segments[result.segments.length - 1].end ? result.segments[result.segments.length - 1] : null);
  if (state.playhead) state.playhead(t);
  if (!segment) { now.hidden = true; return; }
  let nearest = result.windows[0];  // the window centred closest to now gives the probability shown
  for (const win of result.windows) {
    if (Math.abs((win.start + win.end) / 2 - t) < Math.abs((nearest.start + nearest.end) / 2 - t)) nearest = win;
  }
  now.textContent = `${segment.label} ${nearest.smoothed[result.labels.indexOf(segment.label)].toFixed(2)}`;
  now.style.background = colour(segment.label);
  now.hidden = false;
}

// A regression model's value at the video's current time: the smoothed value of the window centred closest.
function showValueNow(result, now) {
  const t = $("#video").currentTime;
  if (state.playhead) state.playhead(t);
  let nearest = result.windows[0];
  for (const win of result.windows) {
    if (Math.abs((win.start + win.end) / 2 - t) < Math.abs((nearest.start + nearest.end) / 2 - t)) nearest = win;
  }
  now.textContent = `value ${nearest.smoothed[0].toPrecision(3)}`;
  now.style.background = colour(result.labels[0]);
  now.hidden = false;
}

function setUp() {
  const drop = $("#drop");
  const input = $("#file");
  input.addEventListener("change", () => { if (input.files.length) label(input.files[0]); });
  drop.addEventListener("click", (event) => { if (event.target === drop) input.click(); });
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) label(event.dataTransfer.files[0]);
  });
  $("#cancel").addEventListener("click", async () => {
    if (state.job) await api(state.job.url, { method: "DELETE" }).catch((error) => showError(error.message));
  });
  const video = $("#video");
  video.addEventListener("timeupdate", updateNow);
  video.addEventListener("seeked", updateNow);
  const tick = () => { if (!video.paused) updateNow(); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  loadModel();
}

document.addEventListener("DOMContentLoaded", setUp);
