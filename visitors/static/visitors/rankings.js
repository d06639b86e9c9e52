/*
 * The dashboard's rankings: this month's (or year's) faculties as bars and most frequent
 * visitors as a list, polled from the API with If-None-Match (an unchanged ranking costs a
 * 304). The same-origin session cookie goes along, so staff signed in to the admin get
 * members in full; everyone else gets what the API gives anonymous callers (initials).
 * Text is set with textContent only: names never become markup.
 */
(() => {
  "use strict";

  const root = document.getElementById("rankings");
  if (!root) return;
  const pollMs = Math.max(1000, Number(root.dataset.pollMs) || 5000);
  const urls = {
    month: { faculties: root.dataset.facultiesMonthUrl, visitors: root.dataset.visitorsMonthUrl },
    year: { faculties: root.dataset.facultiesYearUrl, visitors: root.dataset.visitorsYearUrl },
  };
  const _ = window.gettext || ((text) => text);
  const numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const state = { period: "month", etags: {}, bodies: {} };
  const $ = (id) => document.getElementById(id);

  const isEntry = (e) => e && typeof e === "object" && Number.isInteger(e.total) && e.total >= 0;
  const valid = (body, field) => body && Array.isArray(body[field]) && body[field].every(isEntry);

  async function load(url, field) {
    const headers = { Accept: "application/json" };
    if (state.etags[url] && state.bodies[url]) headers["If-None-Match"] = state.etags[url];
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(4000, pollMs * 2));
    try {
      const response = await fetch(url, { headers, cache: "no-store", signal: controller.signal });
      if (response.status === 304) return state.bodies[url];
      if (!response.ok) return null;
      const body = await response.json();
      if (!valid(body, field)) return null;
      state.etags[url] = response.headers.get("ETag");
      state.bodies[url] = body;
      return body;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  const facultyLabel = (e) => e.fakultas || e.institution || _("No institution");

  function drawFaculties(body) {
    const list = $("faculty-bars");
    const entries = body.faculties;
    const max = Math.max(1, ...entries.map((e) => e.total));
    const items = entries.map((entry) => {
      const item = document.createElement("li");
      const label = document.createElement("span");
      label.className = "rank-label";
      label.textContent = facultyLabel(entry);
      if (entry.fakultas && entry.institution) label.title = entry.institution;
      const track = document.createElement("span");
      track.className = "rank-track";
      const bar = document.createElement("span");
      bar.className = "rank-bar";
      bar.style.width = `${(100 * entry.total) / max}%`;
      track.append(bar);
      const value = document.createElement("span");
      value.className = "rank-value";
      value.textContent = numberFormat.format(entry.total);
      item.append(label, track, value);
      return item;
    });
    list.replaceChildren(...items);
    $("faculty-empty").hidden = entries.length > 0;
  }

  function drawVisitors(body) {
    const list = $("visitor-list");
    const items = body.visitors.map((entry) => {
      const item = document.createElement("li");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = entry.member_name || _("(no name)");
      if (entry.member_id) {
        const id = document.createElement("span");
        id.className = "member-id";
        id.textContent = ` ${entry.member_id}`;
        who.append(id);
      }
      const where = document.createElement("span");
      where.className = "where";
      where.textContent = entry.fakultas || entry.institution || "";
      const value = document.createElement("span");
      value.className = "rank-value";
      value.textContent = numberFormat.format(entry.total);
      item.append(who, where, value);
      return item;
    });
    list.replaceChildren(...items);
    $("visitor-empty").hidden = body.visitors.length > 0;
    const masked = body.visitors.some((e) => e.member_id === null);
    $("visitor-privacy").hidden = !masked;
  }

  async function refresh() {
    const period = state.period;
    const [faculties, visitors] = await Promise.all([
      load(urls[period].faculties, "faculties"),
      load(urls[period].visitors, "visitors"),
    ]);
    if (period !== state.period) return; // switched meanwhile
    if (faculties) drawFaculties(faculties);
    if (visitors) drawVisitors(visitors);
    root.dataset.state = faculties && visitors ? "ready" : "error";
  }

  let timer = null;
  async function tick() {
    clearTimeout(timer);
    if (document.visibilityState !== "hidden") await refresh();
    timer = setTimeout(tick, pollMs);
  }

  for (const button of root.querySelectorAll("[data-period]")) {
    button.addEventListener("click", () => {
      state.period = button.dataset.period;
      for (const other of root.querySelectorAll("[data-period]")) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      for (const node of root.querySelectorAll(".period-name")) {
        node.textContent = state.period === "month" ? _("this month") : _("this year");
      }
      tick();
    });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") tick();
  });
  tick();

  window.libraryRankings = { state, refresh };
})();
