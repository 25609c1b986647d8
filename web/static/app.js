// The page: reads the query, asks the wasm engine for a trace (JSON), draws it on canvases.
// All numbers come from the engine; this file only lays them out.
import init, { createEngine } from './wgpu_rnn_web.js';

const $ = (id) => document.getElementById(id);
const CELLS = ['rnn_tanh', 'rnn_relu', 'lstm', 'gru', 'mingru', 'minlstm'];
const SEEDED_ALPHABET = 'abrcd ';
const LEFT = 34; // px left of the first column, for unit numbers
const view = {
  engine: null, trained: null, trace: null, compare: [], revealed: 0, anim: 0,
  hoverUnit: -1, hoverPanel: -1, hoverCol: -1, geometry: null, firstShown: false, busy: 0,
};

// ---- query parameters: the page's contract with scripts --------------------------------
function readQuery() {
  const q = new URLSearchParams(location.search);
  const errors = [];
  const s = { text: 'abracadabra', model: 'seeded', cell: 'rnn_tanh', hidden: 16, seed: 3,
    gates: false, backend: 'webgpu', speed: 12 };
  if (q.has('text')) s.text = q.get('text');
  const model = q.get('model');
  if (model !== null) {
    if (model === 'seeded' || model === 'trained') s.model = model;
    else errors.push(`model=${model}: use seeded or trained`);
  }
  const nl = q.get('nonlinearity');
  if (nl !== null && nl !== 'tanh' && nl !== 'relu') errors.push(`nonlinearity=${nl}: use tanh or relu`);
  const cell = q.get('cell');
  if (cell !== null) {
    if (cell === 'rnn') s.cell = nl === 'relu' ? 'rnn_relu' : 'rnn_tanh';
    else if (CELLS.includes(cell)) s.cell = cell;
    else errors.push(`cell=${cell}: use rnn, lstm, gru, mingru or minlstm`);
  } else if (nl === 'relu') s.cell = 'rnn_relu';
  const int = (name, lo, hi) => {
    const v = q.get(name);
    if (v === null) return null;
    if (!/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) {
      errors.push(`${name}=${v}: use a whole number from ${lo} to ${hi}`);
      return null;
    }
    return Number(v);
  };
  s.hidden = int('hidden', 4, 64) ?? s.hidden;
  s.seed = int('seed', 0, 4294967295) ?? s.seed;
  s.speed = int('speed', 2, 60) ?? s.speed;
  const gates = q.get('gates');
  if (gates !== null) s.gates = gates === '1' || gates === 'true';
  const backend = q.get('backend');
  if (backend !== null) {
    if (backend === 'cpu' || backend === 'webgpu') s.backend = backend;
    else errors.push(`backend=${backend}: use webgpu or cpu`);
  }
  return { s, errors };
}

function controls() {
  return {
    text: $('text').value, model: $('model').value, cell: $('cell').value,
    hidden: Number($('hidden').value), seed: Number($('seed').value), gates: $('gates').checked,
  };
}

function setControls(s) {
  $('text').value = s.text; $('model').value = s.model; $('cell').value = s.cell;
  $('hidden').value = s.hidden; $('hidden-out').value = s.hidden; $('seed').value = s.seed;
  $('gates').checked = s.gates; $('speed').value = s.speed;
  syncEnabled();
}

function syncEnabled() {
  const trained = $('model').value === 'trained';
  for (const id of ['cell', 'hidden', 'reseed']) $(id).disabled = trained;
  if (trained && view.trained) {
    $('cell').value = view.trained.cell; $('hidden').value = view.trained.hidden_size;
    $('hidden-out').value = view.trained.hidden_size;
  }
  const cell = $('cell').value;
  $('gates').disabled = cell === 'rnn_tanh' || cell === 'rnn_relu';
  $('sampler').hidden = !trained;
}

function writeUrl(c) {
  const q = new URLSearchParams(location.search);
  q.set('text', c.text); q.set('model', c.model);
  const [cell, nl] = c.cell.startsWith('rnn_') ? ['rnn', c.cell.slice(4)] : [c.cell, null];
  q.set('cell', cell);
  if (nl) q.set('nonlinearity', nl); else q.delete('nonlinearity');
  q.set('hidden', c.hidden); q.set('seed', c.seed);
  if (c.gates) q.set('gates', '1'); else q.delete('gates');
  history.replaceState(null, '', `?${q}`);
}

