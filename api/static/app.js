// The imagecrawler page: submit crawls, list jobs, watch one live.
//
// Everything that came from a crawled page (image URLs, alt texts, page
// URLs) reaches the document through textContent and attribute setters
// only, never as markup; only http(s) URLs become a src or an href.  The
// page's Content-Security-Policy (api/page.py) backs that up.
//
// Live updates come from GET /jobs/ID/events, read with fetch() rather
// than EventSource so that the token travels in the Authorization header
// (EventSource cannot set headers, and a token in a URL ends up in logs).
// The reader resumes with Last-Event-ID itself; polling is the fallback.
"use strict";

const PER_PAGE = 120;          // thumbnails on one gallery page
const JOBS_SHOWN = 20;
const JOBS_REFRESH_MS = 5000;
const RECONNECT_MS = 2000;
const STREAM_TRIES = 5;        // failed connections in a row before polling
const POLL_MS = 2000;
const TOKEN_KEY = "imagecrawler.token";
const TERMINAL = new Set(["completed", "cancelled"]);

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// An http(s) URL as the browser would load it, or null for anything else
// (javascript:, data:, garbage).
function safeUrl(raw) {
  try {
    const url = new URL(String(raw), location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// --- the API -----------------------------------------------------------------

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  return headers;
}

async function api(method, path, body) {
  const init = {method, headers: authHeaders({"Accept": "application/json"})};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && data.error ? data.error.message : response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return data;
}

// --- the form ----------------------------------------------------------------

function lines(id) {
  return $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);
}

function numberField(id) {
  const raw = $(id).value.trim();
  return raw === "" ? undefined : Number(raw);
}

// Options left at their defaults are not sent, so the API's own defaults
// (and its settings) apply, and an API without an option still takes the form.
function submission() {
  const body = {urls: lines("urls"), scope: $("scope").value};
  body.max_depth = $("unlimited").checked ? null : numberField("max-depth");
  for (const [field, id] of [["max_pages", "max-pages"], ["host_concurrency", "host-concurrency"],
                             ["host_delay", "host-delay"]]) {
    const value = numberField(id);
    if (value !== undefined) body[field] = value;
  }
  if (body.max_depth === undefined) delete body.max_depth;
  const include = lines("include"), exclude = lines("exclude");
  if (include.length) body.include = include;
  if (exclude.length) body.exclude = exclude;
  if ($("sitemaps").checked) body.sitemaps = true;
  if (!$("obey-nofollow").checked) body.obey_nofollow = false;
  return body;
}

async function submitCrawl(event) {
  event.preventDefault();
  showError("");
  $("submit").disabled = true;
  try {
    const job = await api("POST", "/jobs", submission());
    location.hash = "job=" + job.id;
    refreshJobs();
  } catch (e) {
    showError("The crawl was not created: " + e.message);
  } finally {
    $("submit").disabled = false;
  }
}

// --- recent jobs ---------------------------------------------------------------

async function refreshJobs() {
  let listing;
  try {
    listing = await api("GET", "/jobs?limit=" + JOBS_SHOWN);
  } catch (e) {
    showError("Jobs could not be listed: " + e.message);
    return;
  }
  const items = listing.jobs.map((job) => {
    const item = el("li", null, "job-item status-" + job.status);
    const link = el("a", job.urls[0] || job.id);
    link.href = "#job=" + encodeURIComponent(job.id);
    item.append(el("span", job.status, "status"), " ", link,
                el("span", ` ${settled(job.stats)}/${job.stats.pages_admitted} pages, ` +
                           `${job.stats.images_found} images`, "muted"));
    return item;
  });
  $("jobs").replaceChildren(...items);
}

function settled(stats) {
  return stats.pages_crawled + stats.pages_failed + stats.pages_skipped;
}

// --- one job, live ---------------------------------------------------------------

let current = null;            // the job shown: {id, images, byUrl, kinds, ...}

function openJob(id) {
  if (current) current.abort.abort();
  current = {
    id, images: [], byUrl: new Map(), kinds: new Set(), types: new Set(),
    offset: 0, status: null, page: 0, abort: new AbortController(), renderQueued: false,
  };
  $("job").hidden = false;
  $("details").hidden = true;
  $("job-id").textContent = id;
  $("job-status").textContent = "…";
  $("job-urls").textContent = "";
  $("kind-filter").replaceChildren(el("legend", "Kinds"));
  $("type-filter").replaceChildren(el("legend", "Types"));
  $("type-filter").hidden = true;
  $("size-filter").hidden = true;
  for (const link of document.querySelectorAll(".actions a")) {
    link.href = `/jobs/${encodeURIComponent(id)}/images?format=${link.dataset.format}`;
    link.download = `images-${id}.${link.dataset.format}`;
  }
  renderGallery();
  api("GET", "/jobs/" + encodeURIComponent(id)).then((job) => {
    if (current && current.id === id) {
      $("job-urls").textContent = job.urls.join(" ");
      showProgress(job);
    }
  }).catch((e) => showError("The job could not be read: " + e.message));
  follow(current);
}

function showProgress(job) {
  if (!current || job.id !== current.id) return;
  current.status = job.status;
  $("job-status").textContent = job.status;
  const stats = job.stats, done = settled(stats), bar = $("progress");
  bar.max = Math.max(stats.pages_admitted, 1);
  bar.value = done;
  bar.dataset.crawled = String(done);
  bar.dataset.admitted = String(stats.pages_admitted);
  $("job-stats").textContent =
    `${stats.pages_crawled} crawled, ${stats.pages_failed} failed, ${stats.pages_skipped} skipped ` +
    `of ${stats.pages_admitted} admitted; ${stats.images_found} images`;
  $("cancel").disabled = TERMINAL.has(job.status);
}

function addImages(job, offset, images) {
  // A batch that overlaps what we have (a resumed stream) adds only the new part.
  for (const image of images.slice(Math.max(0, job.offset - offset))) {
    job.images.push(image);
    job.byUrl.set(image.url, image);
    for (const kind of image.sources || []) addFilter(job.kinds, "kind-filter", kind);
    if (typeof image.type === "string") addFilter(job.types, "type-filter", image.type);
    if (typeof image.width === "number") $("size-filter").hidden = false;
  }
  job.offset = Math.max(job.offset, offset + images.length);
  queueRender();
}

function addFilter(seen, fieldsetId, value) {
  if (seen.has(value)) return;
  seen.add(value);
  const box = el("input");
  box.type = "checkbox";
  box.checked = true;
  box.value = value;
  const label = el("label");
  label.append(box, " " + value);
  const fieldset = $(fieldsetId);
  fieldset.append(label);
  fieldset.hidden = false;
}

// --- the event stream --------------------------------------------------------

async function follow(job) {
  let failures = 0;
  while (!job.abort.signal.aborted && failures < STREAM_TRIES) {
    try {
      if (await readStream(job)) return;      // the job ended
      failures = 0;
    } catch (e) {
      if (job.abort.signal.aborted) return;
      failures += 1;
    }
    await pause(RECONNECT_MS, job.abort.signal);
  }
  if (!job.abort.signal.aborted) poll(job);
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, {once: true});
  });
}

