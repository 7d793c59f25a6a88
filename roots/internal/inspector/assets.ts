/**
 * @internal The inspector's page: one HTML shell, one script, one stylesheet and an icon, shipped inside
 * the package as strings (compiled with the rest of the TypeScript, so the built package and the packed
 * tarball hold them with no build step of their own and no file to locate at run time).
 *
 * The script is plain ES2020 for any current browser. Its rules, which keep hostile run data inert:
 * data reaches the page only through `textContent`, `createTextNode` and `setAttribute` of fixed,
 * non-event attributes (`data-*`, `title`, `class` from a fixed vocabulary, `href` built as
 * `/runs/` + `encodeURIComponent(id)`); never `innerHTML`, `insertAdjacentHTML`, `document.write`,
 * `eval` or a string handed to a timer. The Content-Security-Policy (server.ts) forbids inline script and
 * style besides, so a mistake here would be blocked and reported in the console, not executed.
 *
 * The script is written without template literals (it sits inside one), and test/roots/inspector.test.ts
 * checks that it parses and that it uses none of the forbidden sinks.
 */

/** @internal The page shell, for `/` and `/runs/<id>`. */
export const INSPECTOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cano-rx inspector</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/inspector.css">
<script src="/assets/inspector.js" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/">cano-rx inspector</a>
  <span id="conn" class="conn">connecting…</span>
  <form id="token-form" class="token-form" autocomplete="off">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" placeholder="paste to enable cancel / resume" spellcheck="false" autocomplete="off">
    <button type="submit">Save</button>
    <span id="token-state" class="muted"></span>
  </form>
</header>
<main id="main"><noscript>The inspector needs JavaScript.</noscript></main>
</body>
</html>
`

/** @internal The icon (also answered for `/favicon.ico`, so the browser logs no 404). */
export const INSPECTOR_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1f6feb"/><path d="M4 8h8M9 5l3 3-3 3" stroke="#fff" stroke-width="1.6" fill="none"/></svg>
`

/** @internal The stylesheet. */
export const INSPECTOR_CSS = String.raw`
:root { --fg: #1d2330; --muted: #667085; --line: #d8dde6; --bg: #f6f7f9; --accent: #1f6feb; --current: #ffcf4a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.top { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #161b26; color: #e8ecf3; flex-wrap: wrap; }
.brand { color: #fff; font-weight: 600; font-size: 16px; }
.conn { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #3a4152; }
.conn.live { background: #1a7f37; }
.conn.down { background: #b42318; }
.token-form { margin-left: auto; display: flex; align-items: center; gap: 6px; font-size: 12px; }
.token-form input { width: 16em; padding: 3px 6px; border-radius: 4px; border: 1px solid #3a4152; background: #0f131b; color: #e8ecf3; }
.token-form .muted { color: #aab3c5; }
main { padding: 16px 20px 40px; max-width: 1400px; }
h2 { margin: 4px 0 10px; font-size: 18px; }
h3 { margin: 18px 0 8px; font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.muted { color: var(--muted); }
.error { color: #b42318; white-space: pre-wrap; overflow-wrap: anywhere; }
.unreadable, .unreadable bdi { white-space: normal; }
.unreadable ul { margin: 0.2em 0 0.6em; padding-left: 1.4em; }
.filters { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin-bottom: 10px; }
.filters label { display: inline-flex; align-items: center; gap: 4px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
td.clip { max-width: 32ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
td.details { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; max-width: 70ch; overflow-wrap: anywhere; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; background: #e4e7ec; }
.status-running { background: #dbeafe; color: #1d4ed8; }
.status-pending, .status-parked { background: #f2f4f7; color: #475467; }
.status-completed { background: #dcfae6; color: #067647; }
.status-failed, .status-timedOut { background: #fee4e2; color: #b42318; }
.status-cancelled { background: #fef0c7; color: #93370d; }
.run-id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
.run-head { display: flex; flex-wrap: wrap; align-items: center; gap: 10px 16px; }
.run-head h2 { flex-basis: 100%; }
.actions { margin-left: auto; display: flex; gap: 8px; }
button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid var(--line); background: #fff; cursor: pointer; }
button:disabled { opacity: .45; cursor: default; }
button.danger:not(:disabled) { border-color: #f04438; color: #b42318; }
button.primary:not(:disabled) { border-color: var(--accent); color: var(--accent); }
.grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; }
@media (max-width: 1000px) { .grid { grid-template-columns: 1fr; } }
.diagram-wrap { overflow: auto; }
svg.diagram { display: block; font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
svg.diagram .node rect { fill: #fff; stroke: #98a2b3; stroke-width: 1.2; }
svg.diagram .node.kind-Exit rect { stroke: #344054; stroke-width: 2.5; }
svg.diagram .node.initial rect { stroke: var(--accent); }
svg.diagram .node.visited rect { fill: #eef4ff; }
svg.diagram .node.current rect { fill: var(--current); stroke: #b54708; stroke-width: 3; }
svg.diagram .node text { fill: var(--fg); }
svg.diagram .edge { fill: none; stroke: #98a2b3; stroke-width: 1.3; }
svg.diagram .edge.undeclared { stroke-dasharray: 4 3; }
svg.diagram .arrow-head { fill: #98a2b3; }
dl.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 14px; margin: 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; overflow-wrap: anywhere; }
pre.json { margin: 0; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 16em; overflow: auto; background: #f9fafb; padding: 6px 8px; border-radius: 4px; }
.bar { display: grid; grid-template-columns: 9em minmax(0, 1fr) minmax(0, max-content); align-items: center; gap: 8px; margin: 6px 0; }
.bar progress { width: 100%; height: 14px; }
.bar .bar-text { font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.timeline-wrap { max-height: 520px; overflow: auto; border: 1px solid var(--line); border-radius: 8px; }
`

