// The "ask a question" page: posts the question to the reports API and draws the answer.
// Every value from the answer is written with textContent, never as HTML.
(function () {
  "use strict";
  const root = document.querySelector(".ask");
  const form = document.getElementById("ask-form");
  const input = document.getElementById("ask-question");
  const submit = document.getElementById("ask-submit");
  const errorBox = document.getElementById("ask-error");
  const answerBox = document.getElementById("ask-answer");
  const chartBox = document.getElementById("ask-chart-box");
  const metricBox = document.getElementById("ask-metric");
  const table = document.getElementById("ask-table");
  const COLORS = ["#d9480f", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f59f00", "#0ca678", "#e64980", "#495057"];
  let chart = null;

  function csrfToken() {
    return form.querySelector("input[name=csrfmiddlewaretoken]").value;
  }

  function text(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number") return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
    return String(value);
  }

  function showError(error) {
    errorBox.replaceChildren();
    const message = document.createElement("p");
    message.textContent = error.message || "The question could not be answered.";
    errorBox.append(message);
    if (Array.isArray(error.examples)) {
      const intro = document.createElement("p");
      intro.textContent = "Questions like these can be answered:";
      const list = document.createElement("ul");
      for (const example of error.examples) {
        const item = document.createElement("li");
        item.textContent = example;
        list.append(item);
      }
      errorBox.append(intro, list);
    }
    errorBox.hidden = false;
    answerBox.hidden = true;
  }

  function drawTable(columns, rows) {
    const head = document.createElement("tr");
    for (const column of columns) {
      const th = document.createElement("th");
      th.textContent = column;
      head.append(th);
    }
    table.tHead.replaceChildren(head);
    const body = rows.map((row) => {
      const tr = document.createElement("tr");
      row.forEach((value) => {
        const td = document.createElement("td");
        td.textContent = typeof value === "string" ? label(value).replace("(none)", "") : text(value);
        if (typeof value === "number") td.className = "num";
        tr.append(td);
      });
      return tr;
    });
    table.tBodies[0].replaceChildren(...body);
  }

  function label(value) {
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) {
      return value.slice(0, 16).replace("T", " ").replace(" 00:00", "");
    }
    return value === "" ? "(none)" : text(value);
  }

  function datasets(spec, columns, rows) {
    const x = columns.indexOf(spec.x);
    const labels = [...new Set(rows.map((r) => label(r[x])))];
    if (!spec.series) {
      return {
        labels,
        datasets: spec.y.map((name, i) => ({
          label: name,
          data: rows.map((r) => r[columns.indexOf(name)]),
          backgroundColor: COLORS[i % COLORS.length],
          borderColor: COLORS[i % COLORS.length],
        })),
      };
    }
    // One line per value of the series column (e.g. one per model).
    const s = columns.indexOf(spec.series);
    const y = columns.indexOf(spec.y[0]);
    const series = [...new Set(rows.map((r) => label(r[s])))];
    return {
      labels,
      datasets: series.map((name, i) => ({
        label: name,
        data: labels.map((l) => {
          const row = rows.find((r) => label(r[x]) === l && label(r[s]) === name);
          return row ? row[y] : (spec.missing === undefined ? null : spec.missing);
        }),
        backgroundColor: COLORS[i % COLORS.length],
        borderColor: COLORS[i % COLORS.length],
      })),
    };
  }

  function drawChart(spec, columns, rows) {
    if (chart) { chart.destroy(); chart = null; }
    chartBox.hidden = true;
    metricBox.hidden = true;
    if (spec.type === "metric" && rows.length) {
      const value = rows[0][columns.indexOf(spec.value)];
      metricBox.textContent = text(value) + (spec.unit && value !== null ? " " + spec.unit : "");
      metricBox.hidden = false;
      return;
    }
    if ((spec.type !== "bar" && spec.type !== "line") || !rows.length) return;
    if (typeof window.Chart === "undefined") return; // the table still shows the answer
    chartBox.hidden = false;
    // Axis text in the page's own colour (the dashboard is dark, the standalone page light).
    window.Chart.defaults.color = getComputedStyle(root).color;
    window.Chart.defaults.borderColor = "rgba(127, 127, 127, 0.25)";
    chart = new window.Chart(document.getElementById("ask-chart"), {
      type: spec.type,
      data: datasets(spec, columns, rows),
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, spanGaps: false,
        plugins: { legend: { display: Boolean(spec.series) || spec.y.length > 1 } },
        scales: { y: { beginAtZero: true } },
      },
    });
  }

  async function ask(question) {
    submit.disabled = true;
    root.dataset.state = "asking";
    try {
      const response = await fetch(root.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ question }),
      });
      const body = await response.json();
      if (!response.ok) {
        showError(body.error || {});
        return;
      }
      errorBox.hidden = true;
      document.getElementById("ask-summary").textContent = body.summary;
      document.getElementById("ask-query").textContent = JSON.stringify(body.query, null, 2);
      answerBox.hidden = false;
      drawTable(body.columns, body.rows);
      drawChart(body.chart, body.columns, body.rows);
    } catch (exc) {
      showError({ message: "The service could not be reached: " + exc.message });
    } finally {
      submit.disabled = false;
      root.dataset.state = "answered";
      root.dataset.answers = String(Number(root.dataset.answers || 0) + 1);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) ask(input.value.trim());
  });
  for (const button of document.querySelectorAll(".ask-example")) {
    button.addEventListener("click", () => {
      input.value = button.textContent;
      ask(input.value);
    });
  }
})();
