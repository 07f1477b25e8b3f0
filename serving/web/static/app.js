// The staff pages' few scripts: draw charts (plotly.js, served by the service), ask before risky actions, refresh
// live figures. Every page works without them, charts aside.
"use strict";

function drawCharts() {
  if (!window.Plotly) return;
  document.querySelectorAll('script[type="application/json"][data-chart]').forEach(function (node) {
    var box = document.getElementById(node.dataset.chart);
    if (!box) return;
    var spec = JSON.parse(node.textContent);
    Plotly.newPlot(box, spec.data, spec.layout, {responsive: true, displaylogo: false});
    box.dataset.drawn = "1";
  });
}

function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

// <element data-refresh-url="/ui/..." data-refresh-seconds="15">: its JSON {name: value} fills [data-live="name"]
function refreshLive() {
  document.querySelectorAll("[data-refresh-url]").forEach(function (box) {
    var every = 1000 * (parseFloat(box.dataset.refreshSeconds) || 15);
    function tick() {
      fetch(box.dataset.refreshUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (values) {
          if (!values) return;
          Object.keys(values).forEach(function (name) {
            box.querySelectorAll('[data-live="' + name + '"]').forEach(function (cell) {
              cell.textContent = values[name];
              if (cell.hasAttribute("data-value")) cell.setAttribute("data-value", values[name]);
            });
          });
          box.dataset.refreshed = new Date().toISOString();
        })
        .catch(function () {});
    }
    setInterval(tick, every);
  });
}

document.addEventListener("DOMContentLoaded", function () { drawCharts(); confirmForms(); refreshLive(); });
