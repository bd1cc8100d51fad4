// Progressive enhancement: the table is rendered by the server; this refreshes its cells.
(function () {
  const table = document.getElementById("providers");
  if (!table || !window.fetch) return;
  const text = (v) => (v === null || v === undefined ? "" : String(v));
  async function refresh() {
    try {
      const r = await fetch(table.dataset.source, { credentials: "same-origin" });
      if (!r.ok) return;
      const body = await r.json();
      for (const p of body.providers) {
        const row = table.querySelector(`tr[data-provider="${CSS.escape(p.name)}"]`);
        if (!row) continue;
        row.querySelector(".f-status").textContent = p.status + " " + p.reasons.join(", ");
        const circuit = row.querySelector(".f-circuit");
        circuit.textContent = p.circuit;
        circuit.className = "f-circuit circuit-" + p.circuit;
        row.querySelector(".f-gate").textContent = p.retry_after_until || "open";
        row.querySelector(".f-limiter").textContent = JSON.stringify(p.limiter);
        row.querySelector(".f-token").textContent = p.token_expires_at || "—";
        row.querySelector(".f-queue").textContent = p.queue
          ? `${p.queue.depth} (oldest ${p.queue.oldest_age_s} s)` : "?";
        row.querySelector(".f-error").textContent = text(p.last_error) + " " + text(p.last_error_at);
      }
    } catch (e) { /* keep the last values */ }
  }
  setInterval(refresh, 5000);
})();
