// rde-app page: open a video, paint masks, propagate, review, download. Vanilla JS, no build.
"use strict";

const $ = (id) => document.getElementById(id);
const view = $("view"), ctx = view.getContext("2d");
const S = {  // page state
  video: null, t: 0, labels: null, image: null, undo: [], objects: [], active: 1,
  hidden: new Set(), version: 0, playing: false, polling: false, painting: false,
  annotated: [],  // frames whose mask propagation starts from (the server's list)
};
const SETTINGS = ["max_side", "mem_every", "top_k", "memory_mode", "dtype", "include_last"];

// The DAVIS / PASCAL VOC palette: bits of the id spread over R, G, B.
const PALETTE = Array.from({length: 256}, (_, i) => {
  let c = i, r = 0, g = 0, b = 0;
  for (let j = 0; j < 8; j++) {
    r |= (c & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); b |= ((c >> 2) & 1) << (7 - j);
    c >>= 3;
  }
  return [r, g, b];
});

function message(text, isError = false) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "info";
}

async function api(path, options = {}) {
  const reply = await fetch(path, options);
  const type = reply.headers.get("Content-Type") || "";
  if (!reply.ok) {
    const body = type.includes("json") ? await reply.json() : {error: reply.statusText};
    throw new Error(body.error || `HTTP ${reply.status}`);
  }
  return type.includes("json") ? reply.json() : reply.arrayBuffer();
}

async function guarded(fn) {  // every action: errors go to the message bar, nothing else breaks
  try { await fn(); } catch (e) { message(e.message, true); }
}

// -- settings ------------------------------------------------------------------------------
function buildSettings(state) {
  const box = $("settings");
  box.innerHTML = "";
  for (const name of SETTINGS) {
    const value = state.defaults[name];
    let input;
    if (state.choices[name]) {
      input = document.createElement("select");
      for (const c of state.choices[name]) input.add(new Option(c, c, c === value, c === value));
    } else if (typeof value === "boolean") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = value;
    } else {
      input = document.createElement("input"); input.type = "number"; input.value = value;
    }
    input.id = "setting-" + name;
    input.title = `default: ${value}` + (name === "max_side" ? " (0: native size)" : "");
    const label = document.createElement("label");
    label.htmlFor = input.id; label.textContent = name;
    box.append(label, input);
  }
}

function readSettings() {
  const out = {};
  for (const name of SETTINGS) {
    const input = $("setting-" + name);
    if (input.type === "checkbox") out[name] = input.checked;
    else if (input.type === "number") out[name] = input.value === "" ? input.value : Number(input.value);
    else out[name] = input.value;
  }
  return out;
}

