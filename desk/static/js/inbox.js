// The inbox's keyboard: j/k move the selection, Enter opens it, / searches, ? shows the keys.
// A static file (the CSP forbids inline script); the rows may be swapped in by htmx at any time.
// The rows' order is kept in sessionStorage (this tab only), so j/k on a ticket page open the
// next and previous ticket of the list the officer came from.
(function () {
  "use strict";
  var selected = 0;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.ticket")); }

  function remember(all) {
    try {
      window.sessionStorage.setItem("cskh.inbox.order", JSON.stringify(all.map(function (row) {
        return row.getAttribute("data-number");
      })));
    } catch (e) { /* storage off (private mode, quota): the ticket page's j/k do nothing */ }
  }

  function mark() {
    var all = rows();
    remember(all);
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(selected, all.length - 1));
    all.forEach(function (row, i) {
      row.classList.toggle("selected", i === selected);
      row.setAttribute("aria-selected", i === selected ? "true" : "false");
    });
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var all = rows();
    if (event.key === "j" || event.key === "k") {
      selected += event.key === "j" ? 1 : -1;
      mark();
      if (all[selected]) { all[selected].scrollIntoView({ block: "nearest" }); }
      event.preventDefault();
    } else if (event.key === "Enter" && all[selected]) {
      window.location.assign(all[selected].getAttribute("data-href"));
      event.preventDefault();
    } else if (event.key === "/") {
      var search = document.getElementById("q");
      if (search) { search.focus(); search.select(); event.preventDefault(); }
    } else if (event.key === "?") {
      var keys = document.getElementById("keys");
      if (keys) { keys.hidden = !keys.hidden; event.preventDefault(); }
    }
  });

  document.addEventListener("DOMContentLoaded", mark);
  document.addEventListener("htmx:afterSwap", mark);
}());