function showMessage(text) {
  const m = $('message');
  m.textContent = text || '';
  m.hidden = !text;
  $('text').classList.toggle('bad', !!text);
  if (text) document.body.dataset.error = text; else delete document.body.dataset.error;
}

// ---- computing -------------------------------------------------------------------------
async function compute() {
  const c = controls();
  const ticket = ++view.busy;
  writeUrl(c);
  if (!c.text) { showMessage('Type at least one character.'); return; }
  const req = { text: c.text, model: c.model, cell: c.cell, nonlinearity: 'tanh', hidden: c.hidden,
    seed: c.seed, gates: c.gates, grad: true, top: c.model === 'trained' ? 5 : 0 };
  const started = performance.now();
  let trace;
  try {
    trace = JSON.parse(await view.engine.trace(JSON.stringify(req)));
  } catch (e) {
    if (ticket === view.busy) { showMessage(String(e.message || e)); markReady(); }
    return;
  }
  const ms = performance.now() - started;
  if (ticket !== view.busy) return; // a newer edit superseded this one
  showMessage('');
  view.trace = trace;
  publish(trace);
  cancelAnimationFrame(view.anim);
  view.revealed = trace.h.length;
  drawAll();
  const first = !view.firstShown;
  if (first) { view.firstShown = true; document.body.dataset.firstMs = performance.now().toFixed(0); }
  document.body.dataset.traceMs = ms.toFixed(1);
  $('timing').textContent = `${first ? 'page load → first full heatmap ' + document.body.dataset.firstMs + ' ms · ' : ''}`
    + `this trace (forward + BPTT) ${ms.toFixed(1)} ms on ${trace.backend === 'webgpu' ? 'WebGPU' : 'the CPU reference'}`;
  markReady();
  compareGradients(c, ticket);
}

// Numbers for scripts: a JSON <script> element (`<` escaped so the DOM dump stays valid).
function publishJson(id, value) {
  let el = $(id);
  if (!el) {
    el = document.createElement('script');
    el.type = 'application/json'; el.id = id;
    document.body.appendChild(el);
  }
  el.textContent = JSON.stringify(value).replace(/</g, '\\u003c');
}
const publish = (trace) => publishJson('trace-json', trace);

function markReady() {
  const b = document.body;
  b.dataset.backend = view.engine ? view.engine.backend : 'none';
  if (view.engine) b.dataset.adapter = view.adapterName;
  b.dataset.ready = '1';
}

// The gradient of the same loss for a plain RNN and the gated cells, same text, size, seed.
async function compareGradients(c, ticket) {
  const onSeeded = [...c.text].every((ch) => SEEDED_ALPHABET.includes(ch));
  const text = onSeeded ? c.text : 'abracadabra abracadabra abracadabra';
  const runs = [];
  for (const cell of ['rnn_tanh', 'lstm', 'gru', 'mingru']) {
    const req = { text, model: 'seeded', cell, hidden: c.hidden, seed: c.seed, grad: true };
    try {
      const t = JSON.parse(await view.engine.trace(JSON.stringify(req)));
      runs.push({ label: `${label(cell)} (seeded)`, norms: t.grad_h_norm, text });
    } catch (e) { runs.push({ label: `${label(cell)}: ${e.message || e}`, norms: [], text }); }
  }
  if (c.model === 'trained' && view.trace) {
    runs.push({ label: `trained ${label(view.trace.cell)}`, norms: view.trace.grad_h_norm, text: c.text });
  }
  if (ticket !== view.busy) return;
  view.compare = runs;
  publishJson('grad-compare-json', runs);
  drawCompare();
}

const label = (cell) => ({
  rnn_tanh: 'RNN tanh', rnn_relu: 'RNN relu', lstm: 'LSTM', gru: 'GRU', mingru: 'minGRU', minlstm: 'minLSTM',
})[cell] || cell;

// ---- drawing ---------------------------------------------------------------------------
function diverging(v, scale) {
  const a = Math.max(-1, Math.min(1, v / scale));
  const f = (x) => Math.round(255 * x);
  return a >= 0 ? `rgb(255,${f(1 - a)},${f(1 - a)})` : `rgb(${f(1 + a)},${f(1 + a)},255)`;
}
function sequential(v) {
  const a = Math.max(0, Math.min(1, v));
  return `rgb(${Math.round(255 - 235 * a)},${Math.round(255 - 135 * a)},${Math.round(255 - 200 * a)})`;
}
const maxAbs = (rows) => rows.reduce((m, r) => r.reduce((m2, v) => Math.max(m2, Math.abs(v)), m), 0) || 1e-6;

