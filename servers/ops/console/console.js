// The realtime-mcp console: plain JavaScript, no build step. The token lives in session storage
// and travels only in the Authorization header (never in a URL).
"use strict";

const TOKEN_KEY = "realtime-mcp-token";
const $ = (id) => document.getElementById(id);
const thumbs = new Map(); // device id -> {frameId, url}
let skillsData = null;
let talk = null; // {pc, stream, callId}
const displaysById = new Map(); // from the full state; the live stream leaves them out

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h.Authorization = "Bearer " + token();
  return h;
}
function setStatus(text) { $("status").textContent = text; }
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const c of children) node.append(c);
  return node;
}

async function api(path) {
  const res = await fetch(path, { headers: headers(), cache: "no-store" });
  if (res.status === 401 || res.status === 403) {
    const body = await res.json().catch(() => ({}));
    askToken((body.error && body.error.message) || "A token is needed.");
    throw new Error("unauthorized");
  }
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res;
}

function askToken(why) {
  $("token-section").hidden = false;
  setStatus(why);
  $("token-input").focus();
}

async function refreshThumb(img, device) {
  const known = thumbs.get(device.id);
  if (known && known.frameId === device.frame.frame_id) {
    img.src = known.url;
    img.dataset.frameId = known.frameId;
    return;
  }
  const res = await api("/console/api/frames/" + encodeURIComponent(device.id));
  const url = URL.createObjectURL(await res.blob());
  if (known) URL.revokeObjectURL(known.url);
  thumbs.set(device.id, { frameId: device.frame.frame_id, url });
  img.src = url;
  img.dataset.frameId = device.frame.frame_id;
}

function renderDevices(devices) {
  const list = $("devices");
  list.replaceChildren();
  if (!devices.length) list.append(el("li", { textContent: "No device. Connect a capture client: realtime-mcp capture --server URL --token TOKEN" }));
  for (const d of devices) {
    if (d.displays) displaysById.set(d.id, d.displays);
    d.displays = displaysById.get(d.id) || null;
    const item = el("li", { className: "device" });
    item.dataset.device = d.id;
    item.append(el("h3", { textContent: `${d.id} (${d.kind === "local" ? "this server's display" : "capture client"})` }));
    if (d.displays) {
      item.append(el("p", { textContent: d.displays.map((s) => `display ${s.index}: ${s.pixel_width}×${s.pixel_height} px${s.primary ? " (primary)" : ""}`).join("; ") }));
    }
    if (d.frame) {
      const fig = el("figure", { className: "thumb" });
      const img = el("img", { alt: `Latest frame of ${d.id} (${d.frame.width}×${d.frame.height})` });
      img.dataset.device = d.id;
      fig.append(img);
      if (d.point) {
        const marker = el("span", { className: "marker", title: d.point.label || d.point.kind });
        marker.style.left = (100 * (d.point.x + 0.5) / d.frame.width) + "%";
        marker.style.top = (100 * (d.point.y + 0.5) / d.frame.height) + "%";
        marker.setAttribute("role", "img");
        marker.setAttribute("aria-label", `Last ${d.point.kind} at (${d.point.x}, ${d.point.y})${d.point.label ? ": " + d.point.label : ""}`);
        fig.append(marker);
      }
      const when = new Date(d.frame.captured_at * 1000).toLocaleTimeString();
      fig.append(el("figcaption", { textContent: `Frame ${d.frame.frame_id}, ${when}` }));
      if (d.frame.stale) fig.append(el("p", { className: "stale", textContent: "Stale: the last good frame." }));
      item.append(fig);
      refreshThumb(img, d).catch((e) => setStatus("Thumbnail: " + e.message));
    } else {
      item.append(el("p", { className: "hint", textContent: "No frame yet (the latest capture_screen shows here)." }));
    }
    list.append(item);
  }
}

function renderCalls(calls, configured) {
  const body = $("calls");
  body.replaceChildren();
  if (!calls.length) {
    const text = configured ? "No call." : "The bridge has no OpenAI key (REALTIME_MCP_OPENAI_API_KEY).";
    body.append(el("tr", {}, el("td", { colSpan: 6, textContent: text })));
  }
  for (const c of calls) {
    const row = el("tr", {},
      el("td", { textContent: c.call_id }), el("td", { textContent: c.device }),
      el("td", { textContent: c.state + (c.responding ? " (responding)" : "") }),
      el("td", { textContent: String(c.frames_sent) }),
      el("td", { textContent: (c.last_tools || []).map((t) => t.name + (t.outcome === "ok" ? "" : " (error)")).join(", ") }),
      el("td", { textContent: c.last_error || "" }));
    row.dataset.callId = c.call_id;
    body.append(row);
  }
}

