// venta live map: a small slippy map (Web Mercator, OpenStreetMap tiles as <img>) fed over
// Socket.IO v5 / Engine.IO v4 on a plain WebSocket, on the /user namespace, like a mobile client.
// Query: ?token=&lat=&long=&zoom= (and tiles=0 to draw no tiles, ws=<url> for another server).
"use strict";
(function () {
  const NS = "/user";
  const TILE = 256;
  const MIN_ZOOM = 2;
  const MAX_ZOOM = 19;
  const MAX_LAT = 85.0511;
  const VIEW_DEBOUNCE_MS = 250;

  const params = new URLSearchParams(location.search);
  const num = (name, fallback) => {
    const value = parseFloat(params.get(name));
    return Number.isFinite(value) ? value : fallback;
  };
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const view = {
    lat: clamp(num("lat", 52.52), -MAX_LAT, MAX_LAT),
    long: clamp(num("long", 13.405), -180, 180),
    zoom: clamp(Math.round(num("zoom", 14)), MIN_ZOOM, MAX_ZOOM),
  };
  const token = (params.get("token") || "").trim();
  const tilesWanted = params.get("tiles") !== "0";

  const $ = (id) => document.getElementById(id);
  const mapEl = $("map");
  const tilesEl = $("tiles");
  const markersEl = $("markers");
  const clustersEl = $("clusters");
  const statusEl = $("status");
  const card = $("card");

  // -- Web Mercator ---------------------------------------------------------------------------
  const worldSize = (zoom) => TILE * Math.pow(2, zoom);
  function project(lat, long, zoom) {
    const s = Math.sin((clamp(lat, -MAX_LAT, MAX_LAT) * Math.PI) / 180);
    const size = worldSize(zoom);
    return {
      x: ((long + 180) / 360) * size,
      y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size,
    };
  }
  function unproject(x, y, zoom) {
    const size = worldSize(zoom);
    const n = Math.PI - (2 * Math.PI * y) / size;
    return {
      lat: (180 / Math.PI) * Math.atan(0.5 * (Math.exp(n) - Math.exp(-n))),
      long: (x / size) * 360 - 180,
    };
  }
  const size = () => ({ w: mapEl.clientWidth, h: mapEl.clientHeight });
  function toScreen(lat, long) {
    const c = project(view.lat, view.long, view.zoom);
    const p = project(lat, long, view.zoom);
    const { w, h } = size();
    return { x: p.x - c.x + w / 2, y: p.y - c.y + h / 2 };
  }
  function fromScreen(x, y) {
    const c = project(view.lat, view.long, view.zoom);
    const { w, h } = size();
    return unproject(c.x + x - w / 2, c.y + y - h / 2, view.zoom);
  }
  function bounds() {
    const { w, h } = size();
    const ne = fromScreen(w, 0);
    const sw = fromScreen(0, h);
    return {
      neLocation: { lat: clamp(ne.lat, -90, 90), long: clamp(ne.long, -180, 180) },
      swLocation: { lat: clamp(sw.lat, -90, 90), long: clamp(sw.long, -180, 180) },
    };
  }

  // -- drawing --------------------------------------------------------------------------------
  function drawTiles() {
    const online = tilesWanted && navigator.onLine !== false;
    $("attribution").hidden = !online;
    tilesEl.replaceChildren();
    if (!online) return;
    const { w, h } = size();
    const c = project(view.lat, view.long, view.zoom);
    const left = c.x - w / 2;
    const top = c.y - h / 2;
    const n = Math.pow(2, view.zoom);
    for (let ty = Math.floor(top / TILE); ty <= Math.floor((top + h) / TILE); ty++) {
      if (ty < 0 || ty >= n) continue;
      for (let tx = Math.floor(left / TILE); tx <= Math.floor((left + w) / TILE); tx++) {
        const img = document.createElement("img");
        img.alt = "";
        img.src = `https://tile.openstreetmap.org/${view.zoom}/${((tx % n) + n) % n}/${ty}.png`;
        img.style.left = `${tx * TILE - left}px`;
        img.style.top = `${ty * TILE - top}px`;
        img.onerror = () => img.remove();
        tilesEl.appendChild(img);
      }
    }
  }

  const vendors = new Map(); // id -> {el, lat, long, name, open, primaryImage, updatedAt}

  function place(el, lat, long) {
    const p = toScreen(lat, long);
    el.style.left = `${p.x}px`;
    el.style.top = `${p.y}px`;
  }

  function upsertVendor(item) {
    if (!item || typeof item.id !== "string" || !item.location) return;
    let v = vendors.get(item.id);
    if (!v) {
      const el = document.createElement("div");
      el.className = "vendor";
      el.dataset.vendorId = item.id;
      el.appendChild(document.createElement("span")).className = "label";
      el.addEventListener("click", (event) => {
        event.stopPropagation();
        showCard(item.id);
      });
      markersEl.appendChild(el);
      v = { el };
      vendors.set(item.id, v);
    }
    for (const key of ["name", "open", "primaryImage", "updatedAt"]) {
      if (item[key] !== undefined) v[key] = item[key];
    }
    v.lat = item.location.lat;
    v.long = item.location.long;
    const el = v.el;
    el.dataset.lat = String(v.lat);
    el.dataset.long = String(v.long);
    el.classList.toggle("open", v.open === true);
    el.classList.toggle("closed", v.open === false);
    if (typeof v.open === "boolean") el.dataset.open = String(v.open);
    const label = v.name || item.id;
    el.title = typeof v.open === "boolean" ? `${label} (${v.open ? "open" : "closed"})` : label;
    el.firstChild.textContent = label;
    place(el, v.lat, v.long);
  }

  function removeVendor(id) {
    const v = vendors.get(id);
    if (!v) return;
    v.el.remove();
    vendors.delete(id);
    if (card.dataset.vendorId === id) card.hidden = true;
  }

  function showCard(id) {
    const v = vendors.get(id);
    if (!v) return;
    card.replaceChildren();
    card.dataset.vendorId = id;
    const title = card.appendChild(document.createElement("strong"));
    title.textContent = v.name || id;
    const state = card.appendChild(document.createElement("div"));
    state.textContent = v.open === true ? "open" : v.open === false ? "closed" : "";
    if (v.updatedAt) state.textContent += ` · seen ${new Date(v.updatedAt).toLocaleTimeString()}`;
    if (typeof v.primaryImage === "string" && /^https?:\/\//.test(v.primaryImage)) {
      const img = card.appendChild(document.createElement("img"));
      img.alt = "";
      img.src = v.primaryImage;
    }
    card.hidden = false;
  }

  function setClusters(list) {
    clustersEl.replaceChildren();
    for (const c of Array.isArray(list) ? list : []) {
      if (!c || !c.location) continue;
      const el = document.createElement("div");
      el.className = "cluster";
      el.dataset.clusterCell = String(c.cell);
      el.dataset.count = String(c.count);
      el.dataset.lat = String(c.location.lat);
      el.dataset.long = String(c.location.long);
      el.textContent = String(c.count);
      el.title = `${c.count} vendors`;
      clustersEl.appendChild(el);
      place(el, c.location.lat, c.location.long);
    }
  }

  function redraw() {
    drawTiles();
    const c = project(view.lat, view.long, view.zoom);
    const { w, h } = size();
    mapEl.style.backgroundPosition = `${(w / 2 - c.x) % 64}px ${(h / 2 - c.y) % 64}px`;
    for (const v of vendors.values()) place(v.el, v.lat, v.long);
    for (const el of clustersEl.children) {
      place(el, parseFloat(el.dataset.lat), parseFloat(el.dataset.long));
    }
    document.body.dataset.vendors = String(vendors.size);
    $("counts").textContent = `${vendors.size} vendors in view`;
    const url = new URL(location.href);
    url.searchParams.set("lat", view.lat.toFixed(5));
    url.searchParams.set("long", view.long.toFixed(5));
    url.searchParams.set("zoom", String(view.zoom));
    history.replaceState(null, "", url);
  }

  // -- Socket.IO v5 over Engine.IO v4, websocket only ------------------------------------------
  const socket = { ws: null, connected: false, retry: 1000, stopped: false };

  function setStatus(text, state) {
    statusEl.textContent = text;
    statusEl.dataset.state = state;
  }

  function wsUrl() {
    // Socket.IO lives next to /map: at the root, or under the prefix venta is mounted at.
    const other = params.get("ws");
    const prefix = other ? "" : location.pathname.replace(/\/map$/, "");
    const url = new URL(`${prefix}/socket.io/`, other || location.origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.search = "EIO=4&transport=websocket";
    return url.href;
  }

  function emit(event, data) {
    if (socket.connected) socket.ws.send(`42${NS},` + JSON.stringify([event, data]));
  }

  function connect() {
    setStatus("connecting…", "idle");
    const ws = new WebSocket(wsUrl());
    socket.ws = ws;
    ws.onmessage = (message) => onPacket(ws, String(message.data));
    ws.onclose = () => {
      if (socket.ws !== ws) return;
      socket.connected = false;
      if (socket.stopped) return;
      setStatus(`disconnected; retrying in ${Math.round(socket.retry / 1000)} s`, "error");
      setTimeout(connect, socket.retry);
      socket.retry = Math.min(socket.retry * 2, 15000);
    };
  }

  function onPacket(ws, text) {
    const kind = text[0];
    if (kind === "0") {
      ws.send(`40${NS},` + JSON.stringify({ token }));
    } else if (kind === "2") {
      ws.send("3");
    } else if (kind === "1") {
      ws.close();
    } else if (kind === "4") {
      onSocketIo(ws, text.slice(1));
    }
  }

  function onSocketIo(ws, text) {
    const type = text[0];
    const rest = text.slice(1);
    if (!rest.startsWith(NS + ",") && rest !== NS) return;
    const body = rest.slice(NS.length + 1);
    if (type === "0") {
      socket.connected = true;
      socket.retry = 1000;
      setStatus("connected", "connected");
      sendView();
    } else if (type === "4") {
      let reason = body;
      try {
        const data = JSON.parse(body);
        reason = (data.data && data.data.code) || data.code || data.message || body;
      } catch (_) { /* keep the text */ }
      socket.stopped = true;
      setStatus(`refused: ${reason}`, "error");
      $("token-form").hidden = false;
      ws.close();
    } else if (type === "1") {
      socket.connected = false;
      ws.close();
    } else if (type === "2") {
      let packet;
      try {
        packet = JSON.parse(body);
      } catch (_) {
        return;
      }
      if (Array.isArray(packet)) onEvent(packet[0], packet[1]);
    }
  }

  function onEvent(event, data) {
    if (event === "vendor_channels") {
      const seen = new Set();
      for (const item of Array.isArray(data) ? data : []) {
        upsertVendor(item);
        if (item && item.id) seen.add(item.id);
      }
      for (const id of [...vendors.keys()]) if (!seen.has(id)) removeVendor(id);
      setClusters([]);
    } else if (event === "vendor_sync") {
      upsertVendor(data);
    } else if (event === "vendor_left") {
      if (data) removeVendor(data.id);
    } else if (event === "vendor_clusters") {
      for (const id of [...vendors.keys()]) removeVendor(id);
      setClusters(data);
    } else if (event === "error") {
      setStatus(`error ${data && data.code}: ${data && data.message}`, "error");
      return;
    }
    redraw();
  }

  let viewTimer = null;
  function sendView() {
    clearTimeout(viewTimer);
    viewTimer = null;
    emit("updateUserLocation", bounds());
  }
  function viewChanged() {
    redraw();
    clearTimeout(viewTimer);
    viewTimer = setTimeout(sendView, VIEW_DEBOUNCE_MS);
  }

  // -- interaction ----------------------------------------------------------------------------
  function panBy(dx, dy) {
    const c = project(view.lat, view.long, view.zoom);
    const next = unproject(c.x - dx, c.y - dy, view.zoom);
    view.lat = clamp(next.lat, -MAX_LAT, MAX_LAT);
    view.long = ((((next.long + 180) % 360) + 360) % 360) - 180;
    viewChanged();
  }
  function zoomAt(delta, x, y) {
    const zoom = clamp(view.zoom + delta, MIN_ZOOM, MAX_ZOOM);
    if (zoom === view.zoom) return;
    const anchor = fromScreen(x, y);
    view.zoom = zoom;
    const p = toScreen(anchor.lat, anchor.long);
    panBy(x - p.x, y - p.y);
  }

  let drag = null;
  mapEl.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".vendor")) return; // a tap on a marker opens its card
    e.preventDefault(); // no text selection, whose native drag would cancel the next pan
    mapEl.focus();
    drag = { x: e.clientX, y: e.clientY };
    mapEl.setPointerCapture(e.pointerId);
    mapEl.classList.add("dragging");
  });
  mapEl.addEventListener("pointermove", (e) => {
    if (!drag) return;
    panBy(e.clientX - drag.x, e.clientY - drag.y);
    drag = { x: e.clientX, y: e.clientY };
  });
  const endDrag = () => {
    drag = null;
    mapEl.classList.remove("dragging");
  };
  mapEl.addEventListener("pointerup", endDrag);
  mapEl.addEventListener("pointercancel", endDrag);
  mapEl.addEventListener("click", () => (card.hidden = true));
  mapEl.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      const r = mapEl.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1 : -1, e.clientX - r.left, e.clientY - r.top);
    },
    { passive: false },
  );
  mapEl.addEventListener("keydown", (e) => {
    const step = 100;
    const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) panBy(...moves[e.key]);
    else if (e.key === "+" || e.key === "=") zoomAt(1, size().w / 2, size().h / 2);
    else if (e.key === "-") zoomAt(-1, size().w / 2, size().h / 2);
  });
  $("zoom-in").addEventListener("click", () => zoomAt(1, size().w / 2, size().h / 2));
  $("zoom-out").addEventListener("click", () => zoomAt(-1, size().w / 2, size().h / 2));
  window.addEventListener("resize", viewChanged);
  window.addEventListener("online", redraw);
  window.addEventListener("offline", redraw);

  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = new URL(location.href);
    url.searchParams.set("token", $("token-input").value.trim());
    location.assign(url);
  });

  redraw();
  if (token) {
    connect();
  } else {
    $("token-form").hidden = false;
    setStatus("no token", "error");
  }
})();