function panelsOf(tr) {
  const p = [{ name: 'h_t', rows: tr.h, unit: false }];
  if (tr.c) p.push({ name: 'c_t', rows: tr.c, unit: false });
  for (const g of tr.gates || []) {
    p.push({ name: `gate ${g.name} (${g.activation})`, rows: g.values, unit: g.activation === 'sigmoid' });
  }
  for (const q of p) q.scale = q.unit ? 1 : maxAbs(q.rows);
  return p;
}

// Column width and row height that fit the screen; the canvas scrolls past 200 columns.
function geometry(tr) {
  const t = tr.h.length, hs = tr.hidden_size;
  const avail = Math.max(280, document.querySelector('main').clientWidth - 40);
  const cw = Math.max(8, Math.min(36, Math.floor((avail - LEFT) / t)));
  const rh = Math.max(4, Math.min(20, Math.floor(320 / hs)));
  const panels = panelsOf(tr);
  const preds = tr.predictions ? tr.predictions[0].length : 0;
  const tops = [];
  let y = 0;
  panels.forEach((p, i) => {
    y += 18; tops.push(y); y += hs * rh + 4;
    if (i === 0) { p.charsY = y; y += 18 + preds * 13; }
    y += 8;
  });
  return { t, hs, cw, rh, panels, tops, preds, width: LEFT + t * cw + 4, height: y };
}

function sizeCanvas(canvas, w, h) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`; canvas.style.height = `${h}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function drawAll() {
  const tr = view.trace;
  if (!tr) return;
  const g = view.geometry = geometry(tr);
  sizeCanvas($('overlay'), g.width, g.height);
  const ctx = sizeCanvas($('heatmap'), g.width, g.height);
  ctx.fillStyle = '#fbfaf7'; ctx.fillRect(0, 0, g.width, g.height);
  ctx.fillStyle = '#5b6470'; ctx.font = '12px system-ui, sans-serif'; ctx.textBaseline = 'alphabetic';
  g.panels.forEach((p, i) => {
    const note = p.unit ? 'white 0 … green 1' : `blue −${p.scale.toFixed(2)} … red +${p.scale.toFixed(2)}`;
    ctx.fillText(`${p.name}   ${note}`, LEFT, g.tops[i] - 5);
    ctx.font = '10px system-ui, sans-serif'; ctx.textAlign = 'right';
    for (let u = 0; u < g.hs; u += Math.max(1, Math.ceil(g.hs / 8))) {
      ctx.fillText(String(u), LEFT - 4, g.tops[i] + u * g.rh + Math.min(g.rh, 10));
    }
    ctx.textAlign = 'left'; ctx.font = '12px system-ui, sans-serif';
  });
  drawColumns(0, view.revealed);
  drawGrad();
  drawHover();
}

// Draws columns [from, to): every panel's cells, the character and the predictions.
function drawColumns(from, to) {
  const tr = view.trace, g = view.geometry;
  const ctx = $('heatmap').getContext('2d');
  for (let t = from; t < to; t++) {
    const x = LEFT + t * g.cw;
    g.panels.forEach((p, i) => {
      const col = p.rows[t];
      for (let u = 0; u < g.hs; u++) {
        ctx.fillStyle = p.unit ? sequential(col[u]) : diverging(col[u], p.scale);
        ctx.fillRect(x, g.tops[i] + u * g.rh, g.cw - 1, g.rh - (g.rh > 5 ? 1 : 0));
      }
    });
    const y = g.panels[0].charsY;
    const ch = [...tr.text][t];
    ctx.fillStyle = '#1d232b'; ctx.textAlign = 'center';
    ctx.font = `${Math.min(15, g.cw + 2)}px ui-monospace, monospace`;
    ctx.fillText(ch === ' ' ? '␣' : ch, x + g.cw / 2, y + 14);
    if (tr.predictions) {
      ctx.font = `${Math.min(12, g.cw)}px ui-monospace, monospace`;
      tr.predictions[t].forEach((pr, k) => {
        ctx.fillStyle = `rgba(181,51,30,${(0.25 + 0.75 * pr.p).toFixed(2)})`;
        const c = pr.char === ' ' ? '␣' : pr.char === '\n' ? '↵' : pr.char;
        ctx.fillText(c, x + g.cw / 2, y + 30 + k * 13);
      });
    }
    ctx.textAlign = 'left';
  }
  document.body.dataset.revealed = String(to);
}

