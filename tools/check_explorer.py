#!/usr/bin/env python3
"""Browser check of the explorer: execute a notebook that opens `Explorer(...).widget()` (widget state saved), serve it
with JupyterLab, open it in headless Chromium (driven over the DevTools protocol) and FAIL unless the rendered page's
DOM holds the explorer's controls -- the image picker (a dropdown labelled `image` with options), the `stage` and `step`
sliders (labelled, with a handle) -- and its figure (a decoded PNG <img> inside the explorer's output widget), with no
traceback in the notebook. A screenshot is saved either way (the artefact); on a failure the notebook panel's HTML too.

The live check (`--live`, and part of `--self-test`) drives the explorer against a live kernel: JupyterLab opens the
notebook unexecuted, the explorer cell is run in the page's own kernel (click, Shift+Enter), the step slider is dragged
to its first step and another image is picked in the dropdown, and it FAILS unless the figure on show (a hash of its PNG)
changes after each; a screenshot of each state (`<out>_live_0_run.png`, `_1_step.png`, `_2_image.png`). Broken on purpose
(`--break slider`): the figure ignores the slider, and the check must report exactly that.

    .venv/bin/python tools/check_explorer.py [--checkpoint CKPT] [--out cache/explorer_screenshot.png]
    .venv/bin/python tools/check_explorer.py --break explorer   # the explorer cell raises: must exit 1
    .venv/bin/python tools/check_explorer.py --break figure     # the widget's figure raises (caught by the Output widget,
                                                                # the notebook "succeeds"): must exit 1
    .venv/bin/python tools/check_explorer.py --live             # the live check only
    .venv/bin/python tools/check_explorer.py --break slider     # live, the figure ignores the slider: must exit 1
    .venv/bin/python tools/check_explorer.py --self-test        # both real checks plus the three broken ones, one server:
                                                                # exit 0 only if the real ones pass and every broken one fails

Without a checkpoint a smoke model is trained first (seconds). Exit codes: 0 pass, 1 fail, 3 Chromium not installed
(Debian: apt-get install chromium). Every wait is bounded: kernel start, each cell (--cell-timeout), JupyterLab start,
Chromium start, each DevTools call, the page (--page-timeout).
"""
import argparse, base64, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROME_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--hide-scrollbars', '--window-size=1500,1250', '--remote-debugging-port=0']
W, H = 1500, 1250
BREAKS = {
    'explorer': "raise RuntimeError('explorer cell broken on purpose (--break explorer)')\n",
    'figure': "def _broken(*a, **k): raise RuntimeError('explorer figure broken on purpose (--break figure)')\n",
}
# live check only: the step slider moves, but the figure ignores it (drawn at the last step whatever the slider says)
LIVE_BREAKS = {'slider': "_fig = ex.figure\nex.figure = lambda image, stage, step: _fig(image, stage, ex.steps[-1])\n"}
# what each broken case must be reported for (and what it must not: the figure break leaves the controls in place)
EXPECT = {'explorer': ('image picker', ()), 'figure': ('figure (', ('image picker', 'slider')),
          'slider': ('figure unchanged after moving the step slider', ('picking image', 'did not move'))}

