// serviceflow's HTML report: search and sort the findings tables. No library, no network; every value
// is set with textContent, never parsed as HTML. Works on tables with class "findings" whose
// data-search and data-count name the search box and the counter that belong to them.
"use strict";
(function () {
  function sortKey(row, index) {
    var cell = row.cells[index];
    if (!cell) {
      return "";
    }
    var key = cell.getAttribute("data-sort");
    return key !== null ? key : cell.textContent;
  }

  function comparer(index, numeric, direction) {
    return function (left, right) {
      var a = sortKey(left, index);
      var b = sortKey(right, index);
      var order;
      if (numeric) {
        order = (parseFloat(a) || 0) - (parseFloat(b) || 0);
      } else {
        order = a < b ? -1 : a > b ? 1 : 0;
      }
      return order * direction;
    };
  }

  function setUp(table) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (row) {
      return row.textContent.toLowerCase();
    });
    var search = document.getElementById(table.getAttribute("data-search"));
    var counter = document.getElementById(table.getAttribute("data-count"));

    function filter() {
      var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, index) {
        var match = terms.every(function (term) {
          return texts[index].indexOf(term) >= 0;
        });
        row.hidden = !match;
        if (match) {
          shown += 1;
        }
      });
      counter.textContent = shown + " of " + rows.length + " shown";
      table.setAttribute("data-shown", String(shown));
    }

    if (search && counter) {
      search.addEventListener("input", filter);
      filter();
    }

    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (header, index) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = header.textContent;
      header.textContent = "";
      header.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = header.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (other) {
          other.removeAttribute("aria-sort");
        });
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var numeric = header.getAttribute("data-type") === "number";
        var order = rows.map(function (row, position) {
          return { row: row, text: texts[position] };
        });
        order.sort(function (a, b) {
          return comparer(index, numeric, ascending ? 1 : -1)(a.row, b.row);
        });
        rows = order.map(function (item) {
          return item.row;
        });
        texts = order.map(function (item) {
          return item.text;
        });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (row) {
          fragment.appendChild(row);
        });
        body.appendChild(fragment);
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.findings"), setUp);
  document.documentElement.setAttribute("data-ready", "true");
})();
