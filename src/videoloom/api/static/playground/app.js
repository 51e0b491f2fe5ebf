// Videoloom playground: plain JavaScript, no build step, nothing loaded from elsewhere.
// Talks to the same server that serves this page, with the key from localStorage.
"use strict";

(() => {
  const KEY_STORAGE = "videoloom.apiKey";
  const $ = (id) => document.getElementById(id);
  const el = {
    keyForm: $("key-form"), key: $("api-key"), keyStatus: $("key-status"), forget: $("forget-key"),
    uploadForm: $("upload-form"), uploadFile: $("upload-file"), uploadButton: $("upload-button"),
    createForm: $("create-form"), createButton: $("create-button"),
    gallery: $("gallery"), galleryEmpty: $("gallery-empty"), refresh: $("refresh"),
    stage: document.querySelector(".stage"),
    info: $("selected-info"), player: $("player"), playerTitle: $("player-title"),
    timeline: $("timeline"), timelineValue: $("timeline-value"), timelineMax: $("timeline-max"),
    usePlayerTime: $("use-player-time"),
    extendForm: $("extend-form"), extendButton: $("extend-button"),
    progressPanel: $("progress-panel"), progress: $("progress"), progressText: $("progress-text"),
    error: $("error"), lineage: $("lineage"), download: $("download"), remove: $("delete"),
  };

  const state = {
    key: localStorage.getItem(KEY_STORAGE) || "", selected: null, models: [], busy: false, selecting: 0,
  };

  // --- HTTP ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers }));
    } catch (err) {
      throw new ApiError(`cannot reach the server (${err.message})`, 0);
    }
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    if (!response.ok) {
      const message = body && body.error && body.error.message ? body.error.message : `HTTP ${response.status}`;
      throw new ApiError(message, response.status);
    }
    return body;
  }

  const query = (id) => api(`/v1/video/query?id=${encodeURIComponent(id)}`);

  // --- small helpers -----------------------------------------------------------------------

  function showError(err) {
    el.error.textContent = err ? (err.message || String(err)) : "";
    if (err && err.status === 401) el.keyStatus.textContent = "The server refused this key (401): paste a valid one.";
  }

  function describe(task) {
    const parts = [task.kind];
    if (task.duration) parts.push(`${Number(task.duration).toFixed(1)} s`);
    if (task.width && task.height) parts.push(`${task.width}×${task.height}`);
    if (task.kind === "extend" && task.start_time !== null && task.start_time !== undefined) {
      parts.push(`from ${task.start_time} s`);
    }
    return parts.join(" · ");
  }

  function node(tag, attrs = {}, children = []) {
    const n = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") n.textContent = value;
      else if (name.startsWith("on")) n.addEventListener(name.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) n.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child) n.append(child);
    return n;
  }

  function setBusy(busy) {
    state.busy = busy;
    for (const button of [el.uploadButton, el.createButton]) button.disabled = busy;
    el.extendButton.disabled = busy || !canExtend();
  }

  function canExtend() {
    return Boolean(state.selected && state.selected.status === "completed");
  }

  // --- key -----------------------------------------------------------------------------------

  function keyChanged() {
    el.key.value = state.key;
    if (!state.key) {
      el.keyStatus.textContent = "Paste an API key (printed by make serve on first start). It stays in this browser only.";
      el.gallery.replaceChildren();
      return;
    }
    el.keyStatus.textContent = "Key saved in this browser.";
    loadModels().then(refreshGallery).catch(showError);
  }

  el.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = el.key.value.trim();
    localStorage.setItem(KEY_STORAGE, state.key);
    showError(null);
    keyChanged();
  });

  el.forget.addEventListener("click", () => {
    state.key = "";
    localStorage.removeItem(KEY_STORAGE);
    keyChanged();
  });

  async function loadModels() {
    const answer = await api("/v1/models");
    state.models = answer.data.map((m) => m.id);
    for (const select of document.querySelectorAll(".model-select")) {
      const current = select.value;
      select.replaceChildren(...state.models.map((id) => node("option", { value: id, text: id })));
      if (current && state.models.includes(current)) select.value = current;
    }
  }

  // --- gallery -------------------------------------------------------------------------------

  async function refreshGallery() {
    if (!state.key) return;
    const page = await api("/v1/videos?limit=30");
    const tasks = await Promise.all(page.data.map((v) => query(v.id).catch(() => null)));
    const items = tasks.filter(Boolean).map((task) => {
      const selected = state.selected && state.selected.id === task.id;
      const thumb = task.thumbnail_url
        ? node("img", { src: task.thumbnail_url, alt: "", loading: "lazy", width: 160, height: 90 })
        : node("span", { class: "thumb-placeholder", "aria-hidden": "true", text: task.state });
      const label = `${task.kind} ${task.id}: ${task.state}${task.duration ? `, ${Number(task.duration).toFixed(1)} seconds` : ""}`;
      const button = node("button", {
        type: "button", class: "card", "data-id": task.id, "aria-label": label,
        "aria-current": selected ? "true" : null, onclick: () => select(task.id, { focusPlayer: true }),
      }, [
        thumb,
        node("span", { class: "card-title", text: task.kind }),
        node("span", { class: "card-meta", text: task.status === "completed" ? describe(task).split(" · ").slice(1).join(" · ") : `${task.state} ${task.progress}%` }),
      ]);
      return node("li", {}, [button]);
    });
    el.gallery.replaceChildren(...items);
    el.galleryEmpty.hidden = items.length > 0;
  }

  el.refresh.addEventListener("click", () => refreshGallery().catch(showError));

  // --- the selected video ------------------------------------------------------------------

  // Selecting loads the task and its lineage; aria-busy marks the player panel meanwhile, and a
  // newer selection wins over one still loading.
  async function select(id, options = {}) {
    const token = ++state.selecting;
    el.stage.setAttribute("aria-busy", "true");
    try {
      await load(id, token, options);
    } finally {
      if (token === state.selecting) el.stage.setAttribute("aria-busy", "false");
    }
  }

  async function load(id, token, { focusPlayer = false, play = false }) {
    showError(null);
    const task = await query(id).catch((err) => { showError(err); return null; });
    if (!task || token !== state.selecting) return;
    state.selected = task;
    for (const card of el.gallery.querySelectorAll(".card")) {
      if (card.dataset.id === id) card.setAttribute("aria-current", "true");
      else card.removeAttribute("aria-current");
    }
    el.info.textContent = `${task.id} · ${describe(task)}${task.prompt ? ` · “${task.prompt}”` : ""}`;
    if (task.video_url) {
      el.player.src = task.video_url;
      // download=1: saved as a file, served by Videoloom itself even where links redirect to a
      // bucket (a browser ignores the download attribute after a cross-origin redirect).
      el.download.href = task.video_url + (task.video_url.includes("?") ? "&" : "?") + "download=1";
      el.download.setAttribute("download", `${task.id.replace(":", "_")}.mp4`);
      el.download.hidden = false;
    } else {
      el.player.removeAttribute("src");
      el.player.load();
      el.download.hidden = true;
    }
    el.remove.hidden = false;
    const seconds = Math.max(0, Math.floor(task.duration || 0));
    el.timeline.max = String(seconds);
    el.timeline.value = String(seconds);
    el.timeline.disabled = !canExtend();
    el.usePlayerTime.disabled = !canExtend();
    el.timelineMax.textContent = `${seconds} s`;
    timelineChanged(false);
    for (const selectEl of [$("extend-model")]) if (state.models.includes(task.model)) selectEl.value = task.model;
    el.extendButton.disabled = state.busy || !canExtend();
    await showLineage(task, token);
    if (token !== state.selecting) return;
    if (focusPlayer) el.playerTitle.focus();
    if (play) el.player.play().catch(() => {});
  }

  function timelineChanged(seek) {
    const second = Number(el.timeline.value);
    el.timelineValue.textContent = String(second);
    el.timeline.setAttribute("aria-valuetext", `${second} seconds`);
    el.extendButton.textContent = `Extend from ${second} s`;
    if (seek && el.player.src) {
      el.player.pause();
      el.player.currentTime = second;
    }
  }

  el.timeline.addEventListener("input", () => timelineChanged(true));
  el.usePlayerTime.addEventListener("click", () => {
    el.timeline.value = String(Math.min(Number(el.timeline.max), Math.floor(el.player.currentTime || 0)));
    timelineChanged(false);
  });
  el.player.addEventListener("seeked", () => {
    // Scrubbing the paused player picks the second too; playing leaves the choice alone.
    if (!el.player.paused || !canExtend()) return;
    el.timeline.value = String(Math.min(Number(el.timeline.max), Math.floor(el.player.currentTime)));
    timelineChanged(false);
  });

  async function showLineage(task, token) {
    const chain = [task];
    while (chain[0].parent_id && chain.length < 50) {
      const parent = await query(chain[0].parent_id).catch(() => null);
      if (token !== state.selecting) return;
      if (!parent) { chain.unshift({ id: chain[0].parent_id, missing: true }); break; }
      chain.unshift(parent);
    }
    el.lineage.replaceChildren(...chain.map((item) => {
      if (item.missing) return node("li", { class: "missing", text: `${item.id} (deleted)` });
      const current = item.id === task.id;
      const text = `${describe(item)}${item.prompt ? ` — “${item.prompt}”` : ""}`;
      return node("li", { "aria-current": current ? "step" : null }, [
        node("button", { type: "button", class: "link", onclick: () => select(item.id, { focusPlayer: true }), text: item.id }),
        node("span", { class: "lineage-meta", text }),
      ]);
    }));
  }

  // --- following a task --------------------------------------------------------------------

  function showProgress(id, verb, status, progress) {
    el.progressPanel.hidden = false;
    el.progress.value = status === "completed" ? 100 : progress;
    el.progressText.textContent = status === "completed"
      ? `${verb} ${id}: completed (100%).`
      : `${verb} ${id}: ${progress}% (${status}).`;
  }

  async function follow(id, verb) {
    showProgress(id, verb, "queued", 0);
    try {
      await followEvents(id, verb);
    } catch (_) {
      await followPolling(id, verb);
    }
    const task = await query(id);
    if (task.status !== "completed") {
      const why = task.error ? `${task.error.message} (${task.error.code})` : task.state;
      el.progressText.textContent = `${verb} ${id}: ${task.state}.`;
      throw new ApiError(`The task ${task.state}: ${why}`, 0);
    }
    showProgress(id, verb, "completed", 100);
    return task;
  }

  // SSE through fetch, so the Authorization header goes along (EventSource cannot send it).
  async function followEvents(id, verb) {
    const response = await fetch(`/v1/videos/${encodeURIComponent(id)}/events`, {
      headers: { Authorization: `Bearer ${state.key}`, Accept: "text/event-stream" },
    });
    if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the event stream ended early");
      buffer += value.replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
        }
        let video = {};
        try { video = JSON.parse(data.join("\n")); } catch (_) { video = {}; }
        const status = ["completed", "failed", "cancelled", "deleted"].includes(event) ? event
          : (video.status === "in_progress" ? "processing" : video.status || "processing");
        showProgress(id, verb, status, video.progress || 0);
        if (event !== "progress" && event !== "message") {
          reader.cancel().catch(() => {});
          return;
        }
      }
    }
  }

  async function followPolling(id, verb) {
    for (;;) {
      const task = await query(id);
      showProgress(id, verb, task.state, task.progress);
      if (["completed", "failed", "cancelled"].includes(task.state)) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async function run(verb, start) {
    if (!state.key) { showError(new Error("Paste an API key first.")); el.key.focus(); return; }
    showError(null);
    setBusy(true);
    el.progressPanel.hidden = false;
    el.progress.removeAttribute("value");  // indeterminate until the server answers
    el.progressText.textContent = `${verb}: sending the request…`;
    try {
      const created = await start();
      if (created.status !== "completed") await follow(created.id, verb);
      else showProgress(created.id, verb, "completed", 100);
      await refreshGallery();
      await select(created.id, { play: true });
    } catch (err) {
      showError(err);
    } finally {
      setBusy(false);
    }
  }

  // --- forms ---------------------------------------------------------------------------------

  el.uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = el.uploadFile.files[0];
    if (!file) return;
    run("Uploading", () => {
      const form = new FormData();
      form.append("file", file, file.name);
      el.progressText.textContent = `Uploading ${file.name}…`;
      return api("/v1/videos/uploads", { method: "POST", body: form });
    });
  });

  el.createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(el.createForm);
    run("Creating", () => api("/v1/video/create", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: form.get("model") || state.models[0],
        prompt: String(form.get("prompt")),
        duration: Number(form.get("duration")),
        size: form.get("size"),
        aspect_ratio: form.get("aspect"),
      }),
    }));
  });

  el.extendForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!canExtend()) return;
    const form = new FormData(el.extendForm);
    const images = String(form.get("images") || "").split("\n").map((s) => s.trim()).filter(Boolean);
    if (images.length > 4) { showError(new Error("At most 4 reference images.")); return; }
    const body = {
      model: form.get("model") || state.selected.model,
      prompt: String(form.get("prompt")),
      start_time: Number(el.timeline.value),
      size: form.get("size"),
      duration: Number(form.get("duration")),
      upscale: form.get("upscale") === "on",
    };
    if (form.get("aspect")) body.aspect_ratio = form.get("aspect");
    if (images.length) body.images = images;
    const source = state.selected.id;
    run("Extending", () => api(`/v1/videos/${encodeURIComponent(source)}/extend`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }));
  });

  el.remove.addEventListener("click", async () => {
    if (!state.selected) return;
    const id = state.selected.id;
    if (!window.confirm(`Delete ${id} and its files?`)) return;
    try {
      await api(`/v1/videos/${encodeURIComponent(id)}`, { method: "DELETE" });
      state.selected = null;
      el.player.removeAttribute("src");
      el.player.load();
      el.info.textContent = `Deleted ${id}.`;
      el.lineage.replaceChildren();
      el.download.hidden = true;
      el.remove.hidden = true;
      el.timeline.disabled = true;
      el.extendButton.disabled = true;
      await refreshGallery();
    } catch (err) {
      showError(err);
    }
  });

  keyChanged();
})();
