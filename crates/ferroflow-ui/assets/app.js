// ferroflow web UI: progressive enhancement of server-rendered pages. The span tree is drawn
// here from the compact skeleton the page carries, windowed (only visible rows exist in the
// DOM), with keyboard navigation; a selected span's details are fetched as server-rendered
// HTML and its id is kept in the URL (?span=) so back/forward and pasted links work.

const ROW = 24;

function spanTree(root) {
  const data = JSON.parse(root.querySelector('#skeleton').textContent);
  const n = data.length;
  const base = root.dataset.base;
  const children = Array.from({ length: n }, () => []);
  const roots = [];
  let end = 0;
  const byId = new Map();
  for (let i = 0; i < n; i++) {
    const s = data[i];
    byId.set(s[0], i);
    if (s[1] >= 0) children[s[1]].push(i); else roots.push(i);
    end = Math.max(end, s[5] + s[6]);
  }
  end = Math.max(end, 1);
  const collapsed = new Uint8Array(n);
  const depth = new Int32Array(n);
  let visible = [];
  let selected = byId.has(root.dataset.selected) ? byId.get(root.dataset.selected) : (n ? 0 : -1);

  function flatten() {
    visible = [];
    const stack = [];
    for (let r = roots.length - 1; r >= 0; r--) { depth[roots[r]] = 0; stack.push(roots[r]); }
    while (stack.length) {
      const i = stack.pop();
      visible.push(i);
      if (!collapsed[i]) {
        const c = children[i];
        for (let k = c.length - 1; k >= 0; k--) { depth[c[k]] = depth[i] + 1; stack.push(c[k]); }
      }
    }
    spacer.style.height = (visible.length * ROW) + 'px';
  }

  function duration(us) {
    if (us < 1000) return us + ' µs';
    if (us < 1e6) return (us / 1000).toFixed(0) + ' ms';
    return (us / 1e6).toFixed(2) + ' s';
  }

  const spacer = document.createElement('div');
  spacer.className = 'tree-spacer';
  root.appendChild(spacer);

  function row(i, pos) {
    const s = data[i];
    const a = document.createElement('a');
    a.className = 'span-row' + (i === selected ? ' selected' : '') + (s[4] === 2 ? ' err' : '');
    a.href = '?span=' + encodeURIComponent(s[0]);
    a.dataset.index = String(i);
    a.setAttribute('role', 'treeitem');
    a.setAttribute('tabindex', '-1');
    if (children[i].length) a.setAttribute('aria-expanded', collapsed[i] ? 'false' : 'true');
    a.style.top = (pos * ROW) + 'px';
    const label = document.createElement('span');
    label.className = 'label';
    label.style.paddingLeft = (depth[i] * 14) + 'px';
    const caret = document.createElement('span');
    caret.className = 'caret';
    caret.textContent = children[i].length ? (collapsed[i] ? '▸' : '▾') : '';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = s[2];
    const type = document.createElement('span');
    type.className = 'type';
    type.textContent = s[3];
    label.append(caret, name, type);
    const lane = document.createElement('span');
    lane.className = 'lane';
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.left = (s[5] / end * 100) + '%';
    bar.style.width = (s[6] / end * 100) + '%';
    bar.title = duration(s[6]);
    lane.appendChild(bar);
    const dur = document.createElement('span');
    dur.className = 'dur';
    dur.textContent = duration(s[6]);
    a.append(label, lane, dur);
    return a;
  }

  function render() {
    const first = Math.max(0, Math.floor(root.scrollTop / ROW) - 10);
    const last = Math.min(visible.length, Math.ceil((root.scrollTop + root.clientHeight) / ROW) + 10);
    const rows = [];
    for (let p = first; p < last; p++) rows.push(row(visible[p], p));
    spacer.replaceChildren(...rows);
  }

  function reveal(i) {
    const p = visible.indexOf(i);
    if (p < 0) return;
    const top = p * ROW;
    if (top < root.scrollTop) root.scrollTop = top;
    else if (top + ROW > root.scrollTop + root.clientHeight) root.scrollTop = top + ROW - root.clientHeight;
  }

  async function select(i, push) {
    if (i < 0 || i >= n) return;
    selected = i;
    reveal(i);
    render();
    const id = data[i][0];
    if (push) history.pushState({ span: id }, '', '?span=' + encodeURIComponent(id));
    const response = await fetch(base + '/spans/' + encodeURIComponent(id));
    if (selected !== i) return;
    const detail = document.getElementById('span-detail');
    // The fragment is server-rendered HTML in which every user value is already escaped.
    detail.innerHTML = await response.text();
  }

  function toggle(i, open) {
    if (!children[i].length) return false;
    const want = open === undefined ? !collapsed[i] : !open;
    if (collapsed[i] === (want ? 1 : 0)) return false;
    collapsed[i] = want ? 1 : 0;
    flatten();
    render();
    return true;
  }

  root.addEventListener('scroll', render, { passive: true });
  root.addEventListener('click', (event) => {
    const a = event.target.closest('a.span-row');
    if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    const i = Number(a.dataset.index);
    if (event.target.classList.contains('caret')) { toggle(i); return; }
    root.focus({ preventScroll: true });
    select(i, true);
  });
  root.addEventListener('keydown', (event) => {
    const p = visible.indexOf(selected);
    let next = -1;
    switch (event.key) {
      case 'ArrowDown': next = visible[Math.min(visible.length - 1, p + 1)]; break;
      case 'ArrowUp': next = visible[Math.max(0, p - 1)]; break;
      case 'ArrowRight':
        if (!toggle(selected, true) && children[selected].length) next = children[selected][0];
        break;
      case 'ArrowLeft':
        if (!toggle(selected, false) && data[selected][1] >= 0) next = data[selected][1];
        break;
      case 'Home': next = visible[0]; break;
      case 'End': next = visible[visible.length - 1]; break;
      default: return;
    }
    event.preventDefault();
    if (next !== undefined && next >= 0 && next !== selected) select(next, true);
  });
  window.addEventListener('popstate', () => {
    const id = new URLSearchParams(location.search).get('span');
    if (byId.has(id)) select(byId.get(id), false);
  });

  flatten();
  render();
  if (selected >= 0) reveal(selected);
  render();
}

