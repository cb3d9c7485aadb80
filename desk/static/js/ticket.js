// The ticket page: r writes a reply, e resolves, j/k open the next/previous ticket of the inbox
// list this tab came from (its order, kept by inbox.js in sessionStorage), ? shows the keys; a
// canned answer's button inserts its (already filled-in) text into the reply at the cursor, as
// do a suggested article's "insert link" (its public address) and "insert text" (its plain
// text) buttons. A static file: the CSP forbids inline script. #ticket may be swapped by htmx at any time, so everything is delegated.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // joined to the text before by a new line (a link: by a space) unless it ends in one
  function insert(area, text, joiner) {
    var start = area.selectionStart || 0, end = area.selectionEnd || 0, value = area.value;
    var before = value.slice(0, start), after = value.slice(end);
    var glue = before && !/\s$/.test(before) ? (joiner || "\n") : "";
    area.value = before + glue + text + after;
    var at = (before + glue + text).length;
    area.focus();
    area.setSelectionRange(at, at);
  }

  // What the page says of an answer that is not the ticket's part, in the catalogue's words
  // (#page-error's data-*): "expired" (403: the form's CSRF token is not this session's),
  // "gone" (404: the ticket left the officer's view), "failed" (anything else).
  function say(kind) {
    var box = document.getElementById("page-error");
    if (!box) { return; }
    box.textContent = box.getAttribute("data-" + kind) || box.getAttribute("data-failed") || "";
    box.hidden = false;
  }

  function hush() {
    var box = document.getElementById("page-error");
    if (box) { box.hidden = true; box.textContent = ""; }
  }

  // Our own ticket part (X-CSKH-Part) is swapped in whatever its status (a refusal comes
  // back as the part with its reason; a call the PBX refused as a 502 part). Anything else
  // aimed at #ticket is never swapped in (a plain-text 403 or 404, a proxy's error page):
  // the page says what happened instead, and keeps the ticket as it was.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail, xhr = detail.xhr;
    if (xhr && xhr.getResponseHeader("X-CSKH-Part") === "ticket") {
      detail.shouldSwap = true;
      detail.isError = false;
      hush();
    } else if (detail.target && detail.target.id === "ticket") {
      detail.shouldSwap = false;
      detail.isError = false;
      say(xhr && xhr.status === 403 ? "expired" : xhr && xhr.status === 404 ? "gone" : "failed");
    }
  });
  ["htmx:sendError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.detail.target && event.detail.target.id === "ticket") { say("failed"); }
    });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.insert-answer, button.insert-kb");
    var area = document.getElementById("reply-text");
    if (!button || !area) { return; }
    insert(area, button.getAttribute("data-text") || "", button.getAttribute("data-glue"));
    event.preventDefault();
  });

  function neighbour(step) {
    var order;
    try {
      order = JSON.parse(window.sessionStorage.getItem("cskh.inbox.order") || "[]");
    } catch (e) { return null; }
    var found = /^\/inbox\/tickets\/([A-Za-z0-9-]+)$/.exec(window.location.pathname);
    if (!found || !Array.isArray(order)) { return null; }
    var at = order.indexOf(found[1]);
    var next = at < 0 ? null : order[at + step];
    return next && /^[A-Za-z0-9-]+$/.test(next) ? "/inbox/tickets/" + next : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (event.key === "j" || event.key === "k") {
      var target = neighbour(event.key === "j" ? 1 : -1);
      if (target) { window.location.assign(target); event.preventDefault(); }
    } else if (event.key === "r") {
      var area = document.getElementById("reply-text");
      if (area) { area.focus(); event.preventDefault(); }
    } else if (event.key === "e") {
      var resolve = document.querySelector("form.resolve-form");
      if (resolve) { resolve.requestSubmit(); event.preventDefault(); }
    } else if (event.key === "?") {
      var keys = document.getElementById("keys");
      if (keys) { keys.hidden = !keys.hidden; event.preventDefault(); }
    }
  });
}());
