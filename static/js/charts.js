// Draws the charts a page (or an htmx swap) brings: <div class="plotly-chart" data-figure="{…}">,
// written by insights/charts.py. Plotly itself is loaded before this file.
(function () {
  function draw(root) {
    root.querySelectorAll(".plotly-chart[data-figure]:not([data-drawn])").forEach(function (element) {
      var figure = JSON.parse(element.dataset.figure);
      element.dataset.drawn = "true";
      Plotly.newPlot(element, figure.data, figure.layout, figure.config);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
})();