// The mlflow client prints links into MLflow's own UI, whose routes live in the fragment
// (`/#/experiments/1`, `/#/experiments/1/runs/<id>`, `/#/models/<name>`). The fragment never
// reaches the server, so such a link lands here: send it to this UI's page for the same thing.
export function mlflowHashRoute(hash, prefix) {
  if (!hash.startsWith('#/')) return null;
  const [path, query] = hash.slice(1).split('?');
  let parts;
  try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch { return null; }
  const params = new URLSearchParams(query || '');
  const enc = encodeURIComponent;
  const [area, id, sub, subId] = parts;
  if (area === 'experiments' && id) {
    const base = prefix + '/experiments/' + enc(id);
    if (sub === 'runs' && subId) return base + '/runs/' + enc(subId);
    const trace = params.get('selectedTraceId') || params.get('selectedEvaluationId');
    if (trace) return base + '/traces/' + enc(trace);
    const page = { runs: 'runs', 'evaluation-runs': 'runs', datasets: 'datasets', judges: 'scorers' }[sub];
    return base + '/' + (page || 'traces');
  }
  if ((area === 'models' || area === 'prompts') && id) return prefix + '/' + area + '/' + enc(id);
  if (area === 'experiments' || area === 'models' || area === 'prompts') return prefix + '/' + area;
  return null;
}

const target = mlflowHashRoute(location.hash, document.documentElement.dataset.prefix || '');
if (target) location.replace(target);

const tree = document.getElementById('span-tree');
if (tree) spanTree(tree);