function renderSkills() {
  if (!skillsData) { $("skills-summary").textContent = "The skills server is not mounted."; return; }
  const q = $("skill-search").value.trim().toLowerCase();
  const shown = skillsData.skills.filter((s) => !q || (s.name + " " + s.description).toLowerCase().includes(q));
  $("skills-summary").textContent = `${skillsData.skills.length} loaded, ${skillsData.skipped} skipped; ${shown.length} shown.`;
  const list = $("skills");
  list.replaceChildren(...shown.map((s) => el("li", {},
    el("strong", { textContent: s.name }), " — " + s.description,
    ...s.warnings.map((w) => el("div", { className: "hint", textContent: "warning: " + w })))));
  const problems = $("problems");
  problems.replaceChildren(...skillsData.problems.map((p) => el("li", {},
    el("code", { textContent: p.path }),
    ...p.items.map((i) => el("div", { className: i.severity, textContent: `${i.severity}: ${i.message}` })))));
  if (!skillsData.problems.length) problems.append(el("li", { textContent: "None." }));
}

function applyLive(live) {
  renderDevices(live.devices);
  renderCalls(live.calls, live.bridge_configured);
}

async function follow() {
  // Server-sent events over fetch: EventSource cannot send the Authorization header.
  for (;;) {
    try {
      const res = await api("/console/api/events");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) applyLive(JSON.parse(data));
        }
      }
    } catch (e) {
      if (e.message === "unauthorized") return;
      setStatus("Live updates lost (" + e.message + "); retrying…");
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function start() {
  try {
    const state = await (await api("/console/api/state")).json();
    $("token-section").hidden = true;
    setStatus(`Connected: realtime-mcp ${state.version}${state.auth ? "" : " (auth off)"}.`);
    skillsData = state.skills;
    renderSkills();
    applyLive(state);
    follow();
  } catch (e) {
    if (e.message !== "unauthorized") setStatus("Cannot reach the suite: " + e.message);
  }
}

// --- Talk: a WebRTC voice session through the bridge (POST /realtime/calls) ----------------------

function talkState(text) { $("talk-state").textContent = text; }

function setMic(on) {
  if (!talk) return;
  for (const t of talk.stream.getAudioTracks()) t.enabled = on;
  talkState(on ? "Listening (microphone on)." : "Microphone off: hold Space to speak.");
}

async function startTalk() {
  const button = $("talk-button");
  button.setAttribute("aria-pressed", "true");
  button.textContent = "Hang up";
  talkState("Starting…");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = new RTCPeerConnection();
    talk = { pc, stream, callId: null };
    pc.ontrack = (e) => { $("remote-audio").srcObject = e.streams[0]; };
    for (const t of stream.getAudioTracks()) pc.addTrack(t, stream);
    pc.createDataChannel("oai-events");
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch("/realtime/calls", {
      method: "POST", body: pc.localDescription.sdp, headers: headers({ "Content-Type": "application/sdp" }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || "HTTP " + res.status);
    }
    talk.callId = res.headers.get("X-Call-Id");
    const answer = await res.text();
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (e) {
      talkState(`Call ${talk.callId} created, but its audio answer could not be applied: ${e.message}`);
      return;
    }
    setMic(!$("ptt-toggle").checked);
    if (!$("ptt-toggle").checked) talkState(`In call ${talk.callId}: speak.`);
  } catch (e) {
    talkState("Could not start: " + e.message);
    await stopTalk(false);
  }
}

async function stopTalk(hangUp = true) {
  const current = talk;
  talk = null;
  $("talk-button").setAttribute("aria-pressed", "false");
  $("talk-button").textContent = "Talk";
  if (!current) return;
  current.pc.close();
  for (const t of current.stream.getTracks()) t.stop();
  if (hangUp && current.callId) {
    await fetch("/realtime/calls/" + encodeURIComponent(current.callId), { method: "DELETE", headers: headers() }).catch(() => {});
  }
  if (hangUp) talkState("Not talking.");
}

function typing(target) { return target instanceof HTMLInputElement && target.type !== "checkbox"; }

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); });
  $("skill-search").addEventListener("input", renderSkills);
  $("talk-button").addEventListener("click", () => (talk ? stopTalk() : startTalk()));
  $("ptt-toggle").addEventListener("change", () => setMic(!$("ptt-toggle").checked));
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && !e.repeat && talk && $("ptt-toggle").checked && !typing(e.target)) { e.preventDefault(); setMic(true); }
  });
  document.addEventListener("keyup", (e) => {
    if (e.code === "Space" && talk && $("ptt-toggle").checked && !typing(e.target)) { e.preventDefault(); setMic(false); }
  });
  start();
});