// One connection; resolves true on the stream's `end`, false when it broke off.
async function readStream(job) {
  const headers = authHeaders({"Accept": "text/event-stream"});
  if (job.offset) headers["Last-Event-ID"] = String(job.offset);
  const response = await fetch(`/jobs/${encodeURIComponent(job.id)}/events`,
                               {headers, signal: job.abort.signal, cache: "no-store"});
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new Error(data && data.error ? data.error.message : response.statusText);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return false;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (dispatch(job, parseEvent(block))) return true;
    }
  }
}

// One event's block of lines -> {event, data, id}; comments (heartbeats) are dropped.
function parseEvent(block) {
  const parsed = {event: "message", data: [], id: null};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") parsed.event = value;
    else if (field === "data") parsed.data.push(value);
    else if (field === "id") parsed.id = value;
  }
  return parsed;
}

// Acts on one event; true when it was the last.
function dispatch(job, parsed) {
  if (!parsed.data.length || job !== current) return false;
  const data = JSON.parse(parsed.data.join("\n"));
  if (parsed.event === "images") addImages(job, data.offset, data.images);
  else if (parsed.event === "progress") showProgress(data);
  else if (parsed.event === "end") { refreshJobs(); return true; }
  return false;
}

// The fallback when the stream will not connect: the same data by polling.
async function poll(job) {
  const path = "/jobs/" + encodeURIComponent(job.id);
  while (!job.abort.signal.aborted) {
    try {
      const state = await api("GET", path);
      showProgress(state);
      let page;
      do {
        page = await api("GET", `${path}/images?cursor=${job.offset}&limit=1000`);
        addImages(job, job.offset, page.images);
      } while (page.next && !job.abort.signal.aborted);
      if (TERMINAL.has(state.status)) return;
    } catch (e) {
      showError("Lost contact with the API: " + e.message);
    }
    await pause(POLL_MS, job.abort.signal);
  }
}

// --- the gallery ---------------------------------------------------------------

function checked(fieldsetId) {
  return new Set([...document.querySelectorAll(`#${fieldsetId} input:checked`)].map((b) => b.value));
}

function shown(job) {
  const kinds = checked("kind-filter");
  const types = checked("type-filter");
  const minWidth = Number($("min-width").value) || 0;
  return job.images.filter((image) =>
    (image.sources || []).some((kind) => kinds.has(kind)) &&
    (typeof image.type !== "string" || types.has(image.type)) &&
    (!minWidth || typeof image.width !== "number" || image.width >= minWidth));
}

