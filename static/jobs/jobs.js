/* /dashboard/jobs/: every job with its progress, following running ones live. */
"use strict";

(() => {
  const container = document.getElementById("jobs");
  const { el, num } = HC;
  const ACTIVE = new Set(["queued", "running"]);

  function eta(seconds) {
    if (seconds == null) return "—";
    if (seconds < 60) return `${Math.round(seconds)} s`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }

  function row(job) {
    const bar = el("progress", { max: "100", value: String(job.progress), class: "job-progress" });
    const results = job.resultsUrl ? el("a", { href: job.resultsUrl, text: "results.csv" }) : el("span", { class: "muted", text: "—" });
    return el("tr", { "data-job": job.id, "data-status": job.status },
      el("td", {}, el("code", { text: job.id.slice(0, 8) }), el("div", { class: "muted", text: job.fileName || "" })),
      el("td", { text: job.kind === "outcomes" ? "outcomes" : job.modelId }),
      el("td", {}, el("span", { class: `badge badge-job-${job.status}`, text: job.status })),
      el("td", {}, bar, el("span", { class: "job-percent", text: ` ${num(job.progress, 1)}%` })),
      el("td", { text: `${num(job.rowsDone, 0)} / ${num(job.rowsFailed, 0)} / ${num(job.rowsTotal, 0)}` }),
      el("td", { text: job.rowsPerSecond == null ? "—" : num(job.rowsPerSecond, 0) }),
      el("td", { text: ACTIVE.has(job.status) ? eta(job.etaSeconds) : "—" }),
      el("td", { text: new Date(job.createdAt).toLocaleString() }),
      el("td", {}, results));
  }

  function errors(jobs) {
    const rows = jobs.flatMap((job) => job.recentErrors.map((e) => el("tr", {},
      el("td", {}, el("code", { text: job.id.slice(0, 8) })), el("td", { text: String(e.row) }),
      el("td", { text: e.id || "—" }), el("td", {}, el("code", { text: e.code })), el("td", { text: e.message }))));
    const node = document.getElementById("job-errors");
    if (!rows.length) { node.replaceChildren(el("p", { class: "muted", text: "No row errors." })); return; }
    const head = el("tr", {}, ...["Job", "Row", "Id", "Code", "Message"].map((h) => el("th", { text: h })));
    node.replaceChildren(el("table", { class: "table compact" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  async function refresh() {
    const status = document.getElementById("refresh-status");
    let running = false;
    try {
      const response = await fetch(container.dataset.source, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const { jobs } = await response.json();
      container.querySelector("tbody").replaceChildren(...jobs.map(row));
      document.getElementById("jobs-empty").hidden = jobs.length > 0;
      errors(jobs);
      running = jobs.some((job) => ACTIVE.has(job.status));
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (exc) {
      status.textContent = `Could not load jobs (${exc.message})`;
    }
    // Following running jobs closely costs one small request every 2 s; idle, every 5 s.
    setTimeout(refresh, running ? 2000 : 5000);
  }

  refresh();
})();
