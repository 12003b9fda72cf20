// Refresh the live part of the overview without reloading the page.
(function () {
  const box = document.getElementById("live");
  if (!box) return;
  const every = 1000 * parseFloat(box.dataset.refresh || "3");
  async function refresh() {
    const open = [...box.querySelectorAll("details[open] summary b")].map((b) => b.textContent);
    try {
      const resp = await fetch("/partials/live", { credentials: "same-origin" });
      if (resp.ok) {
        box.innerHTML = await resp.text();
        box.querySelectorAll("details summary b").forEach((b) => {
          if (open.includes(b.textContent)) b.closest("details").open = true;
        });
      }
    } finally {
      setTimeout(refresh, every);
    }
  }
  setTimeout(refresh, every);
})();
