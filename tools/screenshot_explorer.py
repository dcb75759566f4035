#!/usr/bin/env python3
"""Headless check of the explorer in JupyterLab: execute a notebook that opens `Explorer(...).widget()` (widget state
saved), serve it with JupyterLab, open it in headless Chromium and save a screenshot.

    .venv/bin/python tools/screenshot_explorer.py [--checkpoint CKPT] [--out explorer.png]

Without a checkpoint a smoke model is trained first (seconds). Needs Debian's `chromium` (apt-get install chromium);
exits 3 when it is missing, so CI can treat the check as optional.
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=''); ap.add_argument('--out', default=str(ROOT/'cache'/'explorer_screenshot.png'))
    ap.add_argument('--image', type=int, default=1); ap.add_argument('--stage', type=int, default=None)
    a = ap.parse_args()
    chrome = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    if not chrome: print('chromium not found (apt-get install chromium): skipping the headless check'); sys.exit(3)
    work = Path(tempfile.mkdtemp(prefix='explorer_'))
    ckpt = a.checkpoint
    if not ckpt:
        from vlmfilm_wb.train import run_config, train
        train(run_config('smoke', name='explorer', max_steps=8), work/'run', progress=False)
        ckpt = str(work/'run'/'model.ckpt')
    stage = 'None' if a.stage is None else a.stage
    cells = [('markdown', '# Explorer (headless check)\nPick an image, a decoder stage and a sampler step.'),
             ('code', f"from vlmfilm_wb.viz import Explorer\nex = Explorer({str(Path(ckpt).resolve())!r}, split='val')\n"
                      f"w = ex.widget()\nw.children[0].children[0].value = {a.image}\nw"),
             ('code', f"import matplotlib.pyplot as plt\nfig = ex.figure({a.image}, {stage}, None)\nplt.show()")]
    nb = dict(cells=[dict(cell_type=k, metadata={}, source=s, **({'outputs': [], 'execution_count': None} if k == 'code' else {}))
                     for k, s in cells], metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')),
              nbformat=4, nbformat_minor=5)
    nbp = work/'explorer.ipynb'; nbp.write_text(json.dumps(nb))
    import nbformat
    from nbclient import NotebookClient
    os.environ.pop('MPLBACKEND', None)          # the kernel inherits it: Agg (set by tools/test.sh) would hide the figures
    nbo = nbformat.read(nbp, as_version=4); t0 = time.perf_counter()
    NotebookClient(nbo, timeout=240, kernel_name='python3', resources={'metadata': {'path': str(ROOT)}},
                   store_widget_state=True).execute()
    print(f'explorer notebook executed in {time.perf_counter() - t0:.0f} s', flush=True)   # now and then it stalls for the whole timeout
    nbformat.write(nbo, nbp)
    from nbformat.sign import NotebookNotary
    NotebookNotary().sign(nbo)                    # trusted: JupyterLab renders widget views only in trusted notebooks
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(work/'jcfg'))
    lab = subprocess.Popen([str(Path(sys.executable).parent/'jupyter'), 'lab', '--no-browser', f'--port={port}', '--ServerApp.token=',
                            '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True', f'--ServerApp.root_dir={work}',
                            '--LabApp.news_url=None', '--ServerApp.open_browser=False']
                           + (['--allow-root'] if os.geteuid() == 0 else []), env=env,
                           stdout=(log := open(work/'lab.log', 'w')), stderr=subprocess.STDOUT)
    def lab_up() -> bool:
        try: urllib.request.urlopen(f'http://127.0.0.1:{port}/lab', timeout=2); return True
        except OSError: return False
    def fail(msg):
        log.flush(); print(f'{msg}; JupyterLab log ({work/"lab.log"}):\n' + (work/'lab.log').read_text()[-3000:]); sys.exit(1)
    try:
        for _ in range(240):
            if lab.poll() is not None or lab_up(): break
            time.sleep(0.5)
        if lab.poll() is not None or not lab_up(): fail(f'JupyterLab did not start on port {port}')
        # start the notebook's kernel before the page opens: the widget manager restores the saved widget state only once
        # the session's kernel is ready, which takes longer in real time than the page gets in headless virtual time
        req = urllib.request.Request(f'http://127.0.0.1:{port}/api/sessions', method='POST', headers={'Content-Type': 'application/json'},
                                     data=json.dumps(dict(path='explorer.ipynb', name='explorer.ipynb', type='notebook',
                                                          kernel=dict(name='python3'))).encode())
        kid = json.loads(urllib.request.urlopen(req, timeout=60).read())['kernel']['id']
        for _ in range(120):
            st = json.loads(urllib.request.urlopen(f'http://127.0.0.1:{port}/api/kernels/{kid}', timeout=10).read())
            if st.get('execution_state') == 'idle': break
            time.sleep(0.5)
        out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [chrome, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               f'--user-data-dir={work/"chrome"}', '--window-size=1500,1250', '--hide-scrollbars',
               '--virtual-time-budget=45000', f'--screenshot={out}', f'http://127.0.0.1:{port}/lab/tree/explorer.ipynb']
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if not out.is_file(): print(r.stderr[-2000:]); sys.exit(1)
        if lab.poll() is not None or not lab_up(): fail('JupyterLab stopped while the page loaded: the screenshot shows no notebook')
        print(f'screenshot: {out} ({out.stat().st_size // 1024} KB)')
    finally:
        lab.terminate(); lab.wait(timeout=30)


if __name__ == '__main__':
    main()