function replay() {
  if (!view.trace) return;
  cancelAnimationFrame(view.anim);
  view.revealed = 0;
  drawAll();
  const start = performance.now();
  const step = (now) => {
    const speed = Number($('speed').value);
    const k = Math.min(view.trace.h.length, Math.floor(((now - start) / 1000) * speed) + 1);
    if (k > view.revealed) { drawColumns(view.revealed, k); view.revealed = k; drawHover(); }
    if (k < view.trace.h.length) view.anim = requestAnimationFrame(step);
  };
  view.anim = requestAnimationFrame(step);
}

// Log-scale bars of ‖dL/dh_t‖ under the heatmap's columns.
function logRange(values) {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  if (!pos.length) return null;
  let lo = Math.floor(Math.log10(Math.min(...pos))), hi = Math.ceil(Math.log10(Math.max(...pos)));
  if (hi === lo) hi = lo + 1;
  return { lo, hi };
}

function drawGrad() {
  const tr = view.trace, g = view.geometry;
  const ctx = sizeCanvas($('grad'), Math.max(g.width, 300), 140);
  const norms = tr.grad_h_norm || [];
  const r = logRange(norms);
  const top = 14, bottom = 118;
  ctx.fillStyle = '#5b6470'; ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(`‖∂L/∂h_t‖, log scale (${label(tr.cell)})`, LEFT, 10);
  if (!r) return;
  const y = (v) => bottom - ((Math.log10(v) - r.lo) / (r.hi - r.lo)) * (bottom - top);
  ctx.strokeStyle = '#d9dee4'; ctx.textAlign = 'right';
  for (let e = r.lo; e <= r.hi; e += Math.max(1, Math.ceil((r.hi - r.lo) / 4))) {
    ctx.beginPath(); ctx.moveTo(LEFT, y(10 ** e)); ctx.lineTo(LEFT + g.t * g.cw, y(10 ** e)); ctx.stroke();
    ctx.fillText(`1e${e}`, LEFT - 2, y(10 ** e) + 4);
  }
  ctx.textAlign = 'center';
  norms.forEach((v, t) => {
    const x = LEFT + t * g.cw;
    if (Number.isFinite(v) && v > 0) {
      ctx.fillStyle = '#b5331e';
      ctx.fillRect(x + 1, y(v), Math.max(1, g.cw - 3), bottom - y(v));
    } else {
      ctx.fillStyle = '#5b6470';
      ctx.fillText(Number.isNaN(v) ? 'NaN' : v === 0 ? '0' : '∞', x + g.cw / 2, bottom - 2);
    }
    ctx.fillStyle = '#1d232b';
    const ch = [...tr.text][t];
    ctx.fillText(ch === ' ' ? '␣' : ch, x + g.cw / 2, bottom + 16);
  });
  ctx.textAlign = 'left';
}

function drawCompare() {
  const canvas = $('grad-compare');
  const w = Math.min(720, Math.max(300, document.querySelector('main').clientWidth - 32)), h = 220;
  const ctx = sizeCanvas(canvas, w, h);
  const runs = view.compare.filter((r) => r.norms && r.norms.length);
  const r = logRange(runs.flatMap((x) => x.norms));
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, w, h);
  if (!r) return;
  const left = 44, right = w - 10, top = 10, bottom = h - 50;
  const tmax = Math.max(...runs.map((x) => x.norms.length));
  const x = (i, n) => right - ((n - 1 - i) / Math.max(1, tmax - 1)) * (right - left);
  const y = (v) => bottom - ((Math.log10(v) - r.lo) / (r.hi - r.lo)) * (bottom - top);
  ctx.strokeStyle = '#e6e9ed'; ctx.fillStyle = '#5b6470'; ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'right';
  for (let e = r.lo; e <= r.hi; e += Math.max(1, Math.ceil((r.hi - r.lo) / 5))) {
    ctx.beginPath(); ctx.moveTo(left, y(10 ** e)); ctx.lineTo(right, y(10 ** e)); ctx.stroke();
    ctx.fillText(`1e${e}`, left - 4, y(10 ** e) + 4);
  }
  ctx.textAlign = 'center';
  ctx.fillText('← characters further back from the last one', (left + right) / 2, bottom + 16);
  const colours = ['#b5331e', '#2f6fb5', '#2f8f4e', '#8a4fb5'];
  runs.forEach((run, k) => {
    ctx.strokeStyle = colours[k % colours.length]; ctx.lineWidth = 2; ctx.beginPath();
    let pen = false;
    run.norms.forEach((v, i) => {
      if (!(Number.isFinite(v) && v > 0)) { pen = false; return; }
      if (pen) ctx.lineTo(x(i, run.norms.length), y(v)); else ctx.moveTo(x(i, run.norms.length), y(v));
      pen = true;
    });
    ctx.stroke();
    ctx.fillStyle = colours[k % colours.length]; ctx.textAlign = 'left';
    ctx.fillText(`━ ${run.label}`, left + (k % 2) * (w / 2 - 20), bottom + 32 + Math.floor(k / 2) * 14);
  });
  ctx.lineWidth = 1; ctx.textAlign = 'left';
}

