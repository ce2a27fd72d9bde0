// Refresh the live part of a console page every few seconds without a full reload.
// The server answers a request with "X-Klaxon-Partial: 1" with that part only. A refresh
// waits while someone is using a control inside it, so a half-filled form is not lost.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var seconds = Number(live.dataset.refresh) || 5;
  var updated = document.getElementById("updated");
  var busy = false;

  function inUse() {
    var active = document.activeElement;
    return active && live.contains(active) && active.matches("input, select, textarea");
  }

  function stamp(text) {
    if (updated) { updated.textContent = text; }
  }

  function refresh() {
    if (busy || document.hidden || inUse()) { return; }
    busy = true;
    fetch(window.location.href, {
      headers: { "X-Klaxon-Partial": "1" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (response.status === 401) { window.location.reload(); return null; }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (html) {
      if (html === null) { return; }
      live.innerHTML = html;
      stamp("updated " + new Date().toLocaleTimeString());
      live.dispatchEvent(new CustomEvent("klaxon:refreshed", { bubbles: true }));
    }).catch(function (error) {
      stamp("could not refresh (" + error.message + "); retrying");
    }).finally(function () {
      busy = false;
    });
  }

  stamp("updated " + new Date().toLocaleTimeString());
  window.setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { refresh(); }
  });
})();