# Evaluated in the page: what of the explorer the DOM holds, in the notebook panel on show.
PROBE = r"""(() => {
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  const r = {panel: !!panel, kernel: null, outputs: 0, image: null, stage: null, step: null, figures: [], tracebacks: []};
  if (!panel) return JSON.stringify(r);
  const label = w => { const l = w.querySelector(':scope > .widget-label'); return l ? l.textContent.trim() : null; };
  const find = (sel, name) => [...panel.querySelectorAll(sel)].find(w => label(w) === name);
  const dd = find('.widget-dropdown', 'image');
  if (dd) { const s = dd.querySelector('select');
            r.image = s ? {options: s.options.length, value: s.selectedIndex >= 0 ? s.options[s.selectedIndex].text : null} : {options: 0}; }
  for (const n of ['stage', 'step']) {
    const s = find('.widget-slider', n);
    if (s) { const ro = s.querySelector('.widget-readout');
             r[n] = {handle: !!s.querySelector('.noUi-handle'), readout: ro ? (ro.value || ro.textContent || '').trim() : null}; }
  }
  const box = dd && dd.closest('.widget-vbox');
  const out = box && box.querySelector('.widget-output');
  if (out) {
    const imgs = [...out.querySelectorAll('img')]
      .filter(i => i.complete && i.naturalWidth >= 200 && i.naturalHeight >= 100 && /^(data:image\/png|blob:)/.test(i.src));
    r.figures = imgs.map(i => [i.naturalWidth, i.naturalHeight]);
    let h = 5381; const src = imgs.length ? imgs[0].src : '';      // which figure is on show: a hash of its data URL
    for (let j = 0; j < src.length; j++) h = ((h * 33) ^ src.charCodeAt(j)) >>> 0;
    r.figure_sig = imgs.length ? `${src.length}:${h}` : null;
  }
  r.tracebacks = [...panel.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent)
      .filter(t => /Traceback \(most recent call last\)/.test(t)).map(t => t.trim().split('\n').slice(-1)[0].slice(0, 300));
  const k = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  r.kernel = k ? k.getAttribute('data-status') : null;
  r.outputs = panel.querySelectorAll('.jp-CodeCell .jp-OutputArea-child').length;
  return JSON.stringify(r);
})()"""


def verdict(r: dict) -> list[str]:
    "What the probed DOM lacks (empty: the check passes)."
    miss = []
    if not r.get('panel'): return ['no notebook panel on show']
    if not (r.get('image') or {}).get('options'): miss.append("image picker (dropdown 'image' with options)")
    for n in ('stage', 'step'):
        if not (r.get(n) or {}).get('handle'): miss.append(f"{n} slider")
    if not r.get('figures'): miss.append("figure (a decoded PNG <img> in the explorer's output widget)")
    if r.get('tracebacks'): miss.append(f"no traceback in the page (found: {r['tracebacks']})")
    return miss


def free_port() -> int:
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p


def wait_for(what: str, ok, timeout: float, every: float = 0.25):
    "Poll `ok()` until it is truthy; raise TimeoutError naming `what` after `timeout` seconds."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = ok()
        if v: return v
        time.sleep(every)
    raise TimeoutError(f'{what}: not within {timeout:.0f} s')


def write_notebook(path: Path, ckpt: str, image: int, stage, broken: str | None):
    src = (BREAKS['explorer'] if broken == 'explorer' else '') + \
          f"from vlmfilm_wb.viz import Explorer\nex = Explorer({str(Path(ckpt).resolve())!r}, split='val')\n" + \
          (BREAKS['figure'] + "ex.figure = _broken\n" if broken == 'figure' else '') + LIVE_BREAKS.get(broken, '') + \
          "w = ex.widget()\n" + f"w.children[0].children[0].value = {image}\n" + \
          (f"w.children[0].children[1].value = {stage}\n" if stage is not None else '') + "w"
    title = f'# Explorer (headless check{", broken on purpose: " + broken if broken else ""})\n' \
            'Pick an image, a decoder stage and a sampler step.'
    cells = [dict(cell_type='markdown', id='title', metadata={}, source=title),
             dict(cell_type='code', id='explorer', metadata={}, source=src, outputs=[], execution_count=None)]
    nb = dict(cells=cells, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')),
              nbformat=4, nbformat_minor=5)
    path.write_text(json.dumps(nb))


