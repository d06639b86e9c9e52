/*
 * When and where: today's hours against last week's same weekday, the comparison, rooms
 * and the busiest times, polled from /api/visitors/today/hourly, /today/compare,
 * /rooms/today and /heatmap with If-None-Match (a 304 costs nothing). On the kiosk view the
 * panels marked data-rotate take turns, full screen.
 *
 * Words come from the page (data-* attributes, translated by the template); numbers and
 * dates are formatted for the page's language (<html lang>).
 */
(() => {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const root = document.getElementById("dashboard");
  if (!root || !root.dataset.hourlyUrl) return;
  const lang = document.documentElement.lang || undefined;
  const words = root.dataset;
  const pollMs = Math.max(250, Number(words.pollMs) || 5000);
  const numberFormat = new Intl.NumberFormat(lang);
  const decimalFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
  const percentFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1, signDisplay: "exceptZero" });
  const signedFormat = new Intl.NumberFormat(lang, { signDisplay: "exceptZero" });
  const dayFormat = new Intl.DateTimeFormat(lang, { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  const weekdayFormat = new Intl.DateTimeFormat(lang, { weekday: "short", timeZone: "UTC" });
  const calendarDate = (iso) => {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d));
  };
  const $ = (id) => document.getElementById(id);
  const fill = (template, values) =>
    template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : `{${key}}`));

  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  // --- today by hour: bars for today, a line for last week's same weekday ------------------
  function renderHourly(body) {
    const panel = $("panel-hourly");
    const plot = panel.querySelector(".plot");
    const width = plot.clientWidth || 600;
    const height = plot.clientHeight || 240;
    const text = parseFloat(getComputedStyle(plot).fontSize) * 0.8 || 12;
    const margin = { top: text, right: 4, bottom: text * 2, left: text * 3 };
    const innerW = width - margin.left - margin.right;
    const innerH = height - margin.top - margin.bottom;
    const max = Math.max(1, ...body.hours.map((h) => Math.max(h.total, h.last_week)));
    const band = innerW / 24;
    const y = (v) => margin.top + innerH - (v / max) * innerH;
    const node = svg("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": fill(words.hourlyLabel, { date: dayFormat.format(calendarDate(body.date)) }),
    });
    svg("line", { class: "baseline", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }, node);
    const top = svg("text", { x: margin.left - 4, y: y(max), "text-anchor": "end", "dominant-baseline": "middle" }, node);
    top.textContent = numberFormat.format(max);
    body.hours.forEach((hour) => {
      const x = margin.left + band * hour.hour;
      const future = hour.hour > body.current_hour;
      const classes = ["bar", "hour-bar"];
      if (hour.hour === body.current_hour) classes.push("current");
      if (future) classes.push("future");
      const bar = svg("rect", {
        class: classes.join(" "), x: x + band * 0.15, y: y(hour.total), width: band * 0.7,
        height: Math.max(0, y(0) - y(hour.total)), "data-hour": hour.hour, "data-total": hour.total,
      }, node);
      const title = svg("title", {}, bar);
      title.textContent = `${String(hour.hour).padStart(2, "0")}:00 ${numberFormat.format(hour.total)} / ${numberFormat.format(hour.last_week)}`;
      if (hour.hour % 3 === 0) {
        const label = svg("text", { x: x + band / 2, y: y(0) + text * 1.3, "text-anchor": "middle" }, node);
        label.textContent = String(hour.hour).padStart(2, "0");
      }
    });
    const points = body.hours.map((h) => `${margin.left + band * (h.hour + 0.5)},${y(h.last_week)}`).join(" ");
    svg("polyline", { class: "last-week-line", points, fill: "none" }, node);
    const old = plot.querySelector("svg");
    if (old) old.replaceWith(node); else plot.prepend(node);
    $("hourly-peak").textContent = body.peak
      ? fill(words.peakText, { hour: `${String(body.peak.hour).padStart(2, "0")}:00`, total: numberFormat.format(body.peak.total) })
      : words.noPeakText;
    $("hourly-legend-last-week").textContent = fill(words.lastWeekLegend, { day: weekdayFormat.format(calendarDate(body.last_week_date)) });
  }

  // --- today against last week and last year ----------------------------------------------
  function compareLine(part) {
    const difference = signedFormat.format(part.difference);
    const percent = part.percent === null ? "" : ` (${percentFormat.format(part.percent)}%)`;
    return { total: numberFormat.format(part.total), difference: `${difference}${percent}`, trend: part.difference > 0 ? "up" : part.difference < 0 ? "down" : "same" };
  }

  function renderCompare(body) {
    $("compare-today").textContent = numberFormat.format(body.today);
    $("compare-time").textContent = body.time;
    for (const name of ["last_week", "last_year"]) {
      const line = compareLine(body[name]);
      const row = $(`compare-${name.replace("_", "-")}`);
      row.querySelector(".total").textContent = line.total;
      row.querySelector(".difference").textContent = line.difference;
      row.querySelector(".day").textContent = dayFormat.format(calendarDate(body[name].date));
      row.dataset.trend = line.trend;
    }
  }

  // --- rooms -----------------------------------------------------------------------------
  function renderRooms(body) {
    const list = $("rooms-list");
    const top = body.rooms.slice(0, 8);
    const max = Math.max(1, ...top.map((r) => r.total));
    const items = top.map((room) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.className = "room-name";
      name.textContent = room.room_code === null ? words.noRoom : room.room_code;
      const bar = document.createElement("span");
      bar.className = "room-bar";
      bar.style.setProperty("--share", String(room.total / max));
      const total = document.createElement("span");
      total.className = "room-total";
      total.textContent = numberFormat.format(room.total);
      item.append(name, bar, total);
      return item;
    });
    if (!items.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = words.noRoomsYet;
      items.push(empty);
    }
    list.replaceChildren(...items);
  }

  // --- busiest times -----------------------------------------------------------------------
  function renderHeatmap(body) {
    const table = document.createElement("table");
    table.className = "heatmap-table";
    const max = Math.max(0.01, ...body.days.flatMap((d) => d.hours));
    const head = table.createTHead().insertRow();
    head.appendChild(document.createElement("th"));
    for (let hour = 0; hour < 24; hour += 1) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = hour % 3 === 0 ? String(hour).padStart(2, "0") : "";
      head.appendChild(th);
    }
    const rows = table.createTBody();
    for (const day of body.days) {
      const row = rows.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = weekdayFormat.format(new Date(Date.UTC(2024, 0, day.weekday))); // 1 Jan 2024: Monday
      row.appendChild(th);
      day.hours.forEach((value, hour) => {
        const td = row.insertCell();
        td.style.setProperty("--heat", String(value / max));
        td.title = `${th.textContent} ${String(hour).padStart(2, "0")}:00 ${decimalFormat.format(value)}`;
      });
    }
    $("heatmap-slot").replaceChildren(table);
    $("heatmap-weeks").textContent = fill(words.heatmapWeeks, { weeks: numberFormat.format(body.weeks) });
  }

  const SOURCES = {
    hourly: [words.hourlyUrl, renderHourly],
    compare: [words.compareUrl, renderCompare],
    rooms: [words.roomsUrl, renderRooms],
    heatmap: [words.heatmapUrl, renderHeatmap],
  };
  const etags = {};
  const bodies = {};

  async function poll(name) {
    const [url, render] = SOURCES[name];
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json", ...(etags[name] ? { "If-None-Match": etags[name] } : {}) },
        cache: "no-store",
      });
      if (response.status === 304 || !response.ok) return;
      const body = await response.json();
      etags[name] = response.headers.get("ETag");
      bodies[name] = body;
      render(body);
      root.dataset[`${name}Loaded`] = "true";
    } catch {
      // the summary's status line reports reachability; these panels keep their numbers
    }
  }

  async function pollAll() {
    if (document.visibilityState !== "hidden") {
      await Promise.all(Object.keys(SOURCES).map(poll));
    }
    setTimeout(pollAll, pollMs);
  }
  pollAll();

  // --- the kiosk: one panel at a time -------------------------------------------------------
  const rotating = Array.from(document.querySelectorAll("[data-rotate]"));
  if (root.dataset.kiosk && rotating.length) {
    const every = Math.max(2000, Number(root.dataset.rotateMs) || 15000);
    let shown = 0;
    const show = () => {
      rotating.forEach((panel, index) => { panel.hidden = index !== shown; });
      root.dataset.panel = rotating[shown].id;
      if (bodies.hourly && rotating[shown].id === "panel-hourly") renderHourly(bodies.hourly);
    };
    show();
    setInterval(() => { shown = (shown + 1) % rotating.length; show(); }, every);
  }

  window.libraryWhenWhere = { bodies, poll: pollAll };
})();
