// Keyboard first: shortcuts listed on "?", SLA clocks that count down, focus kept after swaps.
(function () {
  "use strict";
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  const focus = (sel) => { const el = document.querySelector(sel); if (el) { el.focus(); return true; } return false; };
  const keys = { "/": "#q", "p": "#pin", "o": "#offer-q", "c": "#complaint-subject" };
  const pages = { "t": "/console/tickets", "w": "/console/wallboard" };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const dialog = document.getElementById("keys");
    if (e.key === "Escape" && dialog && dialog.open) { dialog.close(); return; }
    if (typing(document.activeElement)) return;
    if (e.key === "?" && dialog) { e.preventDefault(); dialog.open ? dialog.close() : dialog.showModal(); return; }
    if (keys[e.key] && focus(keys[e.key])) { e.preventDefault(); return; }
    if (pages[e.key]) { e.preventDefault(); window.location.href = pages[e.key]; }
  });
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-keys]")) document.getElementById("keys").showModal();
  });
  // SLA clocks: data-remaining business seconds at render, data-target the whole budget.
  const t0 = Date.now();
  function tick() {
    document.querySelectorAll(".sla[data-remaining]").forEach((el) => {
      const running = el.dataset.running === "1";
      const left = Number(el.dataset.remaining) - (running ? Math.floor((Date.now() - t0) / 1000) : 0);
      const target = Number(el.dataset.target) || 1;
      const state = left <= 0 ? "bad" : left <= target * 0.25 ? "warn" : "ok";
      const abs = Math.abs(left), h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = abs % 60;
      const clock = (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
      el.className = "sla badge " + state;
      el.querySelector(".word").textContent = el.dataset["word" + state[0].toUpperCase() + state.slice(1)];
      el.querySelector(".clock").textContent = (left < 0 ? "-" : "") + clock;
    });
  }
  setInterval(tick, 1000);
  // The wallboard's longest call wait keeps counting between renders.
  setInterval(() => {
    document.querySelectorAll("[data-wait-seconds]").forEach((el) => {
      if (!el.dataset.seenAt) el.dataset.seenAt = String(Date.now());
      const s = Number(el.dataset.waitSeconds) + Math.floor((Date.now() - Number(el.dataset.seenAt)) / 1000);
      el.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    });
  }, 1000);
  // After an htmx swap, put focus where the next keystroke goes (data-autofocus), or keep it.
  document.addEventListener("htmx:afterSettle", (e) => {
    const elt = e.detail.elt;
    if (!elt.querySelector || elt.closest("[sse-swap]")) return;  // live updates never take focus
    const next = elt.matches("[data-focus-next]") ? elt : elt.querySelector("[data-focus-next]");
    const target = next ? document.querySelector(next.dataset.focusNext) : elt.querySelector("[data-autofocus]");
    // A field that re-rendered its own form (a re-quote) keeps the focus htmx gave back to it.
    const trigger = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (target && !(trigger && /^(INPUT|SELECT|TEXTAREA)$/.test(trigger.tagName))) target.focus();
    const say = elt.querySelector("[data-announce]");
    if (say) document.getElementById("announce").textContent = say.dataset.announce;
  });
  // Toasts go by themselves (the inbox keeps the record); a click on ✕ closes one at once.
  document.addEventListener("htmx:sseMessage", () => {
    document.querySelectorAll("#toasts .toast[data-dismiss-after]").forEach((t) => {
      const after = Number(t.dataset.dismissAfter) * 1000;
      delete t.dataset.dismissAfter;
      setTimeout(() => t.remove(), after);
    });
  });
  document.addEventListener("htmx:sseOpen", (e) => { (e.detail.elt || e.target).dataset.sse = "open"; });
})();