def sliced(get_msg, step: float = 1.0):
    """`get_msg(timeout)` of a jupyter_client channel as a loop of polls of at most `step` seconds, same overall timeout.

    The stall this check used to hit (about one execution in five here): the kernel has sent its execute_reply and is
    idle, but nbclient's asyncio poll of the shell socket does not wake up (a missed edge of ZMQ's edge-triggered FD)
    until the poll's own timeout -- the whole cell timeout -- and then reads the reply that was waiting all along, so the
    execution "succeeds" after the full timeout. Reading the socket's ZMQ_EVENTS ends the wait at once; a new poll does
    so, hence the short polls. Seen with pyzmq 27.3 / jupyter_client 8.10 / nbclient 0.11."""
    from queue import Empty
    async def wrapped(timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            left = step if end is None else max(0.0, min(step, end - time.monotonic()))
            try: return await get_msg(timeout=left)
            except Empty:
                if end is not None and time.monotonic() >= end: raise
    return wrapped


def execute(path: Path, cell_timeout: int) -> tuple[float, list[str]]:
    "Run the notebook in place (widget state stored, signed so JupyterLab renders the widget views); (seconds, errors)."
    import nbformat
    from nbclient import NotebookClient
    from nbformat.sign import NotebookNotary

    class Client(NotebookClient):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            for ch in (kc.shell_channel, kc.iopub_channel): ch.get_msg = sliced(ch.get_msg)
            return kc

    nb = nbformat.read(path, as_version=4); t0 = time.perf_counter()
    # allow_errors: a raising cell is reported below, and the page is still checked (and must fail) from the DOM
    Client(nb, timeout=cell_timeout, startup_timeout=120, kernel_name='python3', allow_errors=True, shutdown_kernel='immediate',
           resources={'metadata': {'path': str(ROOT)}}, store_widget_state=True).execute()
    secs = time.perf_counter() - t0
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == 'code'
              for o in c.get('outputs', []) if o.get('output_type') == 'error']
    nbformat.write(nb, path)
    NotebookNotary().sign(nb)
    return secs, errors


class DevTools:
    "A minimal Chrome DevTools protocol client over websocket-client (a jupyter_server dependency); every call bounded."
    def __init__(self, ws_url: str):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True); self.n = 0; self.events = []

    def __call__(self, method: str, timeout: float = 30, **params):
        import websocket
        self.n += 1; mid = self.n
        self.ws.send(json.dumps(dict(id=mid, method=method, params=params)))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0: raise TimeoutError(f'DevTools {method}: no reply within {timeout:.0f} s')
            self.ws.settimeout(left)
            try: msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException: raise TimeoutError(f'DevTools {method}: no reply within {timeout:.0f} s')
            if msg.get('id') == mid:
                if 'error' in msg: raise RuntimeError(f'DevTools {method}: {msg["error"]}')
                return msg.get('result', {})
            if msg.get('method') == 'Runtime.exceptionThrown':
                self.events.append(msg['params']['exceptionDetails'].get('exception', {}).get('description', '')[:300])

    def close(self):
        try: self.ws.close()
        except Exception: pass


def open_browser(chrome: str, work: Path):
    "A fresh headless Chromium and a DevTools connection to its page: (process, DevTools, log file)."
    udd = Path(tempfile.mkdtemp(prefix='chrome_', dir=work))
    log = open(udd.parent / f'{udd.name}.log', 'w')
    proc = subprocess.Popen([chrome, *CHROME_FLAGS, f'--user-data-dir={udd}', 'about:blank'], stdout=subprocess.DEVNULL, stderr=log)
    try:
        port_file = udd / 'DevToolsActivePort'
        wait_for('Chromium DevTools port', lambda: proc.poll() is not None or (port_file.is_file() and port_file.read_text().strip()), 30)
        if proc.poll() is not None: raise RuntimeError(f'Chromium exited ({proc.returncode}); log: {log.name}')
        port = int(port_file.read_text().split()[0])
        def page_target():
            try: ts = json.loads(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=5).read())
            except OSError: return None
            return next((t['webSocketDebuggerUrl'] for t in ts if t.get('type') == 'page'), None)
        cdp = DevTools(wait_for('Chromium page target', page_target, 30))
        cdp('Runtime.enable'); cdp('Page.enable')
        cdp('Emulation.setDeviceMetricsOverride', width=W, height=H, deviceScaleFactor=1, mobile=False)
        return proc, cdp, log
    except BaseException:
        close_browser(proc, None, log); raise