// ---- hover: Karpathy's view and the column read-out -------------------------------------
function drawHover() {
  const tr = view.trace;
  const box = $('karpathy');
  const chars = [...tr.text];
  if (box.childElementCount !== chars.length || box.dataset.text !== tr.text) {
    box.replaceChildren(...chars.map((ch) => { const s = document.createElement('span'); s.textContent = ch; return s; }));
    box.dataset.text = tr.text;
  }
  const p = view.geometry.panels[view.hoverPanel];
  outline();
  [...box.children].forEach((span, t) => {
    span.style.background = p && view.hoverUnit >= 0 && t < view.revealed
      ? (p.unit ? sequential(p.rows[t][view.hoverUnit]) : diverging(p.rows[t][view.hoverUnit], p.scale)) : '';
    span.style.outline = t === view.hoverCol ? '1px solid #1d232b' : '';
  });
  const info = $('column-info');
  if (view.hoverCol >= 0 && view.hoverCol < view.revealed) {
    const t = view.hoverCol, show = (v) => (v >= 0 ? ' ' : '') + v.toFixed(3);
    const lines = [`after '${chars[t]}' (column ${t})` + (tr.grad_h_norm ? `   ‖∂L/∂h_t‖ ${tr.grad_h_norm[t].toExponential(2)}` : '')];
    for (const q of view.geometry.panels) lines.push(`${q.name}: ${q.rows[t].map(show).join(' ')}`);
    if (tr.predictions) lines.push('next: ' + tr.predictions[t].map((x) => `${JSON.stringify(x.char)} ${(100 * x.p).toFixed(1)}%`).join('  '));
    info.textContent = lines.join('\n');
  } else if (view.hoverUnit >= 0 && p) {
    info.textContent = `unit ${view.hoverUnit} of ${p.name}: the text above is coloured by its value after each character`;
  }
}

// Outlines the hovered unit's row and the hovered column on the overlay canvas.
function outline() {
  const g = view.geometry, canvas = $('overlay');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, g.width, g.height);
  ctx.strokeStyle = '#1d232b'; ctx.lineWidth = 1.5;
  if (view.hoverPanel >= 0 && view.hoverUnit >= 0) {
    const y = g.tops[view.hoverPanel] + view.hoverUnit * g.rh;
    ctx.strokeRect(LEFT - 1, y - 1, view.revealed * g.cw + 1, g.rh + 1);
  }
  if (view.hoverCol >= 0 && view.hoverCol < view.revealed) {
    const x = LEFT + view.hoverCol * g.cw;
    g.panels.forEach((_, i) => ctx.strokeRect(x - 1, g.tops[i] - 1, g.cw + 1, g.hs * g.rh + 1));
  }
}

function onPointer(ev) {
  const g = view.geometry;
  if (!g) return;
  const rect = $('heatmap').getBoundingClientRect();
  const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
  const col = Math.floor((x - LEFT) / g.cw);
  view.hoverCol = col >= 0 && col < g.t ? col : -1;
  view.hoverUnit = -1; view.hoverPanel = -1;
  g.tops.forEach((top, i) => {
    const u = Math.floor((y - top) / g.rh);
    if (u >= 0 && u < g.hs && x >= LEFT) { view.hoverUnit = u; view.hoverPanel = i; }
  });
  if (view.hoverUnit < 0) view.hoverCol = -1;
  drawHover();
}

