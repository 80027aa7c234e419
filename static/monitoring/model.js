/* /dashboard/models/<id>/: one model's charts, stats, A/B arms, drift and recent errors. */
"use strict";

(() => {
  const container = document.getElementById("model");
  const { el, num, ms, pct } = HC;

  function statsTable(stats) {
    const rows = [
      ["Total predictions", num(stats.totalPredictions, 0)], ["Successful", num(stats.successfulPredictions, 0)],
      ["Failed", num(stats.failedPredictions, 0)], ["Average latency", ms(stats.averageLatency)],
      ["Median latency", ms(stats.medianLatency)], ["p95 latency", ms(stats.p95Latency)],
      ["p99 latency", ms(stats.p99Latency)], ["Average confidence", stats.averageConfidence == null ? "—" : num(stats.averageConfidence, 2)],
      ["Cache-hit rate", pct(stats.cacheHitRate)], ["Error rate", pct(stats.errorRate)],
      ["Accuracy (feedback)", stats.accuracy == null ? "no feedback yet" : pct(stats.accuracy)],
      ["Last prediction", stats.lastUpdated ? new Date(stats.lastUpdated).toLocaleString() : "—"],
    ];
    document.getElementById("stats-table").replaceChildren(el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v })))));
  }

  function errors(list) {
    const node = document.getElementById("errors");
    if (!list.length) { node.replaceChildren(el("p", { class: "muted", text: "No failed predictions retained for this model." })); return; }
    const head = el("tr", {}, ...["When", "Code", "Message", "Arm", "Version", "Latency"].map((h) => el("th", { text: h })));
    const rows = list.map((e) => el("tr", {},
      el("td", { text: new Date(e.timestamp).toLocaleString() }), el("td", {}, el("code", { text: e.code || "—" })),
      el("td", { text: e.message }), el("td", { text: e.arm || "—" }), el("td", { text: e.version }), el("td", { text: ms(e.latency) })));
    node.replaceChildren(el("table", { class: "table compact", id: "errors-table" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  function render(data, windowSeconds) {
    const model = data.model;
    HC.badge(document.getElementById("badge"), model.health);
    document.getElementById("reason").textContent = model.health.reason || "Error rate and p95 latency within thresholds; inputs match their reference sample.";
    HC.kpis(document.getElementById("kpis"), model.stats, model.series);
    HC.drawSeries(container, model.series, windowSeconds);
    statsTable(model.stats);
    const arms = document.getElementById("arms");
    HC.arms(arms, model.arms);
    if (!model.arms.length) { arms.hidden = false; arms.replaceChildren(el("p", { class: "muted", text: "This model is not the challenger of an A/B test." })); }
    HC.drift(document.getElementById("drift"), model.drift, { heading: false });
    errors(model.recentErrors);
  }

  HC.live(container, render);
})();
