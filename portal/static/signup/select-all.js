// Sign-up staff tables: a "select all on this page" box for forms marked data-select-all.
// An enhancement only: without JavaScript every row's own box still works.
(function () {
  "use strict";
  document.querySelectorAll("form[data-select-all]").forEach(function (form) {
    var boxes = form.querySelectorAll('input[type="checkbox"][name="ids"]');
    if (!boxes.length) {
      return;
    }
    var wrapper = document.createElement("div");
    wrapper.className = "field checkbox";
    var all = document.createElement("input");
    all.type = "checkbox";
    all.id = "select-all-" + Math.random().toString(36).slice(2);
    var label = document.createElement("label");
    label.htmlFor = all.id;
    label.textContent = "Select all on this page";
    wrapper.appendChild(all);
    wrapper.appendChild(label);
    var table = form.querySelector("table");
    (table ? table.parentNode : form).insertBefore(wrapper, table || form.firstChild);
    function sync() {
      var ticked = Array.prototype.filter.call(boxes, function (box) { return box.checked; });
      all.checked = ticked.length === boxes.length;
      all.indeterminate = ticked.length > 0 && ticked.length < boxes.length;
    }
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    boxes.forEach(function (box) { box.addEventListener("change", sync); });
    sync();
  });
})();
