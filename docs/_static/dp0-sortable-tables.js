/* Sortable tables for the DP0 docs: any table with the class "dp0-sortable".
 * Each column heading becomes a button; pressing it sorts the rows by that column
 * (numbers numerically, text alphabetically), pressing again reverses the order.
 * Loaded as a static file: the portal's Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    return cell ? cell.textContent.trim() : "";
  }

  function asNumber(text) {
    var cleaned = text.replace(/[\s,\u2009\u202f]/g, "");
    if (cleaned === "" || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(cleaned)) {
      return null;
    }
    return parseFloat(cleaned);
  }

  function sortBy(table, index, button) {
    var body = table.tBodies[0];
    if (!body) {
      return;
    }
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.every(function (row) {
      return asNumber(cellValue(row, index)) !== null;
    });
    var heading = button.closest("th");
    var ascending = heading.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = cellValue(a, index);
      var y = cellValue(b, index);
      var order = numeric
        ? asNumber(x) - asNumber(y)
        : x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
      return ascending ? order : -order;
    });
    rows.forEach(function (row) {
      body.appendChild(row);
    });
    Array.prototype.forEach.call(table.querySelectorAll("thead th"), function (th) {
      th.removeAttribute("aria-sort");
    });
    heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function makeSortable(table) {
    if (!table.tHead || table.dataset.dp0Sortable === "ready") {
      return;
    }
    table.dataset.dp0Sortable = "ready";
    var headings = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headings, function (th, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "dp0-sort-button";
      while (th.firstChild) {
        button.appendChild(th.firstChild);
      }
      button.setAttribute("title", "Sort by this column");
      th.appendChild(button);
      button.addEventListener("click", function () {
        sortBy(table, index, button);
      });
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.dp0-sortable"), makeSortable);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
