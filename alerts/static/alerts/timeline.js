/* A model's incidents as a timeline (last 7 days) and a list, from GET /api/v1/alerts/
   with the page's session. Text from the API is always set with textContent. */
"use strict";

(() => {
  const root = document.getElementById("incident-timeline");
  if (!root) return;
  const DAYS = 7;
  const SPAN = DAYS * 86400 * 1000;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" }) : "—");

  function duration(from, to) {
    const s = Math.max(0, (new Date(to) - new Date(from)) / 1000);
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  function track(incidents, now) {
    const start = now - SPAN;
    const bars = incidents.filter((i) => i.firedAt && (!i.resolvedAt || new Date(i.resolvedAt) >= start)).map((i) => {
      const begin = Math.max(new Date(i.firedAt).getTime(), start);
      const end = i.resolvedAt ? new Date(i.resolvedAt).getTime() : now;
      // A short incident still gets a visible mark; a live one ends at "now".
      const width = Math.max(i.status === "firing" ? 1.2 : 0.6, (100 * (end - begin)) / SPAN);
      const left = Math.min((100 * (begin - start)) / SPAN, 100 - width);
      const title = `${i.rule}: ${i.status} from ${when(i.firedAt)}${i.resolvedAt ? ` to ${when(i.resolvedAt)}` : ""}`;
      return el("span", { class: `incident-bar ${i.status}`, style: `left:${left}%;width:${width}%`, title });
    });
    const ticks = [];
    for (let d = DAYS; d >= 0; d--) {
      const t = now - d * 86400 * 1000;
      ticks.push(el("span", { class: "tick", style: `left:${(100 * (t - start)) / SPAN}%`,
        text: d === 0 ? "now" : new Date(t).toLocaleDateString(undefined, { weekday: "short" }) }));
    }
    return el("div", { class: "incident-track" }, el("div", { class: "incident-lane" }, ...bars), el("div", { class: "incident-axis" }, ...ticks));
  }

  function table(incidents, now) {
    if (!incidents.length) return el("p", { class: "muted", text: "No incidents: no alert rule has fired for this model." });
    const head = el("tr", {}, ...["Status", "Rule", "Fired", "Lasted", "Reason", "Acknowledged"].map((h) => el("th", { text: h })));
    const rows = incidents.map((i) => el("tr", { "data-status": i.status },
      el("td", {}, el("span", { class: `badge badge-${i.status === "firing" ? "unhealthy" : "healthy"}`, text: i.status })),
      el("td", { text: i.rule }), el("td", { text: when(i.firedAt) }),
      el("td", { text: duration(i.firedAt, i.resolvedAt || now) + (i.resolvedAt ? "" : " so far") }),
      el("td", { text: i.reason }), el("td", { text: i.acknowledgedAt ? `${i.acknowledgedBy}, ${when(i.acknowledgedAt)}` : "—" })));
    return el("table", { class: "table compact", id: "incidents-table" }, el("thead", {}, head), el("tbody", {}, ...rows));
  }

  async function load() {
    try {
      const response = await fetch(root.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const incidents = (await response.json()).results;
      const now = Date.now();
      const firing = incidents.filter((i) => i.status === "firing").length;
      root.querySelector(".incident-count").textContent = firing ? `${firing} firing` : "nothing firing";
      root.querySelector(".incident-count").className = `incident-count badge badge-${firing ? "unhealthy" : "healthy"}`;
      root.querySelector(".incident-body").replaceChildren(track(incidents, now), table(incidents, now));
    } catch (error) {
      root.querySelector(".incident-body").replaceChildren(el("p", { class: "muted", text: `Incidents could not be loaded (${error.message}).` }));
    }
  }

  load();
  setInterval(load, 30000);
})();
