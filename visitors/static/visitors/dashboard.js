/*
 * Library visitors dashboard: draws /api/visitors/summary, pushed by the server over
 * Server-Sent Events (/api/visitors/stream), or polled with If-None-Match while the stream
 * is unavailable.
 *
 * Plain JavaScript and hand-drawn SVG: no framework, no build step, no network beyond our
 * own API. Dates in the API are library-calendar strings ("2024-06-03"); they are formatted
 * as calendar dates (in UTC arithmetic) so no time zone can shift them.
 */
(() => {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const root = document.getElementById("dashboard");
  const config = {
    pollMs: Math.max(250, Number(root.dataset.pollMs) || 5000),
    apiUrl: root.dataset.apiUrl,
    streamUrl: root.dataset.streamUrl || null,
    healthUrl: root.dataset.healthUrl || null,
    timeZone: root.dataset.timeZone || undefined,
  };
  const HEALTH_EVERY_MS = 30000;
  const STREAM_RETRY_MS = 15000; // after the stream failed for good, try it again this often

  const $ = (id) => document.getElementById(id);
  // Words from Django's JavaScript catalog (/jsi18n, the page's language); English without it.
  const _ = window.gettext || ((text) => text);
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const fill = (template, values) =>
    template.replace(/%\((\w+)\)s/g, (_match, key) => (key in values ? values[key] : ""));
  const lang = document.documentElement.lang || undefined;
  const els = {
    count: $("today-count"),
    date: $("today-date"),
    asOf: $("as-of"),
    badge: $("stale-badge"),
    statusText: $("status-text"),
    statusAge: $("status-age"),
    statusSource: $("status-source"),
    statusHealth: $("status-health"),
    statusTransport: $("status-transport"),
  };

  // --- formatting ---------------------------------------------------------------------
  const numberFormat = new Intl.NumberFormat(lang);
  const compactFormat = new Intl.NumberFormat(lang, { notation: "compact", maximumFractionDigits: 1 });
  const utc = (options) => new Intl.DateTimeFormat(lang, { ...options, timeZone: "UTC" });
  const fmt = {
    weekday: utc({ weekday: "short" }),
    dayMonth: utc({ day: "numeric", month: "short" }),
    longDay: utc({ weekday: "long", day: "numeric", month: "long", year: "numeric" }),
    month: utc({ month: "short" }),
    monthYear: utc({ month: "long", year: "numeric" }),
    clock: new Intl.DateTimeFormat(lang, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: config.timeZone,
    }),
    clockDay: new Intl.DateTimeFormat(lang, {
      day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit",
      timeZone: config.timeZone,
    }),
    libraryDay: new Intl.DateTimeFormat("en-CA", { timeZone: config.timeZone }),
  };
  const calendarDate = (iso) => {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, (m || 1) - 1, d || 1));
  };
  const formatValue = (n) => (n >= 10000 ? compactFormat.format(n) : numberFormat.format(n));
  const formatTime = (date) =>
    fmt.libraryDay.format(date) === fmt.libraryDay.format(new Date())
      ? fmt.clock.format(date)
      : fmt.clockDay.format(date);
  const visitors = (n) => fill(ngettext("%(n)s visitor", "%(n)s visitors", n), { n: numberFormat.format(n) });

  // --- the three series: how each point is labelled -----------------------------------
  const SERIES = {
    weekly: {
      title: _("Last 7 days"),
      column: _("Day"),
      points: (items) => items.map((item) => {
        const day = calendarDate(item.date);
        return {
          label: fmt.weekday.format(day),
          sublabel: fmt.dayMonth.format(day),
          shortSublabel: String(day.getUTCDate()),
          name: fmt.longDay.format(day),
          value: item.total,
        };
      }),
    },
    monthly: {
      title: _("Last 12 months"),
      column: _("Month"),
      points: (items) => items.map((item, index) => {
        const month = calendarDate(`${item.month}-01`);
        const firstOrJanuary = index === 0 || month.getUTCMonth() === 0;
        const year = firstOrJanuary ? String(month.getUTCFullYear()) : "";
        return {
          label: fmt.month.format(month),
          sublabel: year,
          shortSublabel: year,
          name: fmt.monthYear.format(month),
          value: item.total,
        };
      }),
    },
    yearly: {
      title: _("Last 5 years"),
      column: _("Year"),
      points: (items) => items.map((item) => ({
        label: String(item.year), sublabel: "", name: String(item.year), value: item.total,
      })),
    },
  };

  const isCount = (v) => Number.isInteger(v) && v >= 0;
  function isSummary(body) {
    if (!body || typeof body !== "object" || !isCount(body.today)) return false;
    const shapes = { weekly: ["date", 7], monthly: ["month", 12], yearly: ["year", 5] };
    return Object.entries(shapes).every(([name, [label, length]]) =>
      Array.isArray(body[name]) && body[name].length === length &&
      body[name].every((item) => item && label in item && isCount(item.total)));
  }

  // --- SVG bar chart --------------------------------------------------------------------
  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceTicks(max, wanted) {
    if (max <= 0) return [0, 1];
    const raw = max / wanted;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const normal = raw / magnitude;
    const factor = normal <= 1 ? 1 : normal <= 2 ? 2 : normal <= 2.5 ? 2.5 : normal <= 5 ? 5 : 10;
    const step = Math.max(1, factor * magnitude);
    const top = Math.ceil(max / step) * step;
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(Math.round(v));
    return ticks;
  }

  function drawChart(figure, spec, points) {
    const plot = figure.querySelector(".plot");
    const width = plot.clientWidth;
    const height = plot.clientHeight;
    if (!width || !height) return;
    const textSize = parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8 || 12;
    const charWidth = textSize * 0.6;

    const max = Math.max(0, ...points.map((p) => p.value));
    const ticks = niceTicks(max, height < 220 ? 3 : 4);
    const top = ticks[ticks.length - 1];
    const tickWidth = Math.max(...ticks.map((t) => formatValue(t).length)) * charWidth;
    const hasSublabels = points.some((p) => p.sublabel);
    const margin = {
      top: textSize * 1.8,
      right: 4,
      bottom: textSize * (hasSublabels ? 3.2 : 2),
      left: tickWidth + textSize * 2.4,
    };
    const innerW = Math.max(10, width - margin.left - margin.right);
    const innerH = Math.max(10, height - margin.top - margin.bottom);
    const band = innerW / points.length;
    const barW = Math.min(band * 0.68, textSize * 7);
    const y = (v) => margin.top + innerH - (v / top) * innerH;
    const showValues = Math.max(...points.map((p) => formatValue(p.value).length)) * charWidth <= band * 0.95;
    const widest = (texts) => Math.max(0, ...texts.map((t) => (t || "").length)) * charWidth + 6;
    const labelEvery = Math.ceil(widest(points.map((p) => p.label)) / band);
    const useShortSublabels = widest(points.map((p) => p.sublabel)) > band * labelEvery;

    const node = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": fill(_("%(title)s, bar chart: "), { title: spec.title }) +
        points.map((p) => `${p.name} ${visitors(p.value)}`).join("; "),
    });
    const axes = svg("g", { "aria-hidden": "true" }, node);
    for (const tick of ticks) {
      const ty = y(tick);
      svg("line", { class: tick === 0 ? "baseline" : "grid-line", x1: margin.left, x2: width - margin.right, y1: ty, y2: ty }, axes);
      const label = svg("text", { x: margin.left - 6, y: ty, "text-anchor": "end", "dominant-baseline": "middle" }, axes);
      label.textContent = formatValue(tick);
    }
    const axisTitle = svg("text", {
      class: "axis-title", "text-anchor": "middle",
      transform: `translate(${textSize * 0.9} ${margin.top + innerH / 2}) rotate(-90)`,
    }, axes);
    axisTitle.textContent = _("visitors");

    points.forEach((point, index) => {
      const cx = margin.left + band * (index + 0.5);
      const current = index === points.length - 1;
      const slot = svg("g", { class: "slot", "data-index": index }, node);
      svg("rect", { class: "hit", x: cx - band / 2, y: margin.top, width: band, height: innerH + margin.bottom }, slot);
      const barTop = y(point.value);
      svg("rect", {
        class: current ? "bar current" : "bar", x: cx - barW / 2, y: barTop,
        width: barW, height: Math.max(0, margin.top + innerH - barTop), rx: Math.min(3, barW / 6),
      }, slot);
      if (showValues) {
        const value = svg("text", { class: "value", x: cx, y: barTop - textSize * 0.45, "text-anchor": "middle" }, slot);
        value.textContent = formatValue(point.value);
      }
      // Thin out crowded labels counting back from the current bar, which always has one.
      if ((points.length - 1 - index) % labelEvery === 0) {
        const label = svg("text", { x: cx, y: margin.top + innerH + textSize * 1.35, "text-anchor": "middle" }, slot);
        label.textContent = point.label;
        const sublabel = useShortSublabels ? point.shortSublabel : point.sublabel;
        if (sublabel) {
          const sub = svg("text", { x: cx, y: margin.top + innerH + textSize * 2.6, "text-anchor": "middle" }, slot);
          sub.textContent = sublabel;
        }
      }
    });

    const old = plot.querySelector("svg");
    if (old) old.replaceWith(node);
    else plot.prepend(node);
    bindTooltip(figure, plot, node, points, (index) => margin.left + band * (index + 0.5), (index) => y(points[index].value));
  }

  function bindTooltip(figure, plot, node, points, xOf, yOf) {
    let tip = plot.querySelector(".tooltip");
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tooltip";
      tip.hidden = true;
      plot.appendChild(tip);
    }
    const show = (event) => {
      const slot = event.target.closest(".slot");
      node.querySelectorAll(".slot.active").forEach((s) => s.classList.remove("active"));
      if (!slot) { tip.hidden = true; return; }
      const index = Number(slot.dataset.index);
      slot.classList.add("active");
      tip.textContent = `${points[index].name}: ${visitors(points[index].value)}`;
      tip.style.left = `${xOf(index)}px`;
      tip.style.top = `${yOf(index)}px`;
      tip.hidden = false;
    };
    node.addEventListener("pointermove", show);
    node.addEventListener("pointerdown", show);
    node.addEventListener("pointerleave", () => {
      tip.hidden = true;
      node.querySelectorAll(".slot.active").forEach((s) => s.classList.remove("active"));
    });
  }

  function drawTable(figure, spec, points) {
    const table = document.createElement("table");
    table.createCaption().textContent = spec.title;
    const head = table.createTHead().insertRow();
    for (const [text, cls] of [[spec.column, ""], [_("Visitors"), "num"]]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      if (cls) th.className = cls;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const point of points) {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = point.name;
      row.appendChild(th);
      const td = row.insertCell();
      td.className = "num";
      td.textContent = numberFormat.format(point.value);
    }
    figure.querySelector(".table-slot").replaceChildren(table);
  }

  // --- state and rendering --------------------------------------------------------------
  const state = {
    summary: null,
    etag: null,
    dataTime: null, // when the numbers were true (API's as_of, else the response's Date)
    lastSuccess: null, // when we last heard from the API (browser clock)
    failure: null, // why the last poll failed, or null
    failingSince: null,
    health: null, // {status, reasons} from /health, when the service has it
    transport: "polling", // "live" while the server pushes over the stream, else "polling"
  };

  function renderNumbers() {
    const summary = state.summary;
    if (!summary) return;
    const text = numberFormat.format(summary.today);
    if (els.count.textContent !== text) {
      els.count.textContent = text;
      els.count.classList.remove("bump");
      void els.count.offsetWidth; // restart the animation
      els.count.classList.add("bump");
    }
    els.count.setAttribute("data-value", String(summary.today));
    const today = summary.weekly[summary.weekly.length - 1].date;
    els.date.textContent = fmt.longDay.format(calendarDate(today));
    for (const [name, spec] of Object.entries(SERIES)) {
      const figure = $(`chart-${name}`);
      const points = spec.points(summary[name]);
      drawChart(figure, spec, points);
      drawTable(figure, spec, points);
    }
  }

  function describeSource(source) {
    if (typeof source !== "string" || !source) return "";
    const parts = source.split(",").map((part) => part.split(":"));
    const fromDb = parts.filter(([, where]) => where === "db").map(([name]) => name);
    if (!fromDb.length) return _("served from cache");
    if (fromDb.length === parts.length) return _("computed from the database");
    return fill(_("%(parts)s computed from the database"), { parts: fromDb.join(", ") });
  }

  function renderStatus() {
    const summary = state.summary;
    let mode;
    let text;
    if (state.failure) {
      mode = summary ? "stale" : "loading";
      text = summary
        ? fill(_("Stale: cannot reach the API (%(reason)s) since %(time)s; showing the last numbers"), { reason: state.failure, time: formatTime(state.failingSince) })
        : fill(_("Waiting for data: the API is not answering (%(reason)s)"), { reason: state.failure });
    } else if (summary && summary.stale === true) {
      mode = "degraded";
      text = _("Degraded: the server could not refresh the numbers; showing its last good values");
    } else {
      mode = summary ? "live" : "loading";
      text = summary ? _("Live") : _("Loading…");
    }
    root.dataset.state = mode;
    if (els.statusText.textContent !== text) els.statusText.textContent = text;
    els.badge.hidden = !(mode === "stale" || mode === "degraded");
    els.badge.textContent = mode === "degraded" ? _("degraded") : _("stale");
    if (state.dataTime) {
      els.asOf.textContent = formatTime(state.dataTime);
      els.asOf.dateTime = state.dataTime.toISOString();
    }
    if (state.lastSuccess) {
      const seconds = Math.max(0, Math.round((Date.now() - state.lastSuccess) / 1000));
      els.statusAge.textContent = state.failure
        ? (seconds < 2 ? _("last update just now") : fill(_("last update %(seconds)s s ago"), { seconds }))
        : (seconds < 2 ? _("updated just now") : fill(_("updated %(seconds)s s ago"), { seconds }));
    }
    els.statusSource.textContent = summary ? describeSource(summary.source) : "";
    root.dataset.transport = state.transport;
    els.statusTransport.textContent = state.transport === "live"
      ? _("live: pushed by the server")
      : fill(_("polling every %(seconds)s s"), { seconds: config.pollMs / 1000 });
    // /health is about the service (loop, cache), not these numbers: shown, not a state.
    const health = state.health;
    els.statusHealth.textContent = health && health.status !== "ok"
      ? fill(_("service %(status)s"), { status: health.status }) + (health.reasons.length ? `: ${health.reasons.join("; ")}` : "")
      : "";
  }

  function timeOfData(summary, response) {
    const asOf = summary && summary.as_of ? new Date(summary.as_of) : null;
    if (asOf && !Number.isNaN(asOf.getTime())) return asOf;
    const header = response && response.headers.get("Date");
    const served = header ? new Date(header) : null;
    return served && !Number.isNaN(served.getTime()) ? served : new Date();
  }

  // --- polling ----------------------------------------------------------------------------
  async function fetchJson(url, headers) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(4000, config.pollMs * 2));
    try {
      return await fetch(url, {
        headers: { Accept: "application/json", ...headers },
        cache: "no-store", // we revalidate ourselves with If-None-Match
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async function pollSummary() {
    let response;
    try {
      response = await fetchJson(config.apiUrl, state.etag ? { "If-None-Match": state.etag } : {});
    } catch (error) {
      return fail(error.name === "AbortError" ? _("timed out") : _("network error"));
    }
    if (response.status === 304 && state.summary) {
      return succeed(state.summary, response);
    }
    if (!response.ok) return fail(`HTTP ${response.status}`);
    let body;
    try {
      body = await response.json();
    } catch {
      return fail(_("invalid JSON"));
    }
    if (!isSummary(body)) return fail(_("unexpected response"));
    state.etag = response.headers.get("ETag");
    const changed = JSON.stringify(body) !== JSON.stringify(state.summary);
    succeed(body, response);
    if (changed) renderNumbers();
  }

  function succeed(summary, response) {
    state.summary = summary;
    state.dataTime = timeOfData(summary, response);
    state.lastSuccess = Date.now();
    state.failure = null;
    state.failingSince = null;
  }

  function fail(reason) {
    state.failure = reason;
    state.failingSince = state.failingSince || new Date();
  }

  async function pollHealth() {
    if (!config.healthUrl) return;
    try {
      const response = await fetchJson(config.healthUrl, {});
      if (response.status === 404) { config.healthUrl = null; return; }
      const body = await response.json();
      state.health = body && typeof body.status === "string"
        ? { status: body.status, reasons: Array.isArray(body.reasons) ? body.reasons.map(String) : [] }
        : null;
    } catch {
      state.health = null; // the summary poll reports reachability; health is extra
    }
  }

  let timer = null;
  let polling = false;
  let lastHealthCheck = -Infinity;
  async function tick() {
    if (polling) return;
    clearTimeout(timer);
    polling = true;
    try {
      if (document.visibilityState !== "hidden") {
        if (state.transport !== "live") await pollSummary();
        if (Date.now() - lastHealthCheck >= HEALTH_EVERY_MS) {
          lastHealthCheck = Date.now();
          await pollHealth();
        }
        renderStatus();
      }
    } finally {
      polling = false;
      timer = setTimeout(tick, config.pollMs);
    }
  }

  // --- the stream -------------------------------------------------------------------------
  // While the stream is open the server pushes every change and the poll only checks
  // health; when it fails, polling takes over at once, and the stream is tried again.
  let stream = null;
  function openStream() {
    if (!config.streamUrl || !window.EventSource || stream) return;
    stream = new EventSource(config.streamUrl);
    stream.addEventListener("summary", (event) => {
      let body;
      try {
        body = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!isSummary(body)) return;
      const changed = JSON.stringify(body) !== JSON.stringify(state.summary);
      state.transport = "live";
      state.etag = null;
      succeed(body, null);
      if (changed) renderNumbers();
      renderStatus();
    });
    stream.addEventListener("open", () => {
      state.transport = "live";
      renderStatus();
    });
    stream.addEventListener("error", () => {
      state.transport = "polling";
      tick();
      if (stream && stream.readyState === EventSource.CLOSED) {
        stream = null; // the browser gave up (not an event stream): try again later
        setTimeout(openStream, STREAM_RETRY_MS);
      }
    });
  }

  // --- start ------------------------------------------------------------------------------
  const initialNode = $("dashboard-initial");
  const initial = initialNode ? JSON.parse(initialNode.textContent) : null;
  if (initial && isSummary(initial.summary)) {
    state.summary = initial.summary;
    state.dataTime = initial.summary.as_of ? new Date(initial.summary.as_of) : new Date(initial.rendered_at);
    state.lastSuccess = Date.now();
  }
  renderNumbers();
  renderStatus();
  setInterval(renderStatus, 1000);
  timer = setTimeout(tick, state.summary ? config.pollMs : 0);
  openStream();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") tick();
  });

  let resizeFrame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      if (!state.summary) return;
      for (const [name, spec] of Object.entries(SERIES)) {
        drawChart($(`chart-${name}`), spec, spec.points(state.summary[name]));
      }
    });
  }).observe(document.querySelector(".grid"));

  // Hooks for tests and for people poking at a wall screen from the console.
  window.libraryDashboard = { state, config, poll: tick, stream: () => stream };
})();