def close_browser(proc, cdp, log):
    if cdp is not None:
        try: cdp('Browser.close', timeout=5)
        except Exception: pass
        cdp.close()
    try: proc.wait(timeout=10)
    except subprocess.TimeoutExpired: proc.kill(); proc.wait(timeout=10)
    log.close()


def check_page(chrome: str, url: str, shot: Path, work: Path, page_timeout: float, settle: float) -> tuple[dict, list[str], float]:
    """Open `url` in a fresh headless Chromium and poll the DOM until the explorer is there (and stays 1.5 s), or the
    page has settled without it (outputs rendered, kernel idle, the probe unchanged for `settle` s), or `page_timeout`."""
    t0 = time.perf_counter(); r = {}
    proc, cdp, log = open_browser(chrome, work)
    try:
        cdp('Page.navigate', url=url)
        end = time.monotonic() + page_timeout; same_since, last = time.monotonic(), None
        while time.monotonic() < end:
            try:
                res = cdp('Runtime.evaluate', expression=PROBE, returnByValue=True, timeout=15)
                r = json.loads(res['result']['value'])
            except (KeyError, ValueError, RuntimeError):
                r = {}                                  # the page is still navigating
            if r != last: same_since, last = time.monotonic(), r
            stable = time.monotonic() - same_since
            if r and not verdict(r) and stable > 1.5: break          # there, and stable: the figure has painted
            if r.get('outputs') and r.get('kernel') == 'idle' and stable > settle: break   # settled without it
            time.sleep(0.5)
        png = cdp('Page.captureScreenshot', format='png', timeout=30)['data']
        shot.parent.mkdir(parents=True, exist_ok=True); shot.write_bytes(base64.b64decode(png))
        miss = verdict(r) if r else ['page never answered the DOM probe']
        if miss:
            html = cdp('Runtime.evaluate', returnByValue=True, timeout=30, expression=
                       "(document.querySelector('.jp-NotebookPanel') || document.documentElement).outerHTML")['result'].get('value', '')
            dump = shot.with_suffix('.html'); dump.write_text(html)
            miss.append(f'page HTML: {dump}')
            if cdp.events: miss.append(f'page exceptions: {cdp.events[:3]}')
        elif shot.with_suffix('.html').is_file(): shot.with_suffix('.html').unlink()   # a stale failure dump
        return r, miss, time.perf_counter() - t0
    finally:
        close_browser(proc, cdp, log)

# JS run in the page for the live check: the explorer's controls in the notebook panel on show (as PROBE finds them)
_FIND = r"""const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null);
  const label = w => { const l = w.querySelector(':scope > .widget-label'); return l ? l.textContent.trim() : null; };
  const find = (sel, name) => panel && [...panel.querySelectorAll(sel)].find(w => label(w) === name);
  const rect = e => { if (!e) return null; const b = e.getBoundingClientRect();
                      return {x: b.left + b.width / 2, y: b.top + b.height / 2, left: b.left, right: b.right, width: b.width}; };"""
EDITOR_JS = "(() => { " + _FIND + " return JSON.stringify(rect(panel && panel.querySelector('.jp-CodeCell .jp-InputArea-editor'))); })()"
STEP_JS = "(() => { " + _FIND + """ const s = find('.widget-slider', 'step');
  return JSON.stringify(s ? {handle: rect(s.querySelector('.noUi-handle')), track: rect(s.querySelector('.noUi-base') || s.querySelector('.noUi-target'))} : null); })()"""
PICK_JS = "(() => { " + _FIND + """ const dd = find('.widget-dropdown', 'image'); const s = dd && dd.querySelector('select');
  if (!s || s.options.length < 2) return JSON.stringify(null);
  const k = (s.selectedIndex + 1) % s.options.length; s.selectedIndex = k; s.dispatchEvent(new Event('change', {bubbles: true}));
  return JSON.stringify(s.options[k].text); })()"""


def _js(cdp, expr):
    try: return json.loads(cdp('Runtime.evaluate', expression=expr, returnByValue=True, timeout=15)['result']['value'])
    except (KeyError, ValueError, RuntimeError, TypeError): return None


