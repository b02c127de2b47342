/* Curation pages: filterable theme lists, and the triage queue's keyboard (j/k, Enter/1–3, t, n, x, u, Esc).
   No framework: htmx does the requests and swaps; this only moves focus and clicks buttons. */
(function () {
  "use strict";

  // A search box that filters the options of the <select> named by data-filter-select.
  function bindFilters(root) {
    root.querySelectorAll("input[data-filter-select]").forEach(function (input) {
      if (input.dataset.bound) return;
      input.dataset.bound = "1";
      var select = document.getElementById(input.dataset.filterSelect);
      if (!select) return;
      var options = Array.prototype.slice.call(select.options);
      input.addEventListener("input", function () {
        var query = input.value.trim().toLowerCase();
        var first = null;
        options.forEach(function (option) {
          var shown = !query || option.text.toLowerCase().indexOf(query) !== -1;
          option.hidden = !shown;
          if (shown && !first && option.value) first = option;
        });
        if (first && !select.multiple) select.value = first.value;
      });
      input.addEventListener("keydown", function (event) {
        if (event.key === "ArrowDown") { select.focus(); event.preventDefault(); }
        if (event.key === "Enter" && !select.multiple) { event.preventDefault(); input.form.requestSubmit(); }
      });
    });
  }

  function autofocus(root) {
    var field = root.querySelector("[data-autofocus]");
    if (field) field.focus();
  }

  var list = null;
  var current = 0;

  function rows() {
    return list ? Array.prototype.slice.call(list.querySelectorAll("[data-triage-row]")) : [];
  }

  function select(index, scroll) {
    var all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) { row.classList.toggle("is-current", i === current); });
    if (scroll !== false) {
      // The keyboard focus moves with the highlight, so a screen reader reads the row.
      all[current].focus({ preventScroll: true });
      all[current].scrollIntoView({ block: "nearest" });
    }
  }

  function nextPending(from) {
    var all = rows();
    for (var i = from + 1; i < all.length; i++) {
      if (all[i].dataset.mode !== "done" && all[i].dataset.mode !== "no_request") return i;
    }
    return from;
  }

  function press(action) {
    var row = rows()[current];
    var button = row && row.querySelector('[data-action="' + action + '"]');
    if (button) button.click();
  }

  function onKey(event) {
    if (event.metaKey || event.ctrlKey || event.altKey) return;
    var inField = event.target.closest && event.target.closest("input, textarea, select");
    if (event.key === "Escape") {
      press("cancel");
      return;
    }
    if (inField) return;
    if (event.key === "Enter" && event.target.closest("button, a, summary")) return;
    switch (event.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "Enter": case "1": press("confirm"); break;
      case "2": case "3": press("guess-" + event.key); break;
      case "t": press("pick"); break;
      case "n": press("new"); break;
      case "x": press("no-request"); break;
      case "u": press("undo"); break;
      default: return;
    }
    event.preventDefault();
  }

  function start() {
    bindFilters(document);
    list = document.querySelector("[data-triage]");
    if (!list) return;
    select(0, false);
    document.addEventListener("keydown", onKey);
    list.addEventListener("click", function (event) {
      var row = event.target.closest("[data-triage-row]");
      if (row) select(rows().indexOf(row), false);
    });
  }

  // htmx:load fires for every piece of content htmx swaps in (a triage row, a card, a form).
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    bindFilters(element);
    if (!list || !element.matches || !element.matches("[data-triage-row]")) {
      autofocus(element);
      return;
    }
    var index = rows().indexOf(element);
    if (index === current) {
      if (element.dataset.mode === "done" || element.dataset.mode === "no_request") select(nextPending(index));
      else select(index);
    }
    autofocus(element);
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
