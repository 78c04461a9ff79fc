// paywire's pages: a little progressive enhancement. Every page works without JavaScript.
(function () {
  "use strict";

  // Pricing: the period switch is CSS; keep ?interval= in the address so a reload keeps it.
  document.querySelectorAll('input[name="interval-view"]').forEach(function (input) {
    input.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.set("interval", input.value);
      window.history.replaceState(null, "", url);
    });
  });

  // Checkout return: ask the status route instead of reloading the page (the page's
  // <noscript> refresh does that without JavaScript); reload once the state changes.
  var box = document.querySelector("[data-status-url]");
  if (!box) {
    return;
  }
  var shown = box.getAttribute("data-state");
  var every = parseInt(box.getAttribute("data-poll-ms"), 10) || 1500;
  function poll() {
    fetch(box.getAttribute("data-status-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && answer.state !== shown) {
          window.location.replace(box.getAttribute("data-page-url"));
          return;
        }
        window.setTimeout(poll, every);
      })
      .catch(function () { window.setTimeout(poll, every * 2); });
  }
  window.setTimeout(poll, every);
})();