def _mouse(cdp, kind, x, y, buttons=1):
    cdp('Input.dispatchMouseEvent', type=kind, x=x, y=y, button='left', buttons=buttons, clickCount=1)


def _until(cdp, ok, timeout: float, stable_for: float = 1.5) -> tuple[dict, bool]:
    "Poll the page (PROBE) until `ok(r)` has held, unchanged, for `stable_for` s; (last probe, whether it did) within `timeout`."
    end, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < end:
        r = _js(cdp, PROBE) or {}
        if r != last: last, since = r, time.monotonic()
        if ok(r) and time.monotonic() - since >= stable_for: return r, True
        time.sleep(0.4)
    return last or {}, False


def check_live(chrome: str, url: str, shot: Path, work: Path, page_timeout: float) -> tuple[dict, list[str], list[Path], float]:
    """The explorer against a live kernel: JupyterLab opens the notebook (unexecuted) with its kernel, the explorer cell is
    run there (click, Shift+Enter), then the step slider is dragged to its first step and another image is picked; FAIL
    unless the figure on show (a hash of its PNG) changes after each. A screenshot of each state: `shot`_live_<k>_<state>.png."""
    t0, miss, shots, r = time.perf_counter(), [], [], {}
    proc, cdp, log = open_browser(chrome, work)
    def snap(k, state):
        f = shot.with_name(f'{shot.stem}_live_{k}_{state}{shot.suffix}'); f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(base64.b64decode(cdp('Page.captureScreenshot', format='png', timeout=30)['data'])); shots.append(f)
    try:
        cdp('Page.navigate', url=url)
        r, ok = _until(cdp, lambda r: r.get('panel') and r.get('kernel') == 'idle', page_timeout, stable_for=2)
        if not ok: return r, [f"the notebook did not open with an idle kernel within {page_timeout:.0f} s (kernel {r.get('kernel')})"], shots, time.perf_counter() - t0
        ed = _js(cdp, EDITOR_JS)
        if not ed: return r, ['no code cell editor in the notebook panel'], shots, time.perf_counter() - t0
        _mouse(cdp, 'mousePressed', ed['x'], ed['y']); _mouse(cdp, 'mouseReleased', ed['x'], ed['y'], buttons=0)
        for kind in ('keyDown', 'keyUp'):            # Shift+Enter: run the cell in the page's own kernel
            cdp('Input.dispatchKeyEvent', type=kind, key='Enter', code='Enter', windowsVirtualKeyCode=13, nativeVirtualKeyCode=13, modifiers=8)
        r, ok = _until(cdp, lambda r: not verdict(r) and r.get('figure_sig') and r.get('kernel') == 'idle', page_timeout)
        snap(0, 'run')
        if not ok: return r, ['after running the cell live: ' + '; '.join(verdict(r) or ['the kernel never went idle'])], shots, time.perf_counter() - t0
        sig, step0 = r['figure_sig'], (r.get('step') or {}).get('readout')
        sl = _js(cdp, STEP_JS)
        if not sl or not sl.get('handle') or not sl.get('track'): miss.append('step slider handle not found')
        else:                                        # drag the handle to the track's left end: the first sampler step
            h, tr = sl['handle'], sl['track']
            _mouse(cdp, 'mousePressed', h['x'], h['y'])
            for f in (0.5, 0.1, 0.0): _mouse(cdp, 'mouseMoved', tr['left'] + 1 + f * (h['x'] - tr['left']), h['y'])
            _mouse(cdp, 'mouseReleased', tr['left'] + 1, h['y'], buttons=0)
            r, ok = _until(cdp, lambda r: r.get('figure_sig') not in (None, sig) and r.get('kernel') == 'idle', 60)
            snap(1, 'step')
            step1 = (r.get('step') or {}).get('readout')
            if step1 == step0: miss.append(f'the step slider did not move (readout {step0!r})')
            elif not ok: miss.append(f'figure unchanged after moving the step slider from {step0} to {step1}')
            sig = r.get('figure_sig') or sig
        picked = _js(cdp, PICK_JS)
        if picked is None: miss.append('no second image to pick')
        else:
            r, ok = _until(cdp, lambda r: r.get('figure_sig') not in (None, sig) and r.get('kernel') == 'idle', 60)
            snap(2, 'image')
            if not ok: miss.append(f'figure unchanged after picking image {picked!r}')
        return r, miss, shots, time.perf_counter() - t0
    finally:
        close_browser(proc, cdp, log)