/** @internal The page script. */
/** @internal Runs the list shows: what `GET /api/runs` answers without a `limit`, and the most the page keeps. */
export const LIST_LIMIT = 200

export const INSPECTOR_JS = String.raw`(function () {
  'use strict';
  var TOKEN_KEY = 'cano-rx-inspector-token';
  var STATUSES = ['pending', 'running', 'parked', 'completed', 'failed', 'cancelled', 'timedOut'];
  var TERMINAL_EVENTS = ['RunCompleted', 'RunFailed', 'RunCancelled', 'RunTimedOut'];
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var MAX_TIMELINE_ROWS = 2000;
  var MAX_EARLY = 1000;

  // ---------------------------------------------------------------- DOM helpers (text only)

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      node.setAttribute(k, v === true ? '' : String(v));
    });
  }
  function append(node, children) {
    if (children === undefined || children === null) return;
    (Array.isArray(children) ? children : [children]).forEach(function (c) {
      if (c === undefined || c === null || c === false) return;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function sv(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function isStatus(s) {
    return STATUSES.indexOf(s) >= 0;
  }
  function statusBadge(s) {
    var known = isStatus(s) ? s : 'unknown';
    return el('span', { class: 'status status-' + known, 'data-status': known }, known);
  }
  function fmtTime(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '';
    var d = new Date(ms);
    var pad = function (n, w) { return String(n).padStart(w, '0'); };
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }
  function fmtDate(ms) {
    if (typeof ms !== 'number' || !isFinite(ms)) return '';
    return new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC');
  }
  function fmtJSON(v, max) {
    var s;
    try { s = JSON.stringify(v); } catch (e) { s = String(v); }
    if (s === undefined) s = '';
    return s.length > max ? s.slice(0, max) + '…' : s;
  }
  function pretty(v) {
    var s;
    try { s = JSON.stringify(v, null, 2); } catch (e) { s = String(v); }
    return el('pre', { class: 'json' }, s === undefined ? '' : s);
  }
  function setConn(text, cls) {
    var c = document.getElementById('conn');
    if (!c) return;
    c.textContent = text;
    c.className = 'conn ' + cls;
  }
  function showError(where, e) {
    clear(where);
    append(where, el('p', { class: 'error' }, e && e.message ? e.message : String(e)));
  }

  // ---------------------------------------------------------------- token and API

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }
  function setupToken() {
    var form = document.getElementById('token-form');
    var input = document.getElementById('token');
    var state = document.getElementById('token-state');
    if (!form || !input || !state) return;
    state.textContent = token() ? 'token set' : 'no token';
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      try { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); } catch (e) { /* storage off: nothing kept */ }
      input.value = '';
      state.textContent = token() ? 'token set' : 'no token';
    });
  }
  function answer(r) {
    return r.text().then(function (text) {
      var body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      if (!r.ok) throw new Error(body && typeof body.error === 'string' ? body.error : 'HTTP ' + r.status);
      return body;
    });
  }
  function getJSON(url) {
    return fetch(url, { headers: { Accept: 'application/json' }, credentials: 'omit' }).then(answer);
  }
  function post(url) {
    var t = token();
    if (!t) return Promise.reject(new Error('Paste the inspector token in the Token field first (it is printed when the inspector starts).'));
    return fetch(url, { method: 'POST', headers: { Authorization: 'Bearer ' + t }, credentials: 'omit' }).then(answer);
  }
  function runHref(id) {
    // a browser resolves the path segments '.' and '..' (even encoded): those ids go in the query
    if (id === '.' || id === '..') return '/run?id=' + encodeURIComponent(id);
    return '/runs/' + encodeURIComponent(id);
  }

  // ---------------------------------------------------------------- runs list

  function listPage(main) {
    var params = new URLSearchParams(location.search);
    var statusFilter = params.getAll('status').filter(isStatus);
    var workflowFilter = params.get('workflow') || '';
    var rows = new Map();
    // the list holds at most the runs /api/runs answers by default: the feed adds new runs on top and the
    // oldest rows go, so a busy runtime (thousands of runs a second) does not grow the page without bound
    var MAX_ROWS = ${String(LIST_LIMIT)};
    var capped = false;
    var knownWorkflows = [];
    var tbody = el('tbody', { id: 'runs-body' });
    var count = el('span', { id: 'run-count', class: 'muted' });
    var message = el('div', { id: 'list-message' });
    var wfSelect = el('select', { id: 'filter-workflow', 'aria-label': 'workflow' }, el('option', { value: '' }, 'all workflows'));
    var boxes = STATUSES.map(function (s) {
      var box = el('input', { type: 'checkbox', value: s, 'data-status-filter': s });
      box.checked = statusFilter.indexOf(s) >= 0;
      box.addEventListener('change', applyFilters);
      return { status: s, box: box, label: el('label', null, [box, s]) };
    });
    wfSelect.addEventListener('change', applyFilters);
    clear(main);
    append(main, [
      el('h2', null, 'Runs'),
      el('div', { class: 'filters' }, [el('span', { class: 'muted' }, 'Status:')].concat(boxes.map(function (b) { return b.label; }), [wfSelect, count])),
      message,
      el('table', { id: 'runs' }, [
        el('thead', null, el('tr', null, ['Run', 'Workflow', 'Status', 'State', 'Updated'].map(function (h) { return el('th', null, h); }))),
        tbody,
      ]),
    ]);

    function query() {
      var q = new URLSearchParams();
      statusFilter.forEach(function (s) { q.append('status', s); });
      if (workflowFilter) q.set('workflow', workflowFilter);
      return q.toString();
    }
    function applyFilters() {
      statusFilter = boxes.filter(function (b) { return b.box.checked; }).map(function (b) { return b.status; });
      workflowFilter = wfSelect.value;
      var q = query();
      history.replaceState(null, '', '/' + (q ? '?' + q : ''));
      reload().then(openFeed);
    }
    function matches(run) {
      return (statusFilter.length === 0 || statusFilter.indexOf(run.status) >= 0) && (!workflowFilter || run.workflow === workflowFilter);
    }
    function makeRow(run) {
      var cells = {
        id: el('td', { class: 'clip run-id', title: run.workflowId }, el('a', { href: runHref(run.workflowId) }, run.workflowId)),
        workflow: el('td', { class: 'clip', title: run.workflow }, run.workflow),
        status: el('td'),
        state: el('td', { class: 'clip' }),
        updated: el('td', { class: 'muted' }),
      };
      var tr = el('tr', { 'data-run-id': run.workflowId }, [cells.id, cells.workflow, cells.status, cells.state, cells.updated]);
      var row = { tr: tr, cells: cells };
      updateRow(row, run);
      return row;
    }
    function updateRow(row, run) {
      clear(row.cells.status);
      append(row.cells.status, statusBadge(run.status));
      row.cells.state.textContent = run.state === null || run.state === undefined ? '' : run.state;
      row.cells.state.title = row.cells.state.textContent;
      row.cells.updated.textContent = fmtTime(run.updatedAt !== undefined ? run.updatedAt : run.at);
      row.tr.setAttribute('data-status', isStatus(run.status) ? run.status : 'unknown');
    }
    function updateCount() {
      count.textContent = rows.size + (rows.size === 1 ? ' run' : ' runs') + (capped ? ' (the most recent)' : '');
    }
    function fillWorkflows(names) {
      if (names.join('\u0000') === knownWorkflows.join('\u0000')) return;
      knownWorkflows = names.slice();
      clear(wfSelect);
      append(wfSelect, el('option', { value: '' }, 'all workflows'));
      names.forEach(function (n) {
        var o = el('option', { value: n }, n);
        if (n === workflowFilter) o.selected = true;
        append(wfSelect, o);
      });
    }
    function reload() {
      return getJSON('/api/runs' + (query() ? '?' + query() : '')).then(function (body) {
        clear(message);
        var unreadable = body.unreadableCount > 0 ? body.unreadableCount : 0;
        if (unreadable > 0) {
          // one item per record, each id in a <bdi>: an id's bidirectional override or line break stays in it
          var items = body.unreadable.map(function (u) {
            return el('li', null, [el('bdi', null, u.workflowId), ': ', el('bdi', null, u.error)]);
          });
          if (unreadable > body.unreadable.length) items.push(el('li', null, '… and ' + (unreadable - body.unreadable.length) + ' more'));
          append(message, el('div', { id: 'list-unreadable', class: 'error unreadable' }, [
            el('p', null, unreadable + (unreadable === 1 ? ' run record' : ' run records') +
              (body.runs.length + unreadable >= MAX_ROWS ? ' among the most recent' : '') + ' cannot be read:'),
            el('ul', null, items),
          ]));
        }
        fillWorkflows(body.workflows || []);
        var fresh = new Map();
        body.runs.forEach(function (run) {
          var row = rows.get(run.workflowId);
          if (row) updateRow(row, run); else row = makeRow(run);
          fresh.set(run.workflowId, row);
        });
        rows = fresh;
        // a record that does not decode takes its place in the list's limit too
        capped = body.runs.length + unreadable >= MAX_ROWS;
        clear(tbody);
        rows.forEach(function (row) { tbody.appendChild(row.tr); });
        updateCount();
      }).catch(function (e) { showError(message, e); });
    }
    function apply(run) {
      var row = rows.get(run.workflowId);
      if (row) {
        if (!matches(run)) {
          row.tr.remove();
          rows.delete(run.workflowId);
        } else updateRow(row, run);
      } else if (matches(run)) {
        row = makeRow(run);
        rows.set(run.workflowId, row);
        tbody.insertBefore(row.tr, tbody.firstChild);
        while (rows.size > MAX_ROWS && tbody.lastChild) {
          var oldest = tbody.lastChild;
          rows.delete(oldest.getAttribute('data-run-id'));
          tbody.removeChild(oldest);
          capped = true;
        }
      }
    }
    // more runs changed than the list shows: the feed sends the ones that changed last (oldest first) as the list
    function replaceAll(list) {
      var fresh = new Map();
      list.forEach(function (run) {
        var row = rows.get(run.workflowId);
        if (row) updateRow(row, run); else row = makeRow(run);
        fresh.set(run.workflowId, row);
      });
      rows = fresh;
      capped = true;
      clear(tbody);
      Array.from(rows.values()).reverse().forEach(function (row) { tbody.appendChild(row.tr); });
    }
    // the feed sends only what this list shows (its filter, its rows): it is opened again when they change
    var feed = null;
    function openFeed() {
      if (feed) feed.close();
      var q = new URLSearchParams(query());
      q.set('limit', String(MAX_ROWS));
      feed = new EventSource('/api/feed?' + q.toString());
      feed.addEventListener('open', function () { setConn('live', 'live'); });
      feed.addEventListener('error', function () { setConn('reconnecting…', 'down'); });
      feed.addEventListener('runs', function (m) {
        var body;
        try { body = JSON.parse(m.data); } catch (e) { return; }
        if (!body || !Array.isArray(body.runs)) return;
        if (body.replace) replaceAll(body.runs); else body.runs.forEach(apply);
        updateCount();
      });
      // this page fell too far behind the feed: the list is read again
      feed.addEventListener('reset', function () { reload(); });
    }
    reload().then(function () {
      openFeed();
      // runs of other processes are not in this feed: the list is read again now and then
      setInterval(reload, 10000);
    });
  }

  // ---------------------------------------------------------------- run page

  function runPage(main, id) {
    // the API of this run: /api/runs/<id>…, or /api/run…?id=<id> for the ids a URL's path cannot hold
    var dotted = id === '.' || id === '..';
    function api(rest, query) {
      return dotted
        ? '/api/run' + rest + '?id=' + encodeURIComponent(id) + (query ? '&' + query : '')
        : '/api/runs/' + encodeURIComponent(id) + rest + (query ? '?' + query : '');
    }
    var lastN = -1;
    var loaded = false;
    var epoch = null;
    var early = [];
    var status = null;
    var nodes = new Map();
    var statusSlot = el('span', { id: 'run-status' });
    var stateSlot = el('span', { id: 'run-state', class: 'run-id' });
    var workflowSlot = el('span', { id: 'run-workflow' });
    var cancelButton = el('button', { id: 'cancel', class: 'danger', type: 'button', disabled: true }, 'Cancel');
    var resumeButton = el('button', { id: 'resume', class: 'primary', type: 'button', disabled: true }, 'Resume');
    var actionMessage = el('p', { id: 'action-message', class: 'muted' });
    var diagram = el('div', { id: 'diagram', class: 'diagram-wrap' });
    var progress = el('div', { id: 'progress' });
    var record = el('div', { id: 'record' });
    var timelineNote = el('p', { id: 'timeline-note', class: 'muted' });
    var timelineBody = el('tbody', { id: 'timeline-body' });
    var pageMessage = el('div', { id: 'page-message' });
    clear(main);
    append(main, [
      el('p', null, el('a', { href: '/' }, '← all runs')),
      el('div', { class: 'run-head' }, [
        el('h2', null, ['Run ', el('span', { id: 'run-id', class: 'run-id' }, id)]),
        el('span', null, ['Workflow ', workflowSlot]),
        statusSlot,
        el('span', null, ['State ', stateSlot]),
        el('span', { class: 'actions' }, [cancelButton, resumeButton]),
      ]),
      actionMessage,
      pageMessage,
      el('div', { class: 'grid' }, [
        el('div', null, [el('h3', null, 'State diagram'), el('div', { class: 'panel' }, diagram), el('h3', null, 'Progress'), el('div', { class: 'panel' }, progress)]),
        el('div', null, [el('h3', null, 'Record'), el('div', { class: 'panel' }, record)]),
      ]),
      el('h3', null, 'Timeline'),
      timelineNote,
      el('div', { class: 'timeline-wrap' }, el('table', { id: 'timeline' }, [
        el('thead', null, el('tr', null, ['#', 'Time', 'Event', 'State', 'Details'].map(function (h) { return el('th', null, h); }))),
        timelineBody,
      ])),
    ]);
    document.title = 'Run ' + id + ' · cano-rx inspector';

    function setStatus(s) {
      status = s;
      clear(statusSlot);
      append(statusSlot, statusBadge(s));
      cancelButton.disabled = !(s === 'pending' || s === 'running' || s === 'parked');
      resumeButton.disabled = !(s === 'failed' || s === 'timedOut' || s === 'cancelled');
    }
    function renderGraph(graph) {
      clear(diagram);
      nodes = new Map();
      if (!graph) {
        append(diagram, el('p', { class: 'muted' }, 'This runtime does not run this workflow: no diagram.'));
        return;
      }
      var svgEl = sv('svg', { class: 'diagram', width: graph.width, height: graph.height, viewBox: '0 0 ' + graph.width + ' ' + graph.height, role: 'img', 'aria-label': 'state diagram' });
      append(svgEl, sv('defs', null, sv('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, sv('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }))));
      graph.edges.forEach(function (e) {
        if (!/^[MC0-9 .,-]*$/.test(e.d)) return;
        var path = sv('path', { d: e.d, class: e.undeclared ? 'edge undeclared' : 'edge', 'marker-end': 'url(#arrow)' });
        append(path, sv('title', null, e.undeclared ? e.from + ' → (targets not declared)' : e.from + ' → ' + e.to));
        append(svgEl, path);
      });
      graph.nodes.forEach(function (n) {
        var kind = /^[A-Za-z]+$/.test(n.kind) ? n.kind : 'Other';
        var g = sv('g', { class: 'node kind-' + kind + (n.initial ? ' initial' : ''), 'data-state': n.id });
        append(g, [
          sv('title', null, n.id + ' (' + kind + (n.branches !== undefined ? ', ' + n.branches + ' branches' : '') + ')'),
          sv('rect', { x: n.x, y: n.y, width: n.w, height: n.h, rx: 6 }),
          sv('text', { x: n.x + n.w / 2, y: n.y + n.h / 2, 'text-anchor': 'middle', 'dominant-baseline': 'central' }, n.label),
        ]);
        nodes.set(n.id, g);
        append(svgEl, g);
      });
      append(diagram, svgEl);
    }
    function highlight(view) {
      var visited = new Set(view && view.history ? view.history : []);
      nodes.forEach(function (g, name) {
        g.classList.toggle('current', !!view && view.state === name);
        g.classList.toggle('visited', visited.has(name));
      });
    }
    function bar(key, label, value, max, text) {
      var p = el('progress', { max: Math.max(1, max), 'data-bar': key });
      p.value = Math.min(value, Math.max(1, max));
      return el('div', { class: 'bar', 'data-progress': key }, [el('span', null, label), p, el('span', { class: 'bar-text' }, text)]);
    }
    function renderProgress(view) {
      clear(progress);
      if (!view) {
        append(progress, el('p', { class: 'muted' }, 'No events of this run were seen by this inspector (it ran before the inspector started, or in another process).'));
        return;
      }
      var items = [];
      items.push(el('dl', { class: 'kv' }, [
        el('dt', null, 'State'), el('dd', { id: 'progress-state' }, (view.state === null ? '—' : view.state) + (view.kind ? ' (' + view.kind + ')' : '')),
        el('dt', null, 'Attempts'), el('dd', null, view.totalAttempts + ' in this run, ' + view.totalRetries + ' retries'),
      ]));
      if (view.attempt > 0 && view.maxRetries !== null) items.push(bar('attempt', 'Attempt', view.attempt, view.maxRetries + 1, view.attempt + ' of ' + (view.maxRetries + 1)));
      if (view.batch) items.push(bar('batch', 'Batch items', view.batch.done, view.batch.total, view.batch.done + ' / ' + view.batch.total + (view.batch.failed ? ' (' + view.batch.failed + ' failed)' : '')));
      if (view.split) items.push(bar('split', 'Split branches', view.split.settled, view.split.total, view.split.settled + ' / ' + view.split.total + ' settled: ' + view.split.succeeded + ' ok, ' + view.split.failed + ' failed, ' + view.split.cancelled + ' cancelled'));
      if (view.stepped) items.push(el('div', { class: 'bar', 'data-progress': 'stepped' }, [el('span', null, 'Cursor'), el('span', { class: 'bar-text' }, 'step ' + view.stepped.step)]));
      if (view.windows) items.push(el('div', { class: 'bar', 'data-progress': 'windows' }, [el('span', null, 'Stream'), el('span', { class: 'bar-text' }, 'window ' + view.windows.window + ' (' + view.windows.items + ' items)')]));
      if (view.rollingBack) items.push(el('p', { 'data-progress': 'rollback' }, 'Rolling back: ' + view.compensated + ' compensated, ' + view.compensationFailures + ' failed'));
      if (view.progress !== null && view.progress !== undefined) items.push(el('div', { 'data-progress': 'data' }, [el('span', { class: 'muted' }, 'Last progress'), pretty(view.progress)]));
      if (view.lastError) items.push(el('div', { 'data-progress': 'error' }, [el('span', { class: 'muted' }, 'Last error'), pretty(view.lastError)]));
      append(progress, items);
    }
    function applyView(view) {
      if (!view) return;
      setStatus(view.status);
      stateSlot.textContent = view.state === null ? '—' : view.state;
      highlight(view);
      renderProgress(view);
    }
    function renderRecord(r, body) {
      clear(record);
      if (!r) {
        append(record, el('p', { class: 'muted' }, 'No record in the run table.'));
        return;
      }
      var kv = [
        ['Status', statusBadge(body.status)], ['Workflow', r.workflow + ' v' + r.version], ['Initial state', r.initial],
        ['Owner', r.owner === null ? '—' : r.owner], ['Fence', String(r.fence)], ['Created', fmtDate(r.createdAt)],
        ['Updated', fmtDate(r.updatedAt)], ['Ended', r.endedAt === null ? '—' : fmtDate(r.endedAt)],
        ['Cancel requested', r.cancelRequested ? 'yes' : 'no'],
      ];
      var dl = el('dl', { class: 'kv' });
      kv.forEach(function (p) { append(dl, [el('dt', null, p[0]), el('dd', null, p[1])]); });
      append(record, dl);
      [['Input', r.input], ['Output', r.output], ['Error', r.error]].forEach(function (p) {
        if (p[1] !== null && p[1] !== undefined) append(record, [el('h3', null, p[0]), el('div', { 'data-record': p[0].toLowerCase() }, pretty(p[1]))]);
      });
    }
    function eventRow(e) {
      var rest = {};
      Object.keys(e).forEach(function (k) {
        if (k !== '_tag' && k !== 'workflowId' && k !== 'at' && k !== 'state' && k !== 'n') rest[k] = e[k];
      });
      var details = fmtJSON(rest, 400);
      return el('tr', { 'data-n': e.n, 'data-tag': typeof e._tag === 'string' ? e._tag : '' }, [
        el('td', { class: 'muted' }, String(e.n)),
        el('td', { class: 'muted' }, fmtTime(e.at)),
        el('td', null, String(e._tag)),
        el('td', { class: 'clip', title: typeof e.state === 'string' ? e.state : '' }, typeof e.state === 'string' ? e.state : ''),
        el('td', { class: 'details', title: details.length >= 400 ? fmtJSON(rest, 4000) : '' }, details),
      ]);
    }
    function addEvents(events) {
      var ended = false;
      events.forEach(function (e) {
        if (typeof e.n !== 'number' || e.n <= lastN) return;
        timelineBody.appendChild(eventRow(e));
        lastN = e.n;
        if (TERMINAL_EVENTS.indexOf(e._tag) >= 0) ended = true;
      });
      while (timelineBody.childNodes.length > MAX_TIMELINE_ROWS) timelineBody.removeChild(timelineBody.firstChild);
      return ended;
    }
    // one read of the run at a time: a read asked for while one is on its way follows it
    var loading = false;
    var loadAgain = false;
    function load() {
      if (loading) {
        loadAgain = true;
        return;
      }
      loading = true;
      getJSON(api('', 'absent=empty')).then(function (body) {
        if (body.found === false) {
          // not started yet: its first event on the feed makes the page read it again
          loaded = false;
          clear(pageMessage);
          append(pageMessage, el('p', { class: 'muted' }, String(body.error)));
          return;
        }
        clear(pageMessage);
        loaded = true;
        epoch = body.epoch;
        workflowSlot.textContent = body.record ? body.record.workflow : '';
        if (nodes.size === 0) renderGraph(body.graph);
        setStatus(body.status);
        renderRecord(body.record, body);
        clear(timelineBody);
        lastN = -1;
        if (body.timeline) {
          timelineNote.textContent = body.timeline.first > 0 ? body.timeline.first + ' older events are not shown.' : '';
          addEvents(body.timeline.events);
        } else {
          timelineNote.textContent = 'No events of this run were seen by this inspector.';
        }
        if (body.view) applyView(body.view);
        else {
          renderProgress(null);
          highlight(null);
          stateSlot.textContent = '—';
        }
        setStatus(body.status);
        var buffered = early;
        early = [];
        buffered.forEach(onRun);
      }).catch(function (e) {
        // a run that has not started yet is read again on its first event (onRun)
        loaded = false;
        showError(pageMessage, e);
      }).then(function () {
        loading = false;
        if (loadAgain) {
          loadAgain = false;
          load();
        }
      });
    }
    function onRun(data) {
      if (!loaded) {
        // kept for the read on its way (bounded: past it, the gap is seen and the run read again)
        if (early.length < MAX_EARLY) early.push(data);
        // the page was opened before its run started (the read said there was no such run): read it now
        if (!loading) load();
        return;
      }
      // the inspector forgot the run and follows it again (its events numbered from 0 again): read it again
      if (data.epoch !== epoch) {
        load();
        return;
      }
      var first = data.events.length > 0 ? data.events[0].n : undefined;
      if (first !== undefined && lastN >= 0 && first > lastN + 1) {
        load();
        return;
      }
      var ended = addEvents(data.events);
      if (data.view) applyView(data.view);
      if (ended) load();
    }
    function act(button, verb, done) {
      actionMessage.textContent = '';
      button.disabled = true;
      post(api('/' + verb)).then(function () {
        actionMessage.textContent = done;
        setTimeout(load, 1000);
      }).catch(function (e) {
        actionMessage.textContent = e && e.message ? e.message : String(e);
        setStatus(status);
      });
    }
    cancelButton.addEventListener('click', function () { act(cancelButton, 'cancel', 'Cancel requested.'); });
    resumeButton.addEventListener('click', function () { act(resumeButton, 'resume', 'Resumed.'); });

    // the feed is open (and this page registered) before the run is read: no event falls in between;
    // a reconnect says hello again and the run is read again
    var feed = new EventSource(api('/feed'));
    feed.addEventListener('hello', function () {
      setConn('live', 'live');
      load();
    });
    feed.addEventListener('error', function () { setConn('reconnecting…', 'down'); });
    feed.addEventListener('run', function (m) {
      var data;
      try { data = JSON.parse(m.data); } catch (e) { return; }
      onRun(data);
    });
    feed.addEventListener('reset', function () { load(); });
  }

  // ---------------------------------------------------------------- start

  setupToken();
  var main = document.getElementById('main');
  var path = location.pathname;
  if (path.indexOf('/runs/') === 0) {
    var id = null;
    try { id = decodeURIComponent(path.slice('/runs/'.length)); } catch (e) { id = null; }
    if (id) runPage(main, id);
    else listPage(main);
  } else if (path === '/run') {
    var byQuery = new URLSearchParams(location.search).get('id');
    if (byQuery) runPage(main, byQuery);
    else listPage(main);
  } else listPage(main);
})();
`
