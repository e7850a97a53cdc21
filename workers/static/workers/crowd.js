/* hitl-platform crowd worker UI: keyboard shortcuts, the lease countdown and the remembered
 * open/closed state of a project's instructions. Everything works without this file: labels are
 * plain form buttons; this only makes them faster. */
(function () {
  "use strict";

  var timer = null;

  function panel() {
    return document.getElementById("task-panel");
  }

  // A panel htmx has not processed yet would submit as a full page load: wait for htmx:load.
  function busy(p) {
    if (window.htmx && p.dataset.ready !== "1") return true;
    return !!p.querySelector(".htmx-request") || p.classList.contains("htmx-request");
  }

  function fmt(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function expire(p, el) {
    el.classList.remove("low");
    el.classList.add("over");
    p.classList.add("expired");
    p.querySelectorAll(".label-button, .skip-button").forEach(function (b) {
      b.disabled = true;
    });
    var note = p.querySelector(".expired-note");
    if (note) note.hidden = false;
  }

  function startCountdown() {
    if (timer) clearInterval(timer);
    timer = null;
    var p = panel();
    var el = p && p.querySelector(".countdown");
    if (!el) return;
    var value = el.querySelector(".countdown-value");
    var deadline = performance.now() + parseInt(el.dataset.seconds, 10) * 1000;
    function tick() {
      var left = Math.max(0, Math.round((deadline - performance.now()) / 1000));
      value.textContent = fmt(left);
      el.classList.toggle("low", left > 0 && left <= 30);
      if (left === 0) {
        clearInterval(timer);
        timer = null;
        expire(p, el);
      }
    }
    tick();
    timer = setInterval(tick, 1000);
  }

  // 1–9 press the label in that position, S skips. Digits are read from the physical key too,
  // so layouts where digits need Shift (AZERTY) work.
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented || e.repeat || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    var p = panel();
    if (!p || busy(p)) return;
    var digit = /^(?:Digit|Numpad)([1-9])$/.exec(e.code || "");
    var key = digit ? digit[1] : (e.key || "").toLowerCase();
    if (p.classList.contains("expired") && (digit || key === "s")) {
      var next = p.querySelector(".expired-note a");
      if (next) {
        e.preventDefault();
        next.click();
      }
      return;
    }
    var button = p.querySelector('button[data-key="' + key.replace(/["\\]/g, "") + '"]');
    if (!button || button.disabled) return;
    e.preventDefault();
    button.classList.add("pressed");
    button.click();
  });

  function rememberInstructions() {
    var details = document.getElementById("instructions");
    if (!details) return;
    var key = "crowd:instructions:" + details.dataset.project;
    try {
      if (localStorage.getItem(key) === "closed") details.open = false;
      details.addEventListener("toggle", function () {
        localStorage.setItem(key, details.open ? "open" : "closed");
      });
    } catch (err) {
      /* storage disabled: the instructions simply start open */
    }
  }

  function showError(text) {
    var p = panel();
    if (!p) return;
    p.querySelectorAll(".pressed").forEach(function (b) {
      b.classList.remove("pressed");
    });
    var old = p.querySelector(".js-error");
    if (old) old.remove();
    var note = document.createElement("p");
    note.className = "notice notice-error js-error";
    note.setAttribute("role", "alert");
    note.textContent = text; // textContent: never HTML
    p.insertBefore(note, p.firstChild);
  }

  // After htmx swapped in the next panel: restart the countdown, move focus to the new item
  // (screen readers announce it) and bring the panel into view if it scrolled away.
  document.addEventListener("htmx:afterSwap", function () {
    var p = panel();
    if (!p) return;
    startCountdown();
    var title = document.getElementById("panel-title");
    if (title) title.focus({ preventScroll: true });
    if (p.getBoundingClientRect().top < 0) p.scrollIntoView({ block: "start" });
  });
  document.addEventListener("htmx:load", function (e) {
    var p = panel();
    if (p && (e.target === p || e.target.contains(p))) p.dataset.ready = "1";
  });
  document.addEventListener("htmx:responseError", function () {
    showError("Something went wrong on the server. Reload the page to go on.");
  });
  document.addEventListener("htmx:sendError", function () {
    showError("The server cannot be reached. Check your connection, then press the key again.");
  });

  function init() {
    startCountdown();
    rememberInstructions();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
