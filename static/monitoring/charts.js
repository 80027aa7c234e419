/* Shared by the dashboard pages: fetching the JSON feed, the window selector, auto-refresh,
   and drawing with Chart.js (served from our static files: no CDN). Text from the feed is
   always set with textContent, never as HTML. */
"use strict";

const HC = (() => {
  const COLORS = {
    blue: "#4f8cff", teal: "#2bc4a8", amber: "#f5a524", red: "#f2545b", violet: "#a78bfa",
    grid: "rgba(148, 163, 184, 0.12)", text: "#94a3b8",
  };
  Chart.defaults.color = COLORS.text;
  Chart.defaults.font.family = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif";
  Chart.defaults.font.size = 11;
  Chart.defaults.animation = false;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  const num = (v, digits = 1) => (v == null ? "—" : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits }));
  const ms = (v) => (v == null ? "—" : v >= 1000 ? `${num(v / 1000, 2)} s` : `${num(v, v < 10 ? 2 : 0)} ms`);
  const pct = (v) => (v == null ? "—" : `${num(v, 1)} %`);

  function timeLabel(iso, windowSeconds) {
    const d = new Date(iso);
    if (windowSeconds > 86400) return d.toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
    if (windowSeconds > 3600) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function baseOptions(unit, { max } = {}) {
    return {
      responsive: true, maintainAspectRatio: false, spanGaps: true,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { display: true, position: "bottom", labels: { boxWidth: 10, boxHeight: 10, padding: 8 } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.y == null ? "—" : num(c.parsed.y, 2)} ${unit}` } },
      },
      scales: {
        x: { grid: { color: COLORS.grid }, ticks: { maxTicksLimit: 6, maxRotation: 0 } },
        y: { beginAtZero: true, suggestedMax: max, grid: { color: COLORS.grid }, ticks: { maxTicksLimit: 5 } },
      },
    };
  }

  const line = (label, color, fill = false) => ({
    label, data: [], borderColor: color, backgroundColor: color + "33", borderWidth: 1.6,
    pointRadius: 1.5, pointHoverRadius: 4, tension: 0, fill,
  });

  /* Creates the three charts of a card once; later refreshes only swap their data. */
  function drawSeries(root, series, windowSeconds) {
    root._charts = root._charts || {};
    const labels = series.times.map((t) => timeLabel(t, windowSeconds));
    const specs = {
      throughput: () => new Chart(root.querySelector('[data-chart="throughput"]'), {
        type: "bar",
        data: { labels: [], datasets: [{ label: "predictions / min", data: [], backgroundColor: COLORS.blue + "cc", borderRadius: 2 }] },
        options: { ...baseOptions("/min"), plugins: { ...baseOptions("/min").plugins, legend: { display: false } } },
      }),
      latency: () => new Chart(root.querySelector('[data-chart="latency"]'), {
        type: "line",
        data: { labels: [], datasets: [line("p50", COLORS.teal), line("p95", COLORS.amber), line("p99", COLORS.red)] },
        options: baseOptions("ms"),
      }),
      rates: () => new Chart(root.querySelector('[data-chart="rates"]'), {
        type: "line",
        data: { labels: [], datasets: [line("error rate", COLORS.red, true), line("cache-hit rate", COLORS.violet)] },
        options: baseOptions("%", { max: 100 }),
      }),
    };
    const data = {
      throughput: [series.perMinute],
      latency: [series.p50, series.p95, series.p99],
      rates: [series.errorRate, series.cacheHitRate],
    };
    for (const [name, make] of Object.entries(specs)) {
      const chart = root._charts[name] || (root._charts[name] = make());
      chart.data.labels = labels;
      data[name].forEach((values, i) => { chart.data.datasets[i].data = values; });
      chart.update();
    }
  }

  function badge(node, health) {
    node.textContent = health.status;
    node.className = `badge badge-${health.status}`;
  }

  function kpis(node, stats, series) {
    const minutes = series.times.length * series.bucketSeconds / 60;
    const items = [
      ["Predictions", num(stats.totalPredictions, 0)],
      ["Per minute", num(stats.totalPredictions / minutes, 2)],
      ["p50", ms(stats.medianLatency)], ["p95", ms(stats.p95Latency)], ["p99", ms(stats.p99Latency)],
      ["Error rate", pct(stats.errorRate)], ["Cache hits", pct(stats.cacheHitRate)],
      ["Confidence", stats.averageConfidence == null ? "—" : num(stats.averageConfidence, 1)],
      ["Accuracy", pct(stats.accuracy)],
    ];
    node.replaceChildren(...items.map(([k, v]) => el("div", { class: "kpi" }, el("dt", { text: k }), el("dd", { text: v }))));
  }

  function arms(node, list) {
    if (!list.length) { node.replaceChildren(); node.hidden = true; return; }
    node.hidden = false;
    const head = el("tr", {}, ...["Arm", "Model", "Traffic", "Predictions", "p95", "Errors", "Confidence", "Accuracy"].map((h) => el("th", { text: h })));
    const rows = list.map((a) => el("tr", { "data-arm": a.arm },
      el("td", {}, el("span", { class: `arm arm-${a.arm}`, text: a.arm })),
      el("td", { text: a.modelId }), el("td", { text: pct(a.trafficPercentage) }),
      el("td", { text: num(a.stats.totalPredictions, 0) }), el("td", { text: ms(a.stats.p95Latency) }),
      el("td", { text: pct(a.stats.errorRate) }),
      el("td", { text: a.stats.averageConfidence == null ? "—" : num(a.stats.averageConfidence, 1) }),
      el("td", { text: a.stats.accuracy == null ? "—" : pct(a.stats.accuracy) })));
    node.replaceChildren(el("h3", { text: "A/B test" }), el("table", { class: "table compact" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  function drift(node, result, { heading = true } = {}) {
    const title = heading ? el("h3", { text: "Input drift" }) : null;
    if (!result.available) {
      node.replaceChildren(...[title].filter(Boolean), el("p", { class: "muted small", text: result.reason }));
      return;
    }
    const maxPsi = Math.max(0.25, ...result.features.map((f) => f.psi || 0));
    const rows = result.features.map((f) => {
      const bar = el("span", { class: "psi-bar" }, el("span", { class: f.drifting ? "psi-fill hot" : "psi-fill", style: `width:${Math.min(100, 100 * (f.psi || 0) / maxPsi)}%` }));
      return el("tr", { class: f.drifting ? "drifting" : "", "data-feature": f.feature },
        el("td", { text: f.label || f.feature }),
        el("td", { text: f.test ? (f.test === "ks" ? "KS" : "χ²") : "—" }),
        el("td", {}, f.test ? bar : null, el("span", { class: "small", text: f.test ? ` ${num(f.psi, 3)}` : f.note })),
        el("td", { text: f.test ? (f.pValue < 0.001 ? "<0.001" : num(f.pValue, 3)) : "" }),
        el("td", {}, f.test ? el("span", { class: f.drifting ? "pill pill-bad" : "pill pill-ok", text: f.drifting ? "drifting" : "stable" }) : null));
    });
    const head = el("tr", {}, ...["Feature", "Test", "PSI", "p", ""].map((h) => el("th", { text: h })));
    node.replaceChildren(...[title].filter(Boolean),
      el("p", { class: "muted small", text: `${result.sampleSize} recent inputs vs ${result.referenceSize} rows of ${result.comparedWith}` }),
      el("table", { class: "table compact" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  /* Window buttons, auto-refresh every 15 s, and the "updated at" line. */
  function live(container, render) {
    let windowSeconds = Number(container.dataset.window);
    let timer = null;
    const status = document.getElementById("refresh-status");
    const auto = document.getElementById("auto-refresh");
    async function refresh() {
      try {
        const response = await fetch(`${container.dataset.source}?window=${windowSeconds}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const data = await response.json();
        render(data, windowSeconds);
        document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
        status.textContent = `Updated ${new Date(data.generatedAt).toLocaleTimeString()}`;
        status.classList.remove("stale");
      } catch (error) {
        status.textContent = `Update failed (${error.message}); retrying`;
        status.classList.add("stale");
      }
    }
    function schedule() {
      clearInterval(timer);
      if (auto.checked) timer = setInterval(refresh, 15000);
    }
    document.querySelectorAll("[data-window]").forEach((button) => {
      if (button === container) return;
      button.addEventListener("click", () => {
        windowSeconds = Number(button.dataset.window);
        document.querySelectorAll(".window-selector button").forEach((b) => {
          b.classList.toggle("active", b === button);
          b.setAttribute("aria-pressed", String(b === button));
        });
        const url = new URL(window.location);
        url.searchParams.set("window", windowSeconds);
        history.replaceState(null, "", url);
        refresh();
      });
    });
    auto.addEventListener("change", schedule);
    refresh();
    schedule();
  }

  return { el, num, ms, pct, drawSeries, badge, kpis, arms, drift, live };
})();