// ---- start -----------------------------------------------------------------------------
async function loadTrained() {
  if (view.trained) return;
  const res = await fetch('charlm.safetensors');
  if (!res.ok) throw new Error(`charlm.safetensors: HTTP ${res.status}`);
  view.trained = JSON.parse(view.engine.loadCheckpoint(new Uint8Array(await res.arrayBuffer())));
}

async function onModelChange() {
  if ($('model').value === 'trained') {
    try { await loadTrained(); } catch (e) { showMessage(`The trained model did not load: ${e.message || e}`); $('model').value = 'seeded'; }
  }
  syncEnabled();
  compute();
}

function wire() {
  let pending = 0;
  $('text').addEventListener('input', () => { clearTimeout(pending); pending = setTimeout(compute, 120); });
  $('model').addEventListener('change', onModelChange);
  $('cell').addEventListener('change', () => { syncEnabled(); compute(); });
  $('hidden').addEventListener('input', () => { $('hidden-out').value = $('hidden').value; clearTimeout(pending); pending = setTimeout(compute, 120); });
  $('gates').addEventListener('change', compute);
  $('reseed').addEventListener('click', () => { $('seed').value = Math.floor(Math.random() * 100000); compute(); });
  $('replay').addEventListener('click', replay);
  $('temperature').addEventListener('input', () => { $('temp-out').value = $('temperature').value; });
  $('sample').addEventListener('click', async () => {
    const c = controls();
    $('sample').disabled = true;
    try {
      const seed = Math.floor(Math.random() * 100000);
      $('sample-out').textContent = await view.engine.sample(c.text, 200, Number($('temperature').value), seed);
    } catch (e) { showMessage(String(e.message || e)); }
    $('sample').disabled = false;
  });
  $('heatmap').addEventListener('pointermove', onPointer);
  $('heatmap').addEventListener('pointerdown', onPointer);
  $('heatmap').addEventListener('pointerleave', () => { view.hoverUnit = view.hoverCol = view.hoverPanel = -1; drawHover(); });
  let resize = 0;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(() => { drawAll(); drawCompare(); }, 100); });
}

async function main() {
  const { s, errors } = readQuery();
  setControls(s);
  try {
    await init();
  } catch (e) {
    $('engine').textContent = `The engine (WebAssembly) did not load: ${e.message || e}`;
    showMessage($('engine').textContent);
    markReady();
    return;
  }
  let wantGpu = s.backend !== 'cpu' && 'gpu' in navigator;
  let why = s.backend === 'cpu' ? 'the CPU was asked for (backend=cpu)'
    : !('gpu' in navigator) ? 'this browser has no WebGPU (navigator.gpu is missing)' : '';
  // Ask for an adapter first: the browser's own words for it (wgpu's adapter info is mostly
  // empty here), and a plain reason when there is none.
  let adapterInfo = '';
  if (wantGpu) {
    try {
      const a = await navigator.gpu.requestAdapter();
      if (!a) {
        wantGpu = false;
        why = 'the browser offers no WebGPU adapter (WebGPU is disabled, blocked or unsupported here)';
      } else if (a.info) {
        adapterInfo = [a.info.vendor, a.info.architecture, a.info.description].filter(Boolean).join(' ');
      }
    } catch (err) { wantGpu = false; why = `requestAdapter failed: ${err.message || err}`; }
  }
  view.engine = await createEngine(wantGpu);
  view.adapterName = view.engine.backend === 'webgpu' && adapterInfo ? `${adapterInfo} (WebGPU)` : view.engine.adapter;
  const e = $('engine');
  if (view.engine.backend === 'webgpu') {
    e.className = 'engine webgpu';
    e.textContent = `Computed on WebGPU by wgpu-rnn's WGSL kernels · adapter: ${view.adapterName}`;
  } else {
    e.className = 'engine cpu';
    if (!why) why = `WebGPU gave no device: ${view.engine.fallbackReason}`;
    e.textContent = `No WebGPU: ${why}. Computing with wgpu-rnn's CPU reference compiled to WebAssembly (f64; same numbers, slower).`;
  }
  wire();
  if (errors.length) {
    showMessage(`Bad query parameters: ${errors.join('; ')}.`);
    markReady();
    return;
  }
  if (s.model === 'trained') {
    try { await loadTrained(); } catch (err) { showMessage(`The trained model did not load: ${err.message || err}`); markReady(); return; }
    syncEnabled();
  }
  await compute();
}

main();
