// keyq dashboard: the only script. It reloads the page every 5 seconds while
// "refresh" is ticked (remembered in localStorage).
"use strict";
(function () {
  var box = document.getElementById("live");
  if (box) {
    var on = false;
    try { on = localStorage.getItem("keyq.live") === "1"; } catch (e) {}
    box.checked = on;
    box.addEventListener("change", function () {
      try { localStorage.setItem("keyq.live", box.checked ? "1" : "0"); } catch (e) {}
      if (box.checked) { location.reload(); }
    });
    if (on) { setTimeout(function () { if (box.checked) { location.reload(); } }, 5000); }
  }
})();