// -- frames and masks ----------------------------------------------------------------------
function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load ${src}`));
    img.src = src;
  });
}

async function showFrame(t) {
  if (!S.video) return;
  const [img, ids] = await Promise.all([
    loadImage(`/api/frame/${t}?v=${S.version}`), api(`/api/ids/${t}?v=${S.version}`)]);
  S.t = t; S.image = img; S.labels = new Uint8Array(ids); S.undo = [];
  for (const id of new Set(S.labels)) if (id && !S.objects.includes(id)) S.objects.push(id);
  S.objects.sort((a, b) => a - b);
  $("frame-slider").value = t;
  $("frame-label").textContent = `frame ${t} / ${S.video.frames - 1}  (${S.video.names[t]})` +
    (S.annotated.includes(t) ? ", annotated" : "");
  document.body.dataset.frame = t;
  render(); renderObjects();
}

function render() {
  if (!S.image) return;
  const {width: w, height: h} = S.video;
  ctx.drawImage(S.image, 0, 0);
  const frame = ctx.getImageData(0, 0, w, h), px = frame.data, L = S.labels;
  for (let i = 0; i < L.length; i++) {
    const id = L[i];
    if (!id || S.hidden.has(id)) continue;
    const c = PALETTE[id], k = 4 * i;
    px[k] = (px[k] + c[0]) >> 1; px[k + 1] = (px[k + 1] + c[1]) >> 1; px[k + 2] = (px[k + 2] + c[2]) >> 1;
  }
  ctx.putImageData(frame, 0, 0);
}

function renderObjects() {
  const list = $("objects");
  list.innerHTML = "";
  if (!S.objects.includes(S.active)) S.objects.push(S.active), S.objects.sort((a, b) => a - b);
  for (const id of S.objects) {
    const li = document.createElement("li");
    li.className = id === S.active ? "active" : "";
    li.dataset.id = id;
    const [r, g, b] = PALETTE[id];
    li.innerHTML = `<span class="swatch" style="background:rgb(${r},${g},${b})"></span>` +
      `<label><input type="radio" name="active" ${id === S.active ? "checked" : ""}> object ${id}</label>` +
      `<label><input type="checkbox" class="visible" ${S.hidden.has(id) ? "" : "checked"}> shown</label>` +
      `<button type="button" class="remove">remove</button>`;
    li.querySelector("input[type=radio]").onchange = () => { S.active = id; renderObjects(); };
    li.querySelector(".visible").onchange = (e) => {
      if (e.target.checked) S.hidden.delete(id); else S.hidden.add(id);
      render();
    };
    li.querySelector(".remove").onclick = () => removeObject(id);
    list.append(li);
  }
}

function removeObject(id) {
  pushUndo();
  for (let i = 0; i < S.labels.length; i++) if (S.labels[i] === id) S.labels[i] = 0;
  S.objects = S.objects.filter((o) => o !== id);
  if (S.active === id) S.active = S.objects[0] || 1;
  render(); renderObjects();
}

// -- painting ------------------------------------------------------------------------------
function pushUndo() {
  S.undo.push(S.labels.slice());
  if (S.undo.length > 30) S.undo.shift();
  $("undo").disabled = false;
}

function stamp(x, y, r, id) {  // a disc of radius r (video pixels) at (x, y)
  const {width: w, height: h} = S.video;
  for (let yy = Math.max(0, Math.floor(y - r)); yy <= Math.min(h - 1, y + r); yy++)
    for (let xx = Math.max(0, Math.floor(x - r)); xx <= Math.min(w - 1, x + r); xx++)
      if ((xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= r * r) S.labels[yy * w + xx] = id;
}

function paintAt(event, from = null) {  // a stroke from the last point: discs along the line
  const rect = view.getBoundingClientRect();
  const x = (event.clientX - rect.left) * view.width / rect.width;
  const y = (event.clientY - rect.top) * view.height / rect.height;
  const r = Math.max(0.5, Number($("brush-size").value) / 2);  // the size is in video pixels
  const id = $("tool-eraser").checked ? 0 : S.active;
  const [x0, y0] = from || [x, y], steps = Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(0.5, r / 2));
  for (let i = 0; i <= steps; i++) stamp(x0 + (x - x0) * i / (steps || 1), y0 + (y - y0) * i / (steps || 1), r, id);
  S.last = [x, y];
  render();
}

view.addEventListener("mousedown", (e) => {
  if (!S.labels || document.body.dataset.status === "running") return;
  S.painting = true; pushUndo(); paintAt(e);
});
view.addEventListener("mousemove", (e) => { if (S.painting) paintAt(e, S.last); });
window.addEventListener("mouseup", () => { S.painting = false; });

// -- actions -------------------------------------------------------------------------------
function fitView() {  // as large as the column allows, at most 75% of the window's height
  if (!S.video) return;
  const room = $("viewer").clientWidth, tall = 0.75 * window.innerHeight;
  view.style.width = Math.floor(Math.min(room, tall * S.video.width / S.video.height)) + "px";
}
window.addEventListener("resize", fitView);

async function opened(video) {
  if (S.video && S.video !== video) S.annotated = [];
  S.video = video; S.objects = []; S.active = 1; S.hidden.clear(); S.version += 1;
  view.width = video.width; view.height = video.height; fitView();
  $("video-title").textContent = `${video.title}: ${video.frames} frames, ${video.width}x${video.height}`;
  $("frame-slider").max = video.frames - 1;
  for (const id of ["frame-slider", "play", "propagate"]) $(id).disabled = false;
  setDownloads(false);
  await showFrame(0);
  message(`Opened ${video.title}. Paint the objects on a frame (or upload a label PNG), then Propagate.`);
}

function setDownloads(on) {
  for (const id of ["dl-masks", "dl-overlay", "dl-settings"]) $(id).classList.toggle("disabled", !on);
}

async function uploadVideo(file) {
  message(`Uploading ${file.name} ...`);
  const reply = await api(`/api/open?name=${encodeURIComponent(file.name)}`, {method: "POST", body: file});
  await opened(reply.video);
}

async function openPath() {
  const reply = await api("/api/open_path", {method: "POST", body: JSON.stringify({path: $("server-path").value})});
  await opened(reply.video);
}

async function uploadMask(file) {
  if (!S.video) throw new Error("open a video first");
  const reply = await api(`/api/mask_png/${S.t}?name=${encodeURIComponent(file.name)}`, {method: "POST", body: file});
  if (!S.annotated.includes(S.t)) S.annotated.push(S.t);
  await showFrame(S.t);
  message(`Mask of frame ${S.t}: objects ${reply.objects.join(", ")}.`);
}

async function propagate() {
  await api(`/api/mask/${S.t}`, {method: "POST", body: S.labels});
  const settings = readSettings();
  await api("/api/propagate", {method: "POST", body: JSON.stringify({frame: S.t, settings})});
  document.body.dataset.status = "running";
  $("propagate").disabled = true; $("cancel").disabled = false;
  message(`Propagating from frame ${S.t} ...`);
  pollProgress();
}

async function pollProgress() {
  if (S.polling) return;
  S.polling = true;
  try {
    for (;;) {
      const p = await api("/api/progress");
      $("progress").max = p.total || 1; $("progress").value = p.done || 0;
      $("progress-text").textContent = p.status === "idle" ? "" :
        `${p.done}/${p.total} frames, ${(p.fps || 0).toFixed(1)} frames/s, ${(p.seconds || 0).toFixed(1)} s`;
      if (p.status !== "running") { await finished(p); break; }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally { S.polling = false; }
}

async function finished(p) {
  $("propagate").disabled = false; $("cancel").disabled = true;
  S.annotated = (await api("/api/state")).annotated || [];
  if (p.status === "done") {
    S.version += 1; setDownloads(true);
    await showFrame(S.t);
    message(`Done: ${p.total} frames from frame ${p.start} in ${p.seconds.toFixed(1)} s. Review with the slider, correct a frame and propagate again, or download.`);
  } else if (p.status === "cancelled") {
    message("Cancelled: the earlier results are kept.");
  } else if (p.status === "error") {
    message(p.error, true);
  }
  document.body.dataset.seconds = p.seconds;
  document.body.dataset.status = p.status;
  document.body.dataset.runs = Number(document.body.dataset.runs || 0) + 1;  // finished runs
}

async function play() {
  S.playing = !S.playing;
  $("play").textContent = S.playing ? "Pause" : "Play";
  const delay = 1000 / Math.min(30, Math.max(1, S.video.fps || 10));
  try {
    while (S.playing) {
      await showFrame((S.t + 1) % S.video.frames);
      await new Promise((r) => setTimeout(r, delay));
    }
  } finally {
    S.playing = false; $("play").textContent = "Play";
  }
}

function onFile(input, fn) {  // the same file chosen again is a new upload
  input.onchange = () => {
    const file = input.files[0];
    if (file) guarded(() => fn(file)).finally(() => { input.value = ""; });
  };
}
onFile($("video-file"), uploadVideo);
onFile($("mask-file"), uploadMask);
$("open-path").onclick = () => guarded(openPath);
$("frame-slider").oninput = (e) => guarded(() => showFrame(Number(e.target.value)));
$("play").onclick = () => guarded(play);
$("propagate").onclick = () => guarded(propagate);
$("cancel").onclick = () => guarded(() => api("/api/cancel", {method: "POST", body: "{}"}));
$("undo").onclick = () => {
  if (S.undo.length) S.labels = S.undo.pop();
  $("undo").disabled = !S.undo.length;
  render();
};
$("add-object").onclick = () => {
  S.active = Math.max(0, ...S.objects) + 1;
  renderObjects();
};

guarded(async () => {  // initial state: settings, and a video already open (page reload)
  const state = await api("/api/state");
  buildSettings(state);
  $("checkpoint").textContent = `model: ${state.checkpoint}`;
  $("server-path").placeholder = state.roots.length ? `a frame folder or video under ${state.roots.join(", ")}`
    : "server paths are off (rde-app --root)";
  if (state.video) {
    S.annotated = state.annotated || [];
    await opened(state.video);
    if (state.progress.status === "running") {
      document.body.dataset.status = "running"; $("cancel").disabled = false; pollProgress();
    } else if (state.results) setDownloads(true);
  }
});
