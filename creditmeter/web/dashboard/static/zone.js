// creditmeter usage dashboard: a URL without a time zone gets this browser's own.
// Runs in the head of a page that shows no usage, before anything is drawn, and
// replaces it (no history entry), so no usage is ever shown in a zone not asked for.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    zone = "";
  }
  var url = new URL(window.location.href);
  url.searchParams.set("timeZone", zone || "UTC");
  window.location.replace(url.pathname + url.search + url.hash);
})();
