/* keyward admin dashboard behaviour.
   Plain ES2020, no modules, no build step, CSP-safe (no eval, no inline
   styles in markup). Every feature is enabled only if its elements exist. */
(function () {
  'use strict';

  const LIVE_INTERVAL_MS = 3000;
  const COPY_RESET_MS = 2000;

  /* ------------------------------------------------------------------
     Flash messages: add a dismiss (×) button
     ------------------------------------------------------------------ */
  function initFlashes() {
    document.querySelectorAll('.flash').forEach(function (flash) {
      if (flash.querySelector('.flash-close')) return;
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'flash-close';
      btn.setAttribute('aria-label', 'Dismiss message');
      btn.textContent = '\u00d7';
      btn.addEventListener('click', function () {
        flash.remove();
      });
      flash.appendChild(btn);
    });
  }

  /* ------------------------------------------------------------------
     Key list toolbar: filters apply on Apply or Enter, never on a mere
     change (arrow keys change a closed select's value at once; submitting
     then would reload the page under the user's fingers). After the
     reload, focus goes back to the control that submitted.
     ------------------------------------------------------------------ */
  const FOCUS_AFTER_SUBMIT = 'keyward:toolbar-focus';

  function submitForm(form) {
    if (typeof form.requestSubmit === 'function') {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function initToolbar() {
    const forms = document.querySelectorAll('form.toolbar');
    forms.forEach(function (form) {
      form.addEventListener('keydown', function (event) {
        if (event.key !== 'Enter' || !(event.target instanceof HTMLSelectElement)) return;
        event.preventDefault();
        submitForm(form);
      });
      form.addEventListener('submit', function () {
        const active = document.activeElement;
        if (active && active.id && form.contains(active)) {
          try { window.sessionStorage.setItem(FOCUS_AFTER_SUBMIT, active.id); } catch (e) { /* private mode */ }
        }
      });
    });

    let id = null;
    try {
      id = window.sessionStorage.getItem(FOCUS_AFTER_SUBMIT);
      window.sessionStorage.removeItem(FOCUS_AFTER_SUBMIT);
    } catch (e) {
      return;
    }
    const target = id ? document.getElementById(id) : null;
    if (!target || !target.closest('form.toolbar')) return;
    openFilters();
    target.focus();
  }

  /* ------------------------------------------------------------------
     Phones: the filters fold behind a "Filters" button
     ------------------------------------------------------------------ */
  const PHONE_QUERY = '(max-width: 760px)';
  let openFilters = function () {};

  function initFiltersToggle() {
    const button = document.querySelector('.filters-toggle[aria-controls]');
    const panel = button ? document.getElementById(button.getAttribute('aria-controls')) : null;
    if (!panel || !window.matchMedia) return;
    const phone = window.matchMedia(PHONE_QUERY);

    function setOpen(open) {
      button.setAttribute('aria-expanded', String(open));
      panel.hidden = !open;
    }
    function layout() {
      button.hidden = !phone.matches;
      setOpen(!phone.matches);
    }
    openFilters = function () { setOpen(true); };
    button.addEventListener('click', function () {
      const open = button.getAttribute('aria-expanded') !== 'true';
      setOpen(open);
      if (open) {
        const first = panel.querySelector('input, select, button');
        if (first) first.focus();
      }
    });
    if (typeof phone.addEventListener === 'function') phone.addEventListener('change', layout);
    layout();
  }

  /* ------------------------------------------------------------------
     Refused forms: focus the error summary; its links focus the field
     ------------------------------------------------------------------ */
  function initErrorSummary() {
    const summary = document.getElementById('error-summary');
    if (!summary) return;
    summary.focus();
    summary.addEventListener('click', function (event) {
      const link = event.target instanceof Element ? event.target.closest('a[href^="#"]') : null;
      if (!link) return;
      const target = document.getElementById(link.getAttribute('href').slice(1));
      if (!target) return;
      event.preventDefault();
      const control = target.matches('input, select, textarea, button')
        ? target
        : target.querySelector('input, select, textarea, button');
      const shown = (control || target).closest('.field') || control || target;
      shown.scrollIntoView({ block: 'center' });
      (control || target).focus({ preventScroll: true });
    });
  }

  /* ------------------------------------------------------------------
     Wide tables on narrow screens: scroll sideways, with a visible cue
     (edge shadows and a hint) and a keyboard stop to scroll with
     ------------------------------------------------------------------ */
  // CSV of a table, built here from the page itself (the secrets are never served twice):
  // [data-csv-from="table-id"] downloads as [data-csv-name].
  function csvCell(text) {
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function initCsvButtons() {
    document.querySelectorAll('[data-csv-from]').forEach(function (button) {
      button.addEventListener('click', function () {
        var table = document.getElementById(button.getAttribute('data-csv-from'));
        if (!table) return;
        var lines = [];
        table.querySelectorAll('tr').forEach(function (row) {
          var cells = [];
          row.querySelectorAll('th, td').forEach(function (cell) {
            cells.push(csvCell(cell.textContent.trim()));
          });
          lines.push(cells.join(','));
        });
        var blob = new Blob([lines.join('\n') + '\n'], { type: 'text/csv' });
        var link = document.createElement('a');
        link.href = URL.createObjectURL(blob);
        link.download = button.getAttribute('data-csv-name') || 'table.csv';
        document.body.appendChild(link);
        link.click();
        link.remove();
        window.keywardLastCsv = lines.join('\n');
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
      });
    });
  }

  // "Select all on this page": the header checkbox ticks every row checkbox of its form.
  function initSelectAll() {
    document.querySelectorAll('input[data-select-all]').forEach(function (all) {
      var form = all.getAttribute('data-select-all');
      var boxes = function () {
        return document.querySelectorAll('input[type=checkbox][name=ids][form="' + form + '"]');
      };
      all.addEventListener('change', function () {
        boxes().forEach(function (box) { box.checked = all.checked; });
      });
    });
  }

  function initScrollCues() {
    const wraps = document.querySelectorAll('.table-scroll');
    if (!wraps.length) return;

    function update(wrap) {
      const overflowing = wrap.scrollWidth > wrap.clientWidth + 1;
      wrap.classList.toggle('is-scrollable', overflowing);
      let hint = wrap.previousElementSibling;
      if (!hint || !hint.classList.contains('scroll-hint')) {
        hint = document.createElement('p');
        hint.className = 'scroll-hint';
        hint.textContent = 'Scroll sideways for every column \u2192';
        wrap.parentNode.insertBefore(hint, wrap);
      }
      hint.hidden = !overflowing;
      if (overflowing) {
        const caption = wrap.querySelector('caption');
        wrap.setAttribute('tabindex', '0');
        wrap.setAttribute('role', 'region');
        wrap.setAttribute('aria-label', caption ? caption.textContent.trim() : 'Table');
      } else {
        wrap.removeAttribute('tabindex');
        wrap.removeAttribute('role');
        wrap.removeAttribute('aria-label');
      }
    }

    let pending = 0;
    window.addEventListener('resize', function () {
      window.cancelAnimationFrame(pending);
      pending = window.requestAnimationFrame(function () { wraps.forEach(update); });
    });
    wraps.forEach(update);
  }

  /* ------------------------------------------------------------------
     Countdowns: .countdown[data-seconds]
     ------------------------------------------------------------------ */
  function pad2(n) {
    return String(n).padStart(2, '0');
  }

  function formatDuration(total) {
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h > 0 ? h + ':' + pad2(m) + ':' + pad2(s) : m + ':' + pad2(s);
  }

  function parseSeconds(el) {
    const raw = el.getAttribute('data-seconds');
    if (raw === null || raw.trim() === '') return null;
    const n = Math.floor(Number(raw));
    return Number.isFinite(n) ? n : null;
  }

  function renderCountdown(el) {
    const secs = parseSeconds(el);
    const text = secs !== null && secs > 0 ? formatDuration(secs) : '\u2014';
    if (el.textContent !== text) el.textContent = text;
  }

  function tickCountdowns() {
    document.querySelectorAll('.countdown[data-seconds]').forEach(function (el) {
      const secs = parseSeconds(el);
      if (secs !== null && secs > 0) {
        el.setAttribute('data-seconds', String(secs - 1));
      }
      renderCountdown(el);
    });
  }

  function initCountdowns() {
    const all = document.querySelectorAll('.countdown[data-seconds]');
    if (!all.length) return;
    all.forEach(renderCountdown);
    window.setInterval(tickCountdowns, 1000);
  }

  /* ------------------------------------------------------------------
     Live key stats: poll /keys/live for rows of table.keys-table
     ------------------------------------------------------------------ */
  function setText(row, field, value) {
    if (value === undefined) return;
    const el = row.querySelector('[data-field="' + field + '"]');
    if (!el) return;
    const text = value === null ? '\u2014' : String(value);
    if (el.textContent !== text) el.textContent = text;
  }

  /* The bars of one key's budgets (week, month, all time, window): the share, the spent
     amount and the amber/red level, matched by label. They may sit outside the key's row
     (the key page puts them on a row of their own), so they are found by key id. */
  function applyBudgets(table, keyId, budgets) {
    if (!Array.isArray(budgets)) return;
    table.querySelectorAll('[data-budget-key]').forEach(function (el) {
      if (el.getAttribute('data-budget-key') !== keyId) return;
      const data = budgets.find(function (b) { return b && b.label === el.getAttribute('data-budget'); });
      if (!data) return;
      ['ok', 'warn', 'full'].forEach(function (level) {
        el.classList.toggle('budget-' + level, data.level === level);
      });
      const spent = el.querySelector('[data-part="spent"]');
      if (spent && spent.textContent !== data.spent) spent.textContent = data.spent;
      const text = el.querySelector('[data-part="text"]');
      if (text && text.textContent !== data.text) text.textContent = data.text;
      const bar = el.querySelector('progress');
      let ratio = Number(data.ratio);
      if (bar && Number.isFinite(ratio)) bar.value = Math.min(1, Math.max(0, ratio));
    });
  }

  function applyLive(table, keys) {
    table.querySelectorAll('tr[data-key-id]').forEach(function (row) {
      const data = keys[row.getAttribute('data-key-id')];
      if (!data || typeof data !== 'object') return;

      setText(row, 'currentConcurrency', data.currentConcurrency);
      setText(row, 'currentWindowRequests', data.currentWindowRequests);
      setText(row, 'currentWindowTokens', data.currentWindowTokens);
      setText(row, 'dailyCost', data.dailyCost);
      setText(row, 'dailyCostPercent', data.dailyCostPercent);
      setText(row, 'totalCost', data.totalCost);
      const limited = row.querySelector('[data-field="limitedBy"]');
      if (limited && data.limitedBy !== undefined && limited.textContent !== data.limitedBy) {
        limited.textContent = data.limitedBy;
      }

      setText(row, 'monthlyCost', data.monthlyCost);
      applyBudgets(table, row.getAttribute('data-key-id'), data.budgets);

      const bar = row.querySelector('progress[data-field="dailyCostRatio"]');
      if (bar && data.dailyCostRatio !== undefined) {
        let ratio = Number(data.dailyCostRatio);
        if (!Number.isFinite(ratio)) ratio = 0;
        bar.value = Math.min(1, Math.max(0, ratio));
      }

      const countdown = row.querySelector('[data-field="windowRemainingSeconds"]');
      if (countdown && data.windowRemainingSeconds !== undefined) {
        const secs = Number(data.windowRemainingSeconds);
        const value = data.windowRemainingSeconds === null || !Number.isFinite(secs)
          ? ''
          : String(Math.max(0, Math.floor(secs)));
        countdown.setAttribute('data-seconds', value);
        renderCountdown(countdown);
      }
    });
  }

  function isLoginRedirect(response) {
    if (!response.redirected || !response.url) return false;
    try {
      return new URL(response.url, window.location.href).pathname.endsWith('/login');
    } catch (e) {
      return false;
    }
  }

  function initLiveUpdates() {
    const table = document.querySelector('table.keys-table');
    if (!table || !window.fetch) return;
    const ids = Array.from(table.querySelectorAll('tr[data-key-id]'))
      .map(function (row) { return row.getAttribute('data-key-id'); })
      .filter(Boolean);
    if (!ids.length) return;

    const url = '/keys/live?ids=' + ids.map(encodeURIComponent).join(',');
    let inFlight = false;

    async function poll() {
      if (document.hidden || inFlight) return;
      inFlight = true;
      try {
        const response = await fetch(url, {
          headers: { 'Accept': 'application/json' },
          credentials: 'same-origin',
          cache: 'no-store'
        });
        if (isLoginRedirect(response) || response.status === 401) {
          window.location.reload();
          return;
        }
        if (!response.ok) throw new Error('HTTP ' + response.status);
        const body = await response.json();
        applyLive(table, (body && body.keys) || {});
        table.classList.remove('stale');
      } catch (err) {
        table.classList.add('stale');
      } finally {
        inFlight = false;
      }
    }

    window.setInterval(poll, LIVE_INTERVAL_MS);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) poll();
    });
  }

  /* ------------------------------------------------------------------
     Key form: show [data-show-when-preset] only for the matching preset
     ------------------------------------------------------------------ */
  function initExpiryPreset() {
    const blocks = document.querySelectorAll('[data-show-when-preset]');
    if (!blocks.length) return;
    const select = document.getElementById('expiryPreset') ||
      document.querySelector('select[name="expiryPreset"]');
    if (!select) return;

    function update() {
      blocks.forEach(function (block) {
        const wanted = (block.getAttribute('data-show-when-preset') || '').split(/\s+/);
        block.hidden = !wanted.includes(select.value);
      });
    }
    select.addEventListener('change', update);
    update();
  }

  /* ------------------------------------------------------------------
     Copy buttons: [data-copy-target="element-id"]
     ------------------------------------------------------------------ */
  function selectContents(el) {
    const selection = window.getSelection();
    if (!selection) return;
    const range = document.createRange();
    range.selectNodeContents(el);
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function legacyCopy(el) {
    selectContents(el);
    try {
      return document.execCommand('copy');
    } catch (e) {
      return false;
    }
  }

  async function copyFrom(el) {
    const text = (el.textContent || '').trim();
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        /* fall through to the legacy path */
      }
    }
    return legacyCopy(el);
  }

  function initCopyButtons() {
    if (!document.querySelector('[data-copy-target]')) return;
    const originals = new WeakMap();
    const timers = new WeakMap();

    document.addEventListener('click', async function (event) {
      const button = event.target instanceof Element ? event.target.closest('[data-copy-target]') : null;
      if (!button) return;
      const target = document.getElementById(button.getAttribute('data-copy-target'));
      if (!target) return;
      event.preventDefault();

      if (!originals.has(button)) originals.set(button, button.textContent);
      const ok = await copyFrom(target);
      button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
      if (!ok) selectContents(target);

      window.clearTimeout(timers.get(button));
      timers.set(button, window.setTimeout(function () {
        button.textContent = originals.get(button);
      }, COPY_RESET_MS));
    });
  }

  /* ------------------------------------------------------------------
     Charts: canvas.chart[data-chart] rendered with Chart.js
     ------------------------------------------------------------------ */
  // A model's colour comes from its name, not its place in the list, so one model has one colour
  // on every page and chart. Two names that hash to the same colour in one chart: the one first
  // by name keeps it, the other takes the next free one (so the same set of models always gets
  // the same colours).
  function nameHash(name) {
    let hash = 2166136261;
    for (let i = 0; i < name.length; i++) {
      hash ^= name.charCodeAt(i);
      hash = Math.imul(hash, 16777619) >>> 0;
    }
    return hash;
  }

  function coloursByName(names) {
    const taken = new Set();
    const byName = {};
    names.slice().sort().forEach(function (name) {
      let slot = nameHash(name) % PALETTE.length;
      for (let tries = 0; tries < PALETTE.length && taken.has(slot); tries++) {
        slot = (slot + 1) % PALETTE.length;
      }
      taken.add(slot);
      byName[name] = PALETTE[slot];
    });
    return names.map(function (name) { return byName[name]; });
  }

  const PALETTE = [
    '#4f46e5', // indigo
    '#0d9488', // teal
    '#f59e0b', // amber
    '#e11d48', // rose
    '#0284c7', // sky
    '#7c3aed', // violet
    '#65a30d', // lime
    '#ea580c', // orange
    '#db2777', // pink
    '#64748b'  // slate
  ];

  /* The same rules as the server's formatters (src/web/dashboard/format.rs),
     so a figure reads the same in a chart as in the table under it. */
  const usdCents = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const generic = new Intl.NumberFormat('en-US', { maximumFractionDigits: 4 });

  // To the cent from $1 up; four significant digits below ($0.0372, $0.50).
  function formatUsd(value) {
    const v = Number(value) || 0;
    const abs = Math.abs(v);
    const sign = v < 0 ? '-' : '';
    if (abs === 0) return '$0.00';
    if (abs < 1) {
      const rounded = Number(abs.toPrecision(4));
      if (rounded < 1) {
        let fraction = rounded.toFixed(9).split('.')[1].replace(/0+$/, '');
        while (fraction.length < 2) fraction += '0';
        return sign + '$0.' + fraction;
      }
    }
    return sign + '$' + usdCents.format(abs);
  }

  // Exact with separators up to 9,999, then one decimal of k, M or B (387.4k).
  function formatTokens(value) {
    const n = Math.round(Math.abs(Number(value) || 0));
    if (n < 10000) return integer.format(n);
    const units = [[1e3, 'k'], [1e6, 'M'], [1e9, 'B']];
    for (let i = 0; i < units.length; i++) {
      const tenths = Math.floor((n + units[i][0] / 20) / (units[i][0] / 10));
      if (tenths < 10000 || i === units.length - 1) {
        return (tenths / 10).toFixed(1) + units[i][1];
      }
    }
    return integer.format(n);
  }

  function formatValue(unit, value) {
    const v = Number(value) || 0;
    if (unit === 'USD') return formatUsd(v);
    if (unit === 'tokens') return formatTokens(v);
    return generic.format(v);
  }

  function formatTick(unit, value) {
    const v = Number(value) || 0;
    // Axis steps are round: "800k", not "800.0k".
    if (unit === 'USD' && Math.abs(v) >= 1000) return '$' + formatTokens(v).replace('.0', '');
    if (unit === 'tokens') return formatTokens(v).replace('.0', '');
    return formatValue(unit, v);
  }

  const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

  // Day labels are YYYY-MM-DD; the axis drops the year unless the range crosses one.
  function dateTick(label, crossesYear) {
    const s = String(label);
    return ISO_DATE.test(s) && !crossesYear ? s.slice(5) : s;
  }

  function rangeCrossesYear(labels) {
    const years = labels.map(String).filter(function (l) { return ISO_DATE.test(l); })
      .map(function (l) { return l.slice(0, 4); });
    return years.length > 1 && years[0] !== years[years.length - 1];
  }

  // Chart colours follow the page's (light or dark) theme.
  function themeColour(name, fallback) {
    const value = window.getComputedStyle(document.documentElement).getPropertyValue(name);
    return value && value.trim() ? value.trim() : fallback;
  }

  function showEmptyChart(canvas) {
    canvas.hidden = true;
    const box = canvas.parentElement;
    if (box && !box.querySelector('.empty-chart')) {
      const p = document.createElement('p');
      p.className = 'empty-chart';
      p.textContent = 'No usage in this period.';
      box.appendChild(p);
    }
  }

  const NARROW_CHART_PX = 480;

  // Tighter legend and no y axis title when the chart is phone-sized.
  function adaptToWidth(chart, size) {
    const narrow = size.width < NARROW_CHART_PX;
    const labels = chart.options.plugins.legend.labels;
    const title = chart.options.scales.y.title;
    const wantTitle = Boolean(title.text) && !narrow;
    if (labels.padding === (narrow ? 8 : 12) && title.display === wantTitle) return;
    labels.boxWidth = labels.boxHeight = narrow ? 8 : 10;
    labels.padding = narrow ? 8 : 12;
    labels.font = { size: narrow ? 11 : 12 };
    title.display = wantTitle;
    chart.update('none');
  }

  function createChart(canvas) {
    let spec;
    try {
      spec = JSON.parse(canvas.dataset.chart || '{}');
    } catch (e) {
      return;
    }
    const datasets = Array.isArray(spec.datasets) ? spec.datasets : [];
    if (!datasets.length) {
      showEmptyChart(canvas);
      return;
    }

    const unit = spec.unit || '';
    const stacked = spec.stacked !== false;
    const type = spec.type || 'bar';
    const text = themeColour('--text', '#1c2230');
    const muted = themeColour('--text-muted', '#596273');
    const grid = themeColour('--border', '#e9ecf1');
    const labels = Array.isArray(spec.labels) ? spec.labels : [];
    const crossesYear = rangeCrossesYear(labels);

    const colours = coloursByName(datasets.map(function (ds) { return String(ds.label == null ? '' : ds.label); }));
    const chartDatasets = datasets.map(function (ds, i) {
      const colour = colours[i];
      return {
        label: String(ds.label == null ? '' : ds.label),
        data: Array.isArray(ds.data) ? ds.data.map(function (v) { return Number(v) || 0; }) : [],
        backgroundColor: colour,
        borderColor: colour,
        hoverBackgroundColor: colour,
        hoverBorderColor: colour,
        borderWidth: type === 'line' ? 2 : 0,
        maxBarThickness: 44,
        fill: false
      };
    });

    function totalAt(chart, index) {
      return chart.data.datasets.reduce(function (sum, ds, i) {
        return chart.isDatasetVisible(i) ? sum + (Number(ds.data[index]) || 0) : sum;
      }, 0);
    }

    const box = canvas.parentElement;
    const narrow = Boolean(box && box.clientWidth > 0 && box.clientWidth < NARROW_CHART_PX);

    // eslint-disable-next-line no-new
    new window.Chart(canvas, {
      type: type,
      data: {
        labels: labels,
        datasets: chartDatasets
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        onResize: adaptToWidth,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: {
            position: 'bottom',
            labels: {
              boxWidth: narrow ? 8 : 10,
              boxHeight: narrow ? 8 : 10,
              padding: narrow ? 8 : 12,
              color: text,
              font: { size: narrow ? 11 : 12 }
            }
          },
          tooltip: {
            mode: 'index',
            intersect: false,
            backgroundColor: themeColour('--tooltip-bg', 'rgba(28, 34, 48, 0.94)'),
            padding: 10,
            boxPadding: 4,
            footerMarginTop: 8,
            filter: function (item) { return Number(item.raw) !== 0; },
            callbacks: {
              label: function (ctx) {
                return ' ' + ctx.dataset.label + ': ' + formatValue(unit, ctx.raw);
              },
              footer: function (items) {
                if (!items.length) return '';
                return 'Total: ' + formatValue(unit, totalAt(items[0].chart, items[0].dataIndex));
              }
            }
          }
        },
        scales: {
          x: {
            stacked: stacked,
            grid: { display: false },
            border: { color: grid },
            ticks: {
              color: muted,
              maxRotation: 0,
              autoSkipPadding: 8,
              callback: function (value) {
                return dateTick(this.getLabelForValue(value), crossesYear);
              }
            }
          },
          y: {
            stacked: stacked,
            beginAtZero: true,
            grid: { color: grid },
            border: { display: false },
            title: { display: Boolean(unit) && !narrow, text: unit, color: muted },
            ticks: {
              color: muted,
              maxTicksLimit: 6,
              precision: unit === 'tokens' ? 0 : undefined,
              callback: function (value) { return formatTick(unit, value); }
            }
          }
        }
      }
    });
  }

  // Draws every chart canvas not drawn yet (also callable again, see window.keyward).
  function initCharts() {
    const canvases = document.querySelectorAll('canvas.chart[data-chart]');
    if (!canvases.length || !window.Chart) return;
    window.Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    window.Chart.defaults.color = themeColour('--text-muted', '#596273');
    canvases.forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) return;
      try {
        createChart(canvas);
      } catch (err) {
        if (window.console) window.console.error('keyward: chart failed', err);
      }
    });
  }

  /* ------------------------------------------------------------------
     Boot
     ------------------------------------------------------------------ */
  function init() {
    initFlashes();
    initFiltersToggle();
    initToolbar();
    initErrorSummary();
    initCountdowns();
    initLiveUpdates();
    initExpiryPreset();
    initCopyButtons();
    initCharts();
    initScrollCues();
    initSelectAll();
    initCsvButtons();
  }

  // For the browser tests and the console: redraw charts added after load.
  window.keyward = Object.freeze({ drawCharts: initCharts, coloursByName: coloursByName });

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
