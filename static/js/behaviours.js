// Small behaviours pages ask for with data attributes, so no page needs an inline script or event
// handler (the Content-Security-Policy forbids them, config/csp.py).
document.addEventListener("click", function (event) {
  // A link to a <details> element (href="#its-id") opens it, e.g. the roadmap board's "New item".
  var link = event.target.closest('a[href^="#"]');
  var target = link && document.getElementById(link.getAttribute("href").slice(1));
  if (target && target.tagName === "DETAILS") target.open = true;
});

document.addEventListener("change", function (event) {
  var field = event.target;
  // <select data-submit-on-change>: submit the form on a change; ="custom": unless to that value.
  var except = field.dataset.submitOnChange;
  if (field.matches("select[data-submit-on-change]") && !(except && field.value === except)) {
    field.form.requestSubmit();
  }
  // <input data-sets="period=custom">: changing a date makes the period a custom one.
  if (field.matches("[data-sets]")) {
    var parts = field.dataset.sets.split("=");
    field.form.elements[parts[0]].value = parts[1];
  }
});
