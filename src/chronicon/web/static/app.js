// Chronicon web app: plain JavaScript over the REST API (/api, documented at /docs). No build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { meta: null, lastSearch: null };

// -- token: ?token=T in the page URL (or #...&token=T) is kept for this tab and sent with every request --------
(function keepToken() {
  const fromQuery = new URLSearchParams(location.search).get("token");
  if (fromQuery) {
    sessionStorage.setItem("chronicon-token", fromQuery);
    history.replaceState(null, "", location.pathname + location.hash);
  }
})();
const token = () => sessionStorage.getItem("chronicon-token");

function withToken(url) {
  const t = token();
  if (!t) return url;
  const [base, frag] = url.split("#");
  return base + (base.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t) + (frag ? "#" + frag : "");
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const err = new Error((body && body.error) || response.statusText);
    err.status = response.status;
    throw err;
  }
  return body;
}

function setStatus(text, isError = false) {
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

const baseName = (p) => (p || "").split("/").pop();
const clock = (t) => {
  if (t === null || t === undefined) return "";
  const s = Math.floor(t);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

// -- meta: plugin filters, sort keys, albums ---------------------------------------------------------------
async function loadMeta() {
  try {
    state.meta = await api("/api/meta");
  } catch (e) {
    setStatus(e.status === 401 ? "This server needs a token: open the URL with ?token=..." : e.message, true);
    return;
  }
  const box = $("#plugin-filters");
  box.replaceChildren();
  for (const f of state.meta.filters) {
    const input = el("input", { name: f.name, size: 8, title: f.help, "data-testid": "filter-" + f.name,
                                inputmode: f.type === "str" ? null : "decimal" });
    box.append(el("label", {}, f.name.replace(/_/g, " ") + " ", input));
  }
  const sorts = Object.entries(state.meta.sort_keys || {});
  if (sorts.length) {
    const select = $("#sort-wrap select");
    for (const [name, help] of sorts) select.append(el("option", { value: name, title: help, text: name }));
  }
  const spaces = state.meta.search_spaces || [];
  if (spaces.length > 1) {
    $("#space-wrap").hidden = false;
    const select = $("#space-wrap select");
    for (const s of spaces) select.append(el("option", { value: s.kind, title: s.help, text: s.kind }));
  }
  $("#albums-link").hidden = !state.meta.albums;
}

// The text the ocr pass read (JSON lines with boxes), as one string; "" when none.
function textRead(asset) {
  try {
    const lines = JSON.parse(asset.ocr_lines || "[]");
    return [...new Set(lines.map((l) => l.text))].join(" · ");
  } catch (e) {
    return "";
  }
}

// -- results grid --------------------------------------------------------------------------------------------
function card(hit, index) {
  const score = hit.score === null || hit.score === undefined ? "" : hit.score.toFixed(2);
  const moment = hit.t ?? hit.t_start;
  const when = hit.kind === "video" && moment ? " @ " + clock(moment) : "";
  const thumb = hit.thumbnail_url
    ? el("img", { class: "thumb", loading: index < 12 ? "eager" : "lazy", decoding: "async",
                  src: withToken(hit.thumbnail_url), alt: baseName(hit.path), "data-testid": "thumb" })
    : el("div", { class: "thumb" });
  const link = el("a", {
    class: hit.weak ? "card weak" : "card", href: `#/asset/${encodeURIComponent(hit.id)}` + (moment ? `?t=${moment}` : ""),
    "data-testid": "result", title: hit.path,
    dataset: { id: hit.id, kind: hit.kind, name: baseName(hit.path), tStart: moment ?? "" },
  },
  thumb,
  el("div", { class: "info" },
    el("div", { class: "name" }, el("span", { class: "badge", text: hit.kind === "video" ? "▶" : "◼" }),
       " " + baseName(hit.path) + when,
       hit.stack ? el("span", { class: "stack", "data-testid": "stack", title: `${hit.stack.label}: ${hit.stack.size} files`,
                                text: ` ⧉ ${hit.stack.size}` }) : ""),
    el("div", { class: "why", "data-testid": "why", text: [score, (hit.why || []).join(", ")].filter(Boolean).join(" · ") })));
  return link;
}

function showGrid(results, title) {
  $("#title").textContent = title;
  const grid = $("#grid");
  delete grid.dataset.album;
  grid.replaceChildren(...results.map(card));
}

function formParams() {
  const form = $("#search-form");
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (String(v).trim()) params.append(k, String(v).trim());
  return params;
}

function fillForm(params) {
  const form = $("#search-form");
  for (const input of form.elements) {
    if (!input.name) continue;
    if (input.type === "checkbox") input.checked = params.get(input.name) === "true";
    else input.value = params.get(input.name) || "";
  }
}

async function runSearch(params) {
  fillForm(params);
  if (!params.get("q")) return runBrowse(params);
  setStatus("Searching…");
  try {
    const body = await api("/api/search?" + params.toString());
    state.lastSearch = params;
    showGrid(body.results, `${body.results.length} results for “${body.query}”`);
    const hidden = body.hidden || 0;
    setStatus(`${body.results.length} results in ${body.seconds.toFixed(2)} s` +
              (hidden ? ` · ${hidden} weak match${hidden === 1 ? "" : "es"} hidden` : ""));
    const more = $("#show-all");
    more.hidden = !hidden || params.get("all") === "true";
    more.textContent = `Show ${hidden} weak match${hidden === 1 ? "" : "es"}`;
    more.onclick = () => {
      const p = new URLSearchParams(params);
      p.set("all", "true");
      location.hash = "#/search?" + p.toString();
    };
    $("#save-album").hidden = !(state.meta && state.meta.albums);
  } catch (e) {
    showGrid([], "");
    setStatus(e.message, true);
  }
}

async function runBrowse(params) {
  setStatus("Loading…");
  $("#save-album").hidden = true;
  $("#show-all").hidden = true;
  try {
    const p = new URLSearchParams(params);
    p.delete("q");
    if (!p.get("limit")) p.set("limit", "200");
    const body = await api("/api/browse?" + p.toString());
    showGrid(body.results, "Newest");
    setStatus(`${body.results.length} assets`);
  } catch (e) {
    setStatus(e.message, true);
  }
}

// -- detail view -------------------------------------------------------------------------------------------
function closeDetail() {
  const video = $("#viewer video");
  if (video) video.pause();
  $("#detail").hidden = true;
  $("#viewer").replaceChildren();
}

async function showAsset(id, t) {
  let asset;
  try {
    asset = await api(`/api/assets/${encodeURIComponent(id)}`);
  } catch (e) {
    setStatus(e.message, true);
    return;
  }
  $("#detail").hidden = false;
  $("#detail-name").textContent = baseName(asset.path);
  const viewer = $("#viewer");
  const start = Number.isFinite(t) ? t : 0;
  if (asset.kind === "video") {
    const video = el("video", { controls: true, preload: "auto", playsinline: true, muted: true,
                                "data-testid": "player", src: withToken(asset.media_url) + `#t=${start}` });
    video.muted = true;
    video.addEventListener("loadedmetadata", () => {
      if (Math.abs(video.currentTime - start) > 0.25) video.currentTime = start;
      video.dataset.ready = "1";
    });
    video.addEventListener("timeupdate", () => markTranscript(video.currentTime));
    viewer.replaceChildren(video);
    loadTranscript(asset.id, start);
  } else {
    viewer.replaceChildren(el("img", { src: withToken(asset.media_url), alt: baseName(asset.path),
                                        "data-testid": "detail-photo" }));
    $("#transcript").hidden = true;
  }
  const meta = $("#detail-meta");
  meta.replaceChildren();
  const camera = [asset.camera_make, asset.camera_model].filter(Boolean).join(" ");
  // Where the capture time came from ("exif DateTimeOriginal", "gps", ...) and how its offset was known.
  const source = [asset.taken_at_source, asset.taken_at_offset && `offset: ${asset.taken_at_offset}`].filter(Boolean);
  const taken = asset.taken_at && (source.length ? `${asset.taken_at} (${source.join(", ")})` : asset.taken_at);
  const rows = [["path", asset.path], ["taken", taken], ["size", asset.width && `${asset.width}×${asset.height}`],
    ["camera", camera], ["duration", asset.duration && clock(asset.duration)], ["labels", (asset.labels || []).join(", ")],
    ["caption", asset.caption], ["title", asset.title], ["summary", asset.summary], ["text in picture", textRead(asset)]];
  // What photo managers recorded (XMP sidecars, embedded XMP, IPTC): the xmp pass's columns.
  const stars = Number.isInteger(asset.xmp_rating) ? (asset.xmp_rating < 0 ? "rejected" : "★".repeat(asset.xmp_rating) || "0") : null;
  rows.push(["rating", stars], ["colour label", asset.xmp_label], ["keywords", (asset.xmp_keywords || []).join(", ")],
    ["people", (asset.xmp_people || []).join(", ")], ["XMP title", asset.xmp_title], ["description", asset.xmp_description]);
  for (const [k, v] of rows) if (v) meta.append(el("dt", { text: k }), el("dd", { "data-testid": `meta-${k}`, text: String(v) }));
  if (asset.stack) {  // the RAW + JPEG pair, burst or Live Photo it is in: every member, one click away
    const links = asset.stack.members.map((m) => el("a", {
      href: `#/asset/${encodeURIComponent(m.id)}`, "data-testid": "stack-member",
      class: m.id === asset.id ? "current" : "", text: baseName(m.path) + (m.cover ? " (shown)" : "") }));
    const dd = el("dd", {}, ...links.flatMap((a, i) => (i ? [", ", a] : [a])));
    meta.append(el("dt", { text: asset.stack.label }), dd);
  }
}

async function loadTranscript(id, around) {
  const section = $("#transcript");
  section.hidden = false;
  const list = $("#transcript-lines");
  list.replaceChildren();
  try {
    const body = await api(`/api/assets/${encodeURIComponent(id)}/transcript?around=${around}&window=60`);
    for (const s of body.segments) {
      const jump = el("a", { href: "#", text: clock(s.start) });
      jump.addEventListener("click", (ev) => {
        ev.preventDefault();
        const video = $("#viewer video");
        if (video) { video.currentTime = s.start; video.play().catch(() => {}); }
      });
      list.append(el("li", { dataset: { start: s.start, end: s.end }, "data-testid": "transcript-line" }, jump, s.text));
    }
    $("#transcript-empty").hidden = body.segments.length > 0;
    markTranscript(around);
  } catch (e) {
    $("#transcript-empty").hidden = false;
  }
}

function markTranscript(t) {
  for (const li of document.querySelectorAll("#transcript-lines li")) {
    li.classList.toggle("now", t >= Number(li.dataset.start) && t <= Number(li.dataset.end));
  }
}

// -- albums (when the albums plugin adds /api/albums) --------------------------------------------------------
async function showAlbums() {
  setStatus("Loading albums…");
  $("#save-album").hidden = true;
  try {
    const body = await api("/api/albums");
    const list = el("ul", { class: "albums", "data-testid": "album-list" });
    for (const a of body.albums) {
      list.append(el("li", {}, el("a", { href: `#/album/${encodeURIComponent(a.name)}`, "data-testid": "album",
        text: a.name }), " ", el("span", { class: "muted", text: `${a.count ?? 0} items` + (a.error ? ` · ${a.error}` : "") })));
    }
    $("#title").textContent = "Albums";
    delete $("#grid").dataset.album;
    $("#grid").replaceChildren(list);
    setStatus(body.albums.length ? "" : "No albums yet: search, then “Save this search as an album”.");
  } catch (e) {
    setStatus(e.status === 404 ? "Albums are not available (the albums plugin is off)." : e.message, true);
  }
}

async function showAlbum(name) {
  setStatus("Loading album…");
  $("#save-album").hidden = true;
  try {
    const body = await api(`/api/albums/${encodeURIComponent(name)}`);
    const items = body.items.map((it) => Object.assign({}, it, {
      thumbnail_url: `/api/assets/${encodeURIComponent(it.id)}/thumbnail` + (it.segment > 0 ? `?segment=${it.segment}` : ""),
      why: [],
    }));
    showGrid(items, `Album “${body.name}” (${body.count})`);
    $("#grid").dataset.album = body.name;
    setStatus("");
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function saveAlbum() {
  const name = $("#album-name").value.trim();
  const params = state.lastSearch;
  if (!name || !params) { setStatus("Give the album a name.", true); return; }
  const rule = { name, query: params.get("q") };
  for (const [k, v] of params.entries()) {
    if (k === "q" || k === "limit") continue;
    if (k === "label") (rule.labels = rule.labels || []).push(v);
    else if (k === "has_speech") rule.has_speech = v === "true";
    else if (k === "min_score") rule.min_score = Number(v);
    else rule[k] = v;
  }
  try {
    await api("/api/albums", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(rule) });
    location.hash = `#/album/${encodeURIComponent(name)}`;
  } catch (e) {
    setStatus(e.message, true);
  }
}

// -- routing: #/search?q=..., #/asset/ID?t=S, #/albums, #/album/NAME, #/browse ---------------------------------
function decoded(text) {
  try { return decodeURIComponent(text); } catch (e) { return null; }  // a malformed % escape
}

async function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  document.body.dataset.route = path.split("/")[1] || "home";
  if (path.startsWith("/asset/")) {
    const t = params.has("t") ? Number(params.get("t")) : NaN;
    const id = decoded(path.slice(7));
    if (id === null) { setStatus("Bad asset link.", true); return; }
    return showAsset(id, t);
  }
  closeDetail();
  if (path === "/search") return runSearch(params);
  if (path === "/albums") return showAlbums();
  if (path.startsWith("/album/")) {
    const name = decoded(path.slice(7));
    if (name === null) { setStatus("Bad album link.", true); return; }
    return showAlbum(name);
  }
  return runBrowse(params);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = formParams();
    params.delete("all");  // a new search starts with the weak matches hidden again
    location.hash = (params.get("q") ? "#/search?" : "#/browse?") + params.toString();
  });
  $("#detail-close").addEventListener("click", () => history.back());
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("#detail").hidden) history.back(); });
  $("#album-save").addEventListener("click", saveAlbum);
  window.addEventListener("hashchange", route);
  await loadMeta();
  await route();
  document.body.dataset.ready = "1";
});