def start_lab(work: Path, root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    settings = work / 'lab-settings' / '@jupyterlab' / 'apputils-extension'; settings.mkdir(parents=True)
    (settings / 'notification.jupyterlab-settings').write_text(json.dumps(dict(fetchNews='false', checkForUpdates=False)))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(work / 'jcfg'), JUPYTERLAB_SETTINGS_DIR=str(work / 'lab-settings'),
               JUPYTERLAB_WORKSPACES_DIR=str(work / 'lab-workspaces'))
    env.pop('MPLBACKEND', None)     # the live check's kernel is JupyterLab's: Agg (set by tools/test.sh) would hide its figures
    lab = subprocess.Popen([str(Path(sys.executable).parent / 'jupyter'), 'lab', '--no-browser', f'--port={port}',
                            '--ServerApp.token=', '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True',
                            f'--ServerApp.root_dir={root}', '--ServerApp.open_browser=False', '--LabApp.news_url=None']
                           + (['--allow-root'] if os.geteuid() == 0 else []), env=env,
                           stdout=open(work / 'lab.log', 'w'), stderr=subprocess.STDOUT)
    return lab, port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default='')
    ap.add_argument('--out', default=str(ROOT / 'cache' / 'explorer_screenshot.png'), help='screenshot (PNG)')
    ap.add_argument('--image', type=int, default=1); ap.add_argument('--stage', type=int, default=None)
    ap.add_argument('--break', dest='broken', choices=sorted(BREAKS) + sorted(LIVE_BREAKS), help='break the explorer on purpose: the check must fail')
    ap.add_argument('--live', action='store_true', help='only the live check (a kernel behind the page; slider and picker moved)')
    ap.add_argument('--self-test', action='store_true', help='also run both broken cases; pass only if they fail')
    ap.add_argument('--cell-timeout', type=int, default=240, help='seconds per notebook cell')
    ap.add_argument('--page-timeout', type=float, default=120, help='seconds for the page to show the explorer')
    ap.add_argument('--settle', type=float, default=20,
                    help='a page whose outputs are rendered, kernel idle and DOM unchanged this long is final')
    a = ap.parse_args()
    chrome = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    if not chrome: print('chromium not found (apt-get install chromium): the explorer check cannot run'); sys.exit(3)
    t_all = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix='explorer_'))
    out = Path(a.out)
    live = lambda b: 'live' if a.live or b in LIVE_BREAKS else 'saved'
    cases = [(a.broken, out, live(a.broken))]
    if a.self_test:           # the saved-state check, the live check, and each broken on purpose
        cases = [(None, out, 'saved'), (None, out, 'live')] + \
                [(b, out.with_name(f'{out.stem}_broken_{b}{out.suffix}'), live(b)) for b in sorted(BREAKS) + sorted(LIVE_BREAKS)]
    root = work / 'notebooks'; root.mkdir()
    lab, port = start_lab(work, root)                   # starts while the model trains and the notebooks run
    results = []
    try:
        ckpt = a.checkpoint
        if not ckpt:
            import logging, warnings
            from vlmfilm_wb.train import run_config, train
            for name in ('lightning.pytorch', 'lightning.fabric'):    # the smoke model's Trainer chatter (set at import)
                logging.getLogger(name).setLevel(logging.WARNING)
            warnings.filterwarnings('ignore', module='lightning')
            t0 = time.perf_counter()
            train(run_config('smoke', name='explorer', max_steps=8), work / 'run', progress=False)
            ckpt = str(work / 'run' / 'model.ckpt'); print(f'smoke model trained in {time.perf_counter() - t0:.0f} s', flush=True)
        os.environ.pop('MPLBACKEND', None)              # the kernel inherits it: Agg (set by tools/test.sh) hides the figures
        def lab_up():
            try: urllib.request.urlopen(f'http://127.0.0.1:{port}/api/status', timeout=2); return True
            except OSError: return False
        for broken, shot, mode in cases:
            name = ('explorer' if broken is None else f'explorer_broken_{broken}') + ('_live' if mode == 'live' else '') + '.ipynb'
            write_notebook(root / name, ckpt, a.image, a.stage, broken)
            if mode == 'live':
                wait_for('JupyterLab', lambda: lab.poll() is not None or lab_up(), 120)
                url = f'http://127.0.0.1:{port}/lab/workspaces/live-{broken or "ok"}/tree/{name}?reset'
                r, miss, shots, psecs = check_live(chrome, url, shot, work, a.page_timeout)
                print(f'[{broken or "explorer"} live] checked in {psecs:.1f} s: step={r.get("step")} image={r.get("image")}; '
                      f'screenshots {[str(f) for f in shots]}', flush=True)
                results.append((broken, miss, r, mode)); continue
            try: secs, errors = execute(root / name, a.cell_timeout)
            except TimeoutError as e:                   # nbclient's cell or kernel-start timeout
                results.append((broken, [f'notebook execution timed out: {e}'], {}, mode)); continue
            print(f'[{broken or "explorer"}] notebook executed in {secs:.1f} s' + (f'; errors: {errors}' if errors else ''), flush=True)
            if lab.poll() is not None: raise RuntimeError(f'JupyterLab exited ({lab.returncode}); log: {work / "lab.log"}')
            wait_for('JupyterLab', lambda: lab.poll() is not None or lab_up(), 120)
            if lab.poll() is not None: raise RuntimeError(f'JupyterLab exited ({lab.returncode}); log: {work / "lab.log"}')
            url = f'http://127.0.0.1:{port}/lab/workspaces/check-{broken or "ok"}/tree/{name}?reset'
            r, miss, psecs = check_page(chrome, url, shot, work, a.page_timeout, a.settle)
            miss = [f'notebook error: {e}' for e in errors] + miss
            print(f'[{broken or "explorer"}] page checked in {psecs:.1f} s: image={r.get("image")} stage={r.get("stage")} '
                  f'step={r.get("step")} figures={r.get("figures")}; screenshot {shot}', flush=True)
            results.append((broken, miss, r, mode))
    finally:
        lab.terminate()
        try: lab.wait(timeout=20)
        except subprocess.TimeoutExpired: lab.kill(); lab.wait(timeout=10)
    ok = True
    for broken, miss, _, mode in results:
        if broken is None:
            what = 'the explorer, live: the figure follows the step slider and the image picker' if mode == 'live' else \
                   'the explorer renders its controls and figure'
            print(f'PASS: {what}' if not miss else f'FAIL ({mode}): the explorer page lacks:\n  - ' + '\n  - '.join(miss))
            ok &= not miss
        elif a.self_test:           # each broken case must fail, and for its own reason
            want, not_want = EXPECT[broken]
            right = any(want in m for m in miss) and not any(n in m for m in miss for n in not_want)
            print(f'{"PASS" if right else "FAIL"}: broken on purpose ({broken}), the check reports:\n  - ' + '\n  - '.join(miss)
                  if miss else f'FAIL: broken on purpose ({broken}) but the check passed')
            ok &= right
        else:
            print(f'FAIL (broken on purpose: {broken}): the explorer page lacks:\n  - ' + '\n  - '.join(miss) if miss else
                  f'PASS although broken on purpose ({broken}): the check cannot fail')
            ok &= not miss
    ok &= len(results) == len(cases)
    print(f'explorer check: {"ok" if ok else "FAILED"} in {time.perf_counter() - t_all:.0f} s'
          + ('' if ok else f' (notebooks, JupyterLab and Chromium logs kept in {work})'))
    if ok: shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
