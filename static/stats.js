// The key holders' page: keeps the pasted key in this tab's sessionStorage only (never in a
// URL), and refreshes the live section by posting it again, so the numbers move on their own.
(function () {
  'use strict';
  const STORAGE = 'keyward.stats.key';
  const REFRESH_MS = 5000;

  function stored() {
    try { return window.sessionStorage.getItem(STORAGE); } catch (e) { return null; }
  }
  function store(value) {
    try {
      if (value) window.sessionStorage.setItem(STORAGE, value);
      else window.sessionStorage.removeItem(STORAGE);
    } catch (e) { /* private mode: no refreshes */ }
  }

  function init() {
    const form = document.getElementById('stats-form');
    if (!form) return;
    const input = form.querySelector('input[name="key"]');
    const forget = document.getElementById('stats-forget');
    form.addEventListener('submit', function () { store(input.value.trim()); });
    if (document.querySelector('[data-testid="stats-error"]')) store(null);
    if (forget) {
      forget.hidden = !stored();
      forget.addEventListener('click', function () {
        store(null);
        input.value = '';
        forget.hidden = true;
        const live = document.getElementById('stats-live');
        if (live) live.remove();
      });
    }
    const live = document.getElementById('stats-live');
    if (!live || !window.fetch || !window.DOMParser) return;
    let busy = false;
    async function refresh() {
      const key = stored();
      if (!key || busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch('/stats', {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ key: key }).toString(),
          credentials: 'omit',
          cache: 'no-store'
        });
        if (response.status === 401) { store(null); return; }
        if (!response.ok) return;
        const html = await response.text();
        const fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('stats-live');
        const current = document.getElementById('stats-live');
        if (fresh && current) current.innerHTML = fresh.innerHTML;
      } catch (e) {
        /* offline for a moment: the next tick tries again */
      } finally {
        busy = false;
      }
    }
    window.setInterval(refresh, REFRESH_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
