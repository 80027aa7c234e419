/* /dashboard/: a card per model, fed by /dashboard/data/. */
"use strict";

(() => {
  const container = document.getElementById("cards");
  const template = document.getElementById("card-template");
  const summary = document.getElementById("summary");
  const { el, num, pct } = HC;

  function card(model) {
    let node = container.querySelector(`[data-model="${CSS.escape(model.id)}"]`);
    if (!node) {
      node = template.content.firstElementChild.cloneNode(true);
      node.dataset.model = model.id;
    }
    container.append(node); // (re)placed in the feed's order: models needing attention first
    return node;
  }

  function renderSummary(models) {
    const count = (s) => models.filter((m) => m.health.status === s).length;
    const total = models.reduce((n, m) => n + m.stats.totalPredictions, 0);
    const failed = models.reduce((n, m) => n + m.stats.failedPredictions, 0);
    const tiles = [
      ["Models", num(models.length, 0), ""],
      ["Healthy", num(count("healthy"), 0), "ok"],
      ["Degraded", num(count("degraded"), 0), count("degraded") ? "warn" : ""],
      ["Unhealthy", num(count("unhealthy"), 0), count("unhealthy") ? "bad" : ""],
      ["Predictions", num(total, 0), ""],
      ["Error rate", pct(total ? (100 * failed) / total : 0), failed ? "warn" : ""],
    ];
    summary.replaceChildren(...tiles.map(([k, v, tone]) => el("div", { class: `tile ${tone}` }, el("span", { class: "tile-label", text: k }), el("span", { class: "tile-value", text: v }))));
  }

  function render(data, windowSeconds) {
    renderSummary(data.models);
    const ids = new Set(data.models.map((m) => m.id));
    container.querySelectorAll(".card[data-model]").forEach((n) => { if (!ids.has(n.dataset.model)) n.remove(); });
    for (const model of data.models) {
      const node = card(model);
      const link = node.querySelector(".model-link");
      link.textContent = model.name;
      link.href = `/dashboard/models/${encodeURIComponent(model.id)}/?window=${windowSeconds}`;
      node.querySelector(".model-meta").textContent = `${model.id} · v${model.version} · ${model.type} · ${model.provider}${model.status === "active" ? "" : ` · ${model.status}`}`;
      HC.badge(node.querySelector(".badge"), model.health);
      node.dataset.status = model.health.status;
      node.querySelector(".reason").textContent = model.health.reason || "Error rate and p95 latency within thresholds; inputs match their reference sample.";
      HC.kpis(node.querySelector(".kpis"), model.stats, model.series);
      HC.drawSeries(node, model.series, windowSeconds);
      HC.arms(node.querySelector(".arms"), model.arms);
      HC.drift(node.querySelector(".drift"), model.drift);
    }
  }

  HC.live(container, render);
})();