function queueRender() {
  if (!current || current.renderQueued) return;
  current.renderQueued = true;
  requestAnimationFrame(() => {
    if (!current) return;
    current.renderQueued = false;
    renderGallery();
  });
}

function renderGallery() {
  const job = current;
  const images = shown(job);
  const pages = Math.max(1, Math.ceil(images.length / PER_PAGE));
  job.page = Math.min(job.page, pages - 1);
  const start = job.page * PER_PAGE;
  $("gallery").replaceChildren(...images.slice(start, start + PER_PAGE).map(thumb));
  $("gallery-count").textContent = `${images.length} of ${job.images.length} images shown`;
  $("page-info").textContent = `page ${job.page + 1} of ${pages}`;
  $("prev-page").disabled = job.page === 0;
  $("next-page").disabled = job.page >= pages - 1;
}

function thumb(image) {
  const figure = el("figure", null, "thumb");
  figure.dataset.url = image.url;
  figure.tabIndex = 0;
  const src = safeUrl(image.url);
  if (src) {
    const img = el("img");
    img.referrerPolicy = "no-referrer";
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = image.alt || "";
    img.src = src;
    figure.append(img);
  } else {
    figure.append(el("span", "not loadable", "placeholder"));
  }
  figure.append(el("figcaption", image.sources.join(", ")));
  return figure;
}

function showDetails(image) {
  $("details").hidden = false;
  const src = safeUrl(image.url);
  const preview = $("details-img");
  preview.hidden = !src;
  if (src) preview.src = src; else preview.removeAttribute("src");
  preview.alt = image.alt || "";
  linkTo($("details-url"), image.url);
  $("details-kinds").textContent = (image.sources || []).join(", ");
  $("details-alt").textContent = image.alt === null || image.alt === undefined ? "(none)" : image.alt;
  $("details-size").textContent = typeof image.width === "number"
    ? `${image.width} × ${image.height} ${image.type || ""}` : "(not probed)";
  $("details-found-on").replaceChildren(...(image.found_on || []).map((page) => {
    const item = el("li");
    item.append(linkTo(el("a"), page));
    return item;
  }));
}

// Shows `url` as the link's text; it is a link only when it is http(s).
function linkTo(anchor, url) {
  anchor.textContent = url;
  const href = safeUrl(url);
  if (href) anchor.href = href; else anchor.removeAttribute("href");
  anchor.rel = "noopener noreferrer";
  anchor.target = "_blank";
  return anchor;
}

// --- exports and cancel --------------------------------------------------------

// With a token a plain link would go without it: fetch it and save the blob.
async function exportWithToken(event) {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const response = await fetch(link.href, {headers: authHeaders()});
    if (!response.ok) throw new Error(String(response.status));
    const url = URL.createObjectURL(await response.blob());
    const save = el("a");
    save.href = url;
    save.download = link.download;
    save.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (e) {
    showError("The export failed: " + e.message);
  }
}

async function cancelJob() {
  if (!current) return;
  try {
    showProgress(await api("DELETE", "/jobs/" + encodeURIComponent(current.id)));
  } catch (e) {
    showError("The job could not be cancelled: " + e.message);
  }
}

// --- wiring ----------------------------------------------------------------------

function route() {
  const match = /^#job=([0-9a-f]{32})$/.exec(location.hash);
  if (match && (!current || current.id !== match[1])) openJob(match[1]);
}

function turnPage(step) {
  if (!current) return;
  current.page = Math.max(0, current.page + step);
  renderGallery();
}

document.addEventListener("DOMContentLoaded", () => {
  const token = $("token");
  token.value = sessionStorage.getItem(TOKEN_KEY) || "";
  token.addEventListener("change", () => {
    if (token.value) sessionStorage.setItem(TOKEN_KEY, token.value);
    else sessionStorage.removeItem(TOKEN_KEY);
    refreshJobs();
  });
  $("token-form").addEventListener("submit", (event) => event.preventDefault());
  $("crawl-form").addEventListener("submit", submitCrawl);
  $("unlimited").addEventListener("change", () => { $("max-depth").disabled = $("unlimited").checked; });
  $("refresh-jobs").addEventListener("click", refreshJobs);
  $("cancel").addEventListener("click", cancelJob);
  $("prev-page").addEventListener("click", () => turnPage(-1));
  $("next-page").addEventListener("click", () => turnPage(1));
  $("close-details").addEventListener("click", () => { $("details").hidden = true; });
  $("filters").addEventListener("change", () => { if (current) renderGallery(); });
  $("gallery").addEventListener("click", (event) => {
    const figure = event.target.closest(".thumb");
    const image = figure && current ? current.byUrl.get(figure.dataset.url) : null;
    if (image) showDetails(image);
  });
  for (const link of document.querySelectorAll(".actions a")) {
    link.addEventListener("click", exportWithToken);
  }
  window.addEventListener("hashchange", route);
  route();
  refreshJobs();
  setInterval(refreshJobs, JOBS_REFRESH_MS);
});
