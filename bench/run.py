#!/usr/bin/env python3
"""vlmfilm_wb benchmarks: one command, a printed table, and rows appended to BENCHMARKS.md with the machine named.

    .venv/bin/python bench/run.py                      # everything (about 30-40 minutes on a 2-core CPU)
    .venv/bin/python bench/run.py --only train store   # some sections
    .venv/bin/python bench/run.py --only speed         # fp32 vs bf16-mixed, every throughput as a ratio to BasicUNet (1 thread)
    .venv/bin/python bench/run.py --only parser --quick   # the profile parser on 1 MB adversarial replies
    .venv/bin/python bench/run.py --checkpoint cache/runs/<run>/model.ckpt   # + quality against sampler steps
    .venv/bin/python bench/run.py --only quality --checkpoint CKPT --quality-splits test --quality-steps 1 2 4 8
    .venv/bin/python bench/run.py --only frontier --checkpoint CKPT [--limit N]   # steps {1,2,4,8} x jump x order x samples {1,4}, the settings the flow has

Every case runs in its own subprocess, so its peak memory (max RSS on CPU, torch.cuda.max_memory_allocated on a
GPU) is its own. Ratios (FiLM overhead, each speed switch) are measured side by side in the same invocation.
Not part of the test suite.
"""
from __future__ import annotations
import argparse, json, os, platform, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------------- the cases
def _peak() -> dict:
    import torch
    out = dict(peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if torch.cuda.is_available(): out['peak_cuda_mb'] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _amp(precision: str):
    "A context factory: CPU autocast to bf16 for 'bf16-mixed' (what Lightning's precision plugin does), else nothing."
    import torch
    from contextlib import nullcontext
    return (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if precision == 'bf16-mixed' else nullcontext


def case_train(preset='small', film='on', batch=8, steps=12, warmup=3, patch=256, channels_last=False, compile=False,
               workers=0, scope='image', attn='default', basicunet=False, threads=0, precision='32-true'):
    """Training throughput (patches/s) of the real Lightning loop on synthetic_xca, after `warmup` steps."""
    import torch, lightning as L
    from contextlib import nullcontext
    from vlmfilm_wb.train import run_config, FlowSegModule, VesselDataModule, build_conditioner, precompute_profiles
    from vlmfilm_wb.core import config_to_dict
    if threads: torch.set_num_threads(threads)
    cfg = run_config('cpu', {'model.preset': preset}, film_mode=film, film_stages=[] if film == 'off' else [0, 1, 2, 3], batch_size=batch,
                     patch_size=patch, max_steps=steps, channels_last=channels_last, num_workers=workers,
                     profile_scope=scope, val_every=10**6, precision=precision)
    times = []
    class T(L.Callback):
        def on_train_batch_start(self, *a): self.t = time.perf_counter()
        def on_train_batch_end(self, *a):
            if torch.cuda.is_available(): torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)
    store = Path(tempfile.mkdtemp())/'p.sqlite'
    if basicunet:
        return _basicunet(batch, steps, warmup, patch, precision)
    mod = FlowSegModule(cfg, str(store)); dm = VesselDataModule(cfg); mod.dm = dm
    cond, svc, _ = build_conditioner(cfg, str(store), cfg.model.film_mode); mod.conditioner, mod.service = cond, svc
    precompute_profiles(cfg, dm, svc, progress=False)
    if compile: mod.net = torch.compile(mod.net)
    from torch.nn.attention import sdpa_kernel, SDPBackend
    ctx = sdpa_kernel(SDPBackend.MATH) if attn == 'math' else nullcontext()
    tr = L.Trainer(max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, callbacks=[T()], precision=precision,
                   accelerator='auto', devices=1)
    dm.val_dataloader = lambda: []
    with ctx: tr.fit(mod, datamodule=dm)
    ts = times[warmup:]
    return dict(patches_per_s=batch / statistics.median(ts), step_ms=1000 * statistics.median(ts), steps_timed=len(ts),
                params_m=sum(p.numel() for p in mod.net.parameters()) / 1e6, **_peak())


def _basicunet(batch, steps, warmup, patch, precision='32-true'):
    """The reference the issue quotes: a plain supervised MONAI BasicUNet step (Dice+BCE, Adam 1e-3); bf16-mixed as Lightning
    does it on a CPU (the forward and loss under `torch.autocast('cpu', torch.bfloat16)`, fp32 weights)."""
    import torch
    from monai.networks.nets import BasicUNet
    from monai.losses import DiceCELoss
    torch.manual_seed(0)
    net = BasicUNet(spatial_dims=2, in_channels=1, out_channels=1)
    opt, loss_fn = torch.optim.Adam(net.parameters(), 1e-3), DiceCELoss(sigmoid=True)
    x, y = torch.randn(batch, 1, patch, patch), (torch.rand(batch, 1, patch, patch) < 0.1).float()
    amp = _amp(precision)
    ts = []
    for i in range(steps):
        t = time.perf_counter(); opt.zero_grad()
        with amp(): loss = loss_fn(net(x).float(), y)
        loss.backward(); opt.step(); ts.append(time.perf_counter() - t)
    ts = ts[warmup:]
    return dict(patches_per_s=batch / statistics.median(ts), step_ms=1000 * statistics.median(ts), steps_timed=len(ts),
                params_m=sum(p.numel() for p in net.parameters()) / 1e6, **_peak())


def case_sample(preset='small', size=300, sampler='euler', steps=(1, 2, 4, 8, 16, 32, 50), sw_batch=4, checkpoint='', threads=0,
                precision='32-true'):
    """Seconds and network evaluations per whole image (sliding windows 256, overlap 0.25); bf16-mixed: under CPU autocast."""
    import numpy as np, torch
    if threads: torch.set_num_threads(threads)
    amp = _amp(precision)
    from vlmfilm_wb.model import VesselFlowNet, ModelConfig
    from vlmfilm_wb.condition import Conditioner
    from vlmfilm_wb.flow import FlowConfig, SamplerConfig
    from vlmfilm_wb.infer import Segmenter, InferConfig
    from vlmfilm_wb.data import normalise_image
    torch.manual_seed(0)
    net = VesselFlowNet(ModelConfig(preset=preset, film_mode='null')).eval()
    class Src:
        def __len__(self): return 1
    img = torch.from_numpy(normalise_image(np.random.default_rng(0).integers(0, 255, (size, size), dtype=np.uint8)))[None]
    out = []
    for s in steps:
        seg = Segmenter(net, Conditioner('null', 'image'), FlowConfig(), SamplerConfig(sampler=sampler, sample_steps=s),
                        InferConfig(sw_batch_size=sw_batch))
        with amp(): seg.predict(dict(image=img, index=0, name='warm'), Src())
        t = time.perf_counter()
        with amp(): r = seg.predict(dict(image=img, index=0, name='b'), Src())
        dt = time.perf_counter() - t
        out.append(dict(steps=s, seconds=dt, nfe_per_window=r['nfe_per_window'], windows=r['windows']))
    return dict(rows=out, **_peak())


def case_store(n_entries=2000, lookups=2000):
    """Store lookup latency (warm, SQLite path and in-process memo) and stats-profiler images/s on 300x300 images."""
    import numpy as np
    from vlmfilm_wb.profiles import ProfileConfig, ProfileResult, DEFAULT_PROFILE
    from vlmfilm_wb.store import ProfileStore, ProfileService, profile_key, pixel_hash
    from vlmfilm_wb.stats import StatsProfiler
    from vlmfilm_wb.synthetic import synth_xca
    d = Path(tempfile.mkdtemp())
    st = ProfileStore(d/'p.sqlite')
    keys = [profile_key(f'px{i}', 'fp') for i in range(n_entries)]
    for i in range(0, n_entries, 500):
        st.put_many([(k, 'px', 'fp', ProfileResult(DEFAULT_PROFILE, 'raw')) for k in keys[i:i + 500]])
    rng = np.random.default_rng(0)
    for k in rng.choice(keys, 200): st.get(k)                                    # warm the page cache
    lat = []
    for k in rng.choice(keys, lookups):
        t = time.perf_counter(); st.get(k); lat.append(time.perf_counter() - t)
    imgs = [synth_xca(i, 300, 0.5)[0] for i in range(24)]
    sp = StatsProfiler()
    t = time.perf_counter(); sp.profile(imgs); stats_ips = len(imgs) / (time.perf_counter() - t)
    svc = ProfileService(ProfileConfig(), d/'s.sqlite'); svc.results(imgs)
    svc_lat = []
    for i in range(300):
        t = time.perf_counter(); svc.results([imgs[i % len(imgs)]]); svc_lat.append(time.perf_counter() - t)
    svc2 = ProfileService(ProfileConfig(), d/'s.sqlite', memo_size=0)
    sql_lat = []
    for i in range(300):
        t = time.perf_counter(); svc2.results([imgs[i % len(imgs)]]); sql_lat.append(time.perf_counter() - t)
    q = lambda v, p: 1000 * float(np.percentile(v, p))
    return dict(lookup_median_ms=q(lat, 50), lookup_p95_ms=q(lat, 95), service_memo_median_ms=q(svc_lat, 50),
                service_memo_p95_ms=q(svc_lat, 95), service_sqlite_median_ms=q(sql_lat, 50), service_sqlite_p95_ms=q(sql_lat, 95),
                stats_images_per_s=stats_ips, **_peak())


def case_qwen(mode='json', n=8, size=300, max_new_tokens=96):
    """Tiny random Qwen2.5-VL profiles/s through the real transformers path (300x300 images, default pixel budget)."""
    import numpy as np
    from vlmfilm_wb.qwen import build_tiny_qwen, QwenProfiler
    from vlmfilm_wb.profiles import ProfileConfig
    from vlmfilm_wb.synthetic import synth_xca
    d = build_tiny_qwen(Path(tempfile.mkdtemp())/'tiny')
    prof = QwenProfiler(ProfileConfig(profiler='qwen', vlm_model_path=str(d), feature_mode=mode, max_new_tokens=max_new_tokens))
    imgs = [synth_xca(i, size, 0.5)[0] for i in range(n)]
    prof.profile(imgs[:2])
    t = time.perf_counter(); rs = prof.profile(imgs); dt = time.perf_counter() - t
    return dict(profiles_per_s=n / dt, parse_failure_rate=float(np.mean([r.parse_attempted and not r.profile.parsed for r in rs])), **_peak())


def case_quality(checkpoint, split='test', steps=(1, 2, 4, 8, 16), samplers=('euler', 'heun'), limit=None):
    """Dice of a trained checkpoint against sampler steps on a split (both probability maps)."""
    from vlmfilm_wb.checkpoint import load_run
    from vlmfilm_wb.flow import sampler_settings
    from vlmfilm_wb.analysis import sampler_grid
    with load_run(checkpoint) as run:
        t = time.perf_counter()
        grid = sampler_settings(run.cfg.flow, run.cfg.sampler, sampler=samplers, sample_steps=steps, prob_map=['last_p1', 'final_eval'])
        rows = sampler_grid(run.segmenter, run.split(split), grid, n_images=limit)
        return dict(rows=[{k: v for k, v in r.items() if k != 'per_image'} for r in rows], seconds=time.perf_counter() - t,
                    dataset=str(run.cfg.data.dataset), split=split, **_peak())


FRONTIER_COLUMNS = ['steps', 'jump', 'order', 't_grid', 'temperature', 'samples', 'nfe', 'dice', 'dice_lo', 'dice_hi', 'cldice',
                    'betti0_error', 'betti0_lo', 'betti0_hi', 'ece', 'uncertainty_error_corr', 'n_images', 'seconds_per_image']


def case_frontier(checkpoint, split='test', steps=(1, 2, 4, 8), jumps=('stochastic', 'argmax'), samples=(1, 4), limit=None, out_dir='',
                  orders=('random',), t_grids=(None,), temperatures=(None,)):
    """The sampler frontier of a checkpoint (issue 14): for every steps x jump rule x jump order x time grid x temperature
    x samples K the flow can use and that does not repeat another (`flow.sampler_settings`; a None time grid or
    temperature: the checkpoint's), Dice, clDice, Betti-0 error, NFE per window and ECE (`analysis.sampler_grid`: mean
    over the first `limit` images of a split, CIs for Dice and Betti-0); writes frontier.csv, frontier.md and
    frontier.png (Dice against Betti-0 error, marker area ~ NFE) into `out_dir`."""
    import matplotlib
    import pandas as pd
    from vlmfilm_wb.checkpoint import load_run
    from vlmfilm_wb.data import format_table
    from vlmfilm_wb.flow import sampler_settings
    from vlmfilm_wb.analysis import sampler_grid
    from vlmfilm_wb.viz import plot_frontier, save_figure
    with load_run(checkpoint) as run:
        cfg, t = run.cfg, time.perf_counter()
        grid = sampler_settings(cfg.flow, cfg.sampler, sample_steps=steps, jump=jumps, order=orders, t_grid=t_grids, temperature=temperatures, samples=samples)
        show = lambda r: print(json.dumps({k: r[k] for k in FRONTIER_COLUMNS}), file=sys.stderr, flush=True)
        rows = [{k: r[k] for k in FRONTIER_COLUMNS} for r in sampler_grid(run.segmenter, run.split(split), grid, n_images=limit, on_row=show)]
    n = rows[0]['n_images'] if rows else 0
    out = Path(out_dir or ROOT/'cache'/'bench'/f"frontier_{Path(str(cfg.data.dataset)).name}_{split}_{time.strftime('%Y%m%dT%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=FRONTIER_COLUMNS)
    df.to_csv(out/'frontier.csv', index=False)
    cols = ['steps', 'jump', 'order', 't_grid', 'temperature', 'samples', 'nfe', 'dice', 'cldice', 'betti0_error', 'ece', 'uncertainty_error_corr', 'n_images']
    cell = lambda v: f'{v:.4f}' if isinstance(v, float) else str(v)
    (out/'frontier.md').write_text(f"checkpoint `{checkpoint}`, {cfg.data.dataset} {split}, {n} images\n\n"
                                   + '\n'.join(['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
                                                + ['| ' + ' | '.join(cell(r[c]) for c in cols) + ' |' for r in rows]) + '\n')
    print(format_table(df[cols].round(4).to_dict('records')), file=sys.stderr)
    matplotlib.use('Agg')
    save_figure(plot_frontier(df, f"{Path(str(cfg.data.dataset)).name} {split} ({n} images)"), out/'frontier.png')
    return dict(rows=rows, seconds=time.perf_counter() - t, dataset=str(cfg.data.dataset), split=split, out_dir=str(out), **_peak())


def case_parser(mb=1.0, repeats=3):
    """Profile-parser seconds on 1 MB adversarial replies (issue 27 item 11: was minutes; the bound is under a second)."""
    from vlmfilm_wb.profiles import parse_profile
    n, tail = 48_000, lambda h: h + ' and more.' * max(0, int((mb * 2**20 - len(h)) / 10))
    replies = {  # each: 64 nested '{' within the 50,000 characters read, every one a candidate that fails to decode
        'profile 63 deep in broken objects, a 48k-space bare key': tail('{"a": ' * 62 + '{"profile": {"difficulty": 4}, "notes": ok, a'
                                                                        + ' ' * n + 'b}' + '}' * 62),
        '64 nested broken objects of single-quoted strings': tail('{' * 64 + "difficulty: 2, " + "'a', " * (n // 5) + '}' * 64),
        '64 nested broken objects of bare words': tail('{' * 64 + 'difficulty: 2, ' + 'a ' * (n // 2) + '}' * 64)}
    out = {}
    for what, s in replies.items():
        ts = []
        for _ in range(repeats):
            t = time.perf_counter(); p = parse_profile(s); ts.append(time.perf_counter() - t)
        out[what] = dict(seconds=statistics.median(ts), chars=len(s), parsed=p.parsed)
    return dict(rows=out, **_peak())


CASES = dict(train=case_train, sample=case_sample, store=case_store, qwen=case_qwen, quality=case_quality, frontier=case_frontier, parser=case_parser)


# ----------------------------------------------------------------------------------------------------- the driver
def run_case(name, **kw) -> dict:
    "Run one case in a fresh subprocess; returns its JSON result."
    cmd = [sys.executable, __file__, '--case', name, '--kwargs', json.dumps(kw)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    line = [l for l in r.stdout.splitlines() if l.startswith('RESULT ')]
    if r.returncode or not line:
        print(r.stderr[-3000:], file=sys.stderr); return dict(error=r.stderr[-500:])
    return json.loads(line[-1][7:])


def machine() -> str:
    import torch
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'
    flags = next((l.split(':', 1)[1].split() for l in open('/proc/cpuinfo') if l.startswith('flags')), [])
    bf16 = [f for f in ('avx512_bf16', 'amx_bf16') if f in flags]
    cpu += f" ({'+'.join(bf16) if bf16 else 'no CPU bf16 instructions'})"
    return f"{os.cpu_count()}-core {cpu}, {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, {dev}, torch {torch.__version__}"


def speed_section(add, steps, quick):
    """Issue 29's speed table, one thread, side by side: training patches/s of tiny/small/base DFM (FiLM on) at batch 4 and 8 in
    fp32 and bf16-mixed, each as a ratio to MONAI BasicUNet fp32 at the same batch measured in this run; eval s/image at 1 and
    4 NFE in both precisions; peak RSS of each case."""
    ref = {}
    for batch in (4, 8):
        for prec in ('32-true', 'bf16-mixed'):
            r = run_case('train', basicunet=True, batch=batch, steps=steps, warmup=3, threads=1, precision=prec)
            if 'error' in r: continue
            if prec == '32-true': ref[batch] = r['patches_per_s']
            add('speed', f'BasicUNet supervised 256x256 batch {batch}, {prec}, 1 thread', f"{r['patches_per_s']:.2f}", 'patches/s',
                f"{r['patches_per_s'] / ref[batch]:.2f}x BasicUNet fp32, peak RSS {r['peak_rss_mb']:.0f} MB" if batch in ref else '')
    for preset in ('tiny', 'small') + (() if quick else ('base',)):
        for batch in (4, 8):
            pps = {}
            for prec in ('32-true', 'bf16-mixed'):
                big = preset == 'base'
                r = run_case('train', preset=preset, film='on', batch=batch, steps=6 if big else steps, warmup=2 if big else 3, threads=1,
                             precision=prec)
                if 'error' in r: continue
                pps[prec] = r['patches_per_s']
                add('speed', f'{preset} DFM FiLM on 256x256 batch {batch}, {prec}, 1 thread', f"{r['patches_per_s']:.2f}", 'patches/s',
                    (f"{r['patches_per_s'] / ref[batch]:.2f}x BasicUNet fp32; " if batch in ref else '') +
                    f"{r['params_m']:.2f}M params, peak RSS {r['peak_rss_mb']:.0f} MB")
            if len(pps) == 2: add('speed', f'{preset} batch {batch}: bf16-mixed / fp32', f"{pps['bf16-mixed'] / pps['32-true']:.2f}", 'x speed')
    for prec in ('32-true', 'bf16-mixed'):
        r = run_case('sample', preset='small', size=512, sampler='euler', steps=[1, 4], threads=1, precision=prec)
        for row in r.get('rows', []):
            add('speed', f'small eval 512x512, {row["nfe_per_window"]} NFE/window, {prec}, 1 thread', f"{row['seconds']:.2f}", 's/image',
                f"{row['windows']} windows, peak RSS {r['peak_rss_mb']:.0f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--case'); ap.add_argument('--kwargs', default='{}')
    ap.add_argument('--only', nargs='*', default=['train', 'speed', 'switches', 'sample', 'store', 'qwen', 'quality', 'parser'])
    ap.add_argument('--checkpoint', default='', help='a trained checkpoint for the quality-against-steps section')
    ap.add_argument('--quality-splits', nargs='*', default=['val', 'test'], help='splits of the quality section')
    ap.add_argument('--quality-steps', nargs='*', type=int, default=None, help='sampler steps of the quality section (default 1 2 4 8 16; 1 2 4 8 with --quick)')
    ap.add_argument('--limit', type=int, default=None, help='quality and frontier: first N images of the split only')
    ap.add_argument('--frontier-split', default='test', help='split of the frontier section')
    ap.add_argument('--frontier-steps', nargs='*', type=int, default=[1, 2, 4, 8])
    ap.add_argument('--frontier-jumps', nargs='*', default=['stochastic', 'argmax'])
    ap.add_argument('--frontier-orders', nargs='*', default=['random'], help='DFM jump orders: random, confidence')
    ap.add_argument('--frontier-t-grids', nargs='*', default=[None], help='sampler time grids: uniform, cosine, late, early')
    ap.add_argument('--frontier-temperatures', nargs='*', type=float, default=[None], help='stochastic-jump temperatures (< 1 sharpens)')
    ap.add_argument('--frontier-samples', nargs='*', type=int, default=[1, 4], help='samples K per window (ensembles)')
    ap.add_argument('--frontier-dir', default='', help='folder of frontier.csv/.md/.png (default cache/bench/frontier_<dataset>_<split>_<stamp>)')
    ap.add_argument('--quick', action='store_true', help='fewer steps and step counts (a quick look, not for BENCHMARKS.md)')
    ap.add_argument('--out', default=str(ROOT/'BENCHMARKS.md'))
    a = ap.parse_args()
    if a.case:
        res = CASES[a.case](**json.loads(a.kwargs)); print('RESULT ' + json.dumps(res)); return
    mach, stamp = machine(), time.strftime('%Y-%m-%d')
    rows, notes = [], []
    def add(section, what, value, unit, extra=''):
        rows.append((section, what, value, unit, extra)); print(f"{section:10s} {what:58s} {value:>10} {unit:12s} {extra}", flush=True)
    steps = 8 if a.quick else 14
    if 'train' in a.only:
        res = {}
        for preset in ('tiny', 'small', 'base'):
            for film in ('on', 'off'):
                if preset == 'base' and a.quick: continue
                r = run_case('train', preset=preset, film=film, batch=8, steps=steps if preset != 'base' else 6, warmup=3 if preset != 'base' else 2)
                res[(preset, film)] = r
                if 'error' not in r:
                    add('train', f'{preset} DFM 256x256 batch 8, FiLM {film}', f"{r['patches_per_s']:.2f}", 'patches/s',
                        f"{r['params_m']:.2f}M params, peak RSS {r['peak_rss_mb']:.0f} MB")
            on, off = res.get((preset, 'on'), {}), res.get((preset, 'off'), {})
            if 'step_ms' in on and 'step_ms' in off:
                add('train', f'{preset} FiLM overhead (step time on/off − 1)', f"{100 * (on['step_ms'] / off['step_ms'] - 1):+.1f}", '%')
        for film in ('on', 'off'):
            r = run_case('train', preset='small', film=film, batch=4, steps=steps + 6, warmup=4)
            if 'error' not in r: add('train', f'small DFM 256x256 batch 4, FiLM {film} (target >= 1.6)', f"{r['patches_per_s']:.2f}", 'patches/s',
                                      f"peak RSS {r['peak_rss_mb']:.0f} MB")
        r = run_case('train', basicunet=True, batch=4, steps=steps, warmup=3)
        if 'error' not in r: add('train', 'reference: MONAI BasicUNet supervised, batch 4', f"{r['patches_per_s']:.2f}", 'patches/s',
                                  f"{r['params_m']:.2f}M params, peak RSS {r['peak_rss_mb']:.0f} MB")
    if 'speed' in a.only:
        speed_section(add, steps, a.quick)
    if 'switches' in a.only:
        base = run_case('train', preset='small', film='on', batch=4, steps=steps, warmup=3)
        for label, kw in [('channels_last', dict(channels_last=True)), ('attention: math kernel instead of fused SDPA', dict(attn='math')),
                          ('profiles computed in the loop (scope patch) instead of precomputed', dict(scope='patch')),
                          ('DataLoader with 2 workers instead of 0', dict(workers=2)),
                          ('torch.compile', dict(compile=True))]:
            if a.quick and 'compile' in label: continue
            r = run_case('train', preset='small', film='on', batch=4, steps=steps + (6 if 'compile' in label else 0),
                         warmup=3 + (4 if 'compile' in label else 0), **kw)
            if 'error' not in r and 'error' not in base:
                add('switch', f'small batch 4: {label}', f"{base['step_ms'] / r['step_ms']:.2f}", 'x speed',
                    f"{r['patches_per_s']:.2f} vs {base['patches_per_s']:.2f} patches/s")
    if 'sample' in a.only:
        st = (1, 4, 8) if a.quick else (1, 2, 4, 8, 16, 32, 50)
        for size in (300, 512):
            for smp in ('euler', 'heun'):
                r = run_case('sample', size=size, sampler=smp, steps=list(st))
                for row in r.get('rows', []):
                    add('sample', f'small {size}x{size} {smp} {row["steps"]} steps ({row["windows"]} windows)', f"{row['seconds']:.2f}",
                        's/image', f"{row['nfe_per_window']} NFE/window, peak RSS {r['peak_rss_mb']:.0f} MB")
        for sw in (1, 4):
            r = run_case('sample', size=512, sampler='euler', steps=[4], sw_batch=sw)
            if 'rows' in r: add('switch', f'sliding windows, 512x512 euler 4 steps: {sw} window(s) per call', f"{r['rows'][0]['seconds']:.2f}", 's/image')
    if 'store' in a.only:
        r = run_case('store')
        if 'error' not in r:
            add('store', 'SQLite lookup, warm (median / p95) (target <= 1 ms)', f"{r['lookup_median_ms']:.3f}", 'ms', f"p95 {r['lookup_p95_ms']:.3f} ms")
            add('store', 'service lookup incl. pixel hash, via SQLite (median / p95)', f"{r['service_sqlite_median_ms']:.3f}", 'ms', f"p95 {r['service_sqlite_p95_ms']:.3f} ms")
            add('store', 'service lookup incl. pixel hash, in-process memo', f"{r['service_memo_median_ms']:.3f}", 'ms', f"p95 {r['service_memo_p95_ms']:.3f} ms")
            add('store', 'stats profiler, 300x300 images', f"{r['stats_images_per_s']:.1f}", 'images/s', f"peak RSS {r['peak_rss_mb']:.0f} MB")
    if 'qwen' in a.only:
        for mode in ('json', 'text_embed', 'vision', 'logits'):
            r = run_case('qwen', mode=mode)
            if 'error' not in r: add('qwen', f'tiny Qwen2.5-VL, {mode}, 300x300, batch 8', f"{r['profiles_per_s']:.1f}", 'profiles/s',
                                      f"parse failures {100 * r['parse_failure_rate']:.0f} %, peak RSS {r['peak_rss_mb']:.0f} MB")
    if 'parser' in a.only:
        r = run_case('parser')
        for what, row in r.get('rows', {}).items():
            add('parser', f"{row['chars'] / 2**20:.1f} MB reply: {what} (target < 1 s)", f"{row['seconds']:.3f}", 's',
                f"parsed {row['parsed']}")
    if 'quality' in a.only and a.checkpoint:
        for split in a.quality_splits:
            r = run_case('quality', checkpoint=a.checkpoint, split=split, steps=a.quality_steps or ([1, 2, 4, 8] if a.quick else [1, 2, 4, 8, 16]),
                         limit=a.limit)
            for row in r.get('rows', []):
                add('quality', f"{r['dataset']} {split} {row['sampler']} {row['steps']} steps, {row['prob_map']}", f"{row['dice']:.4f}", 'Dice',
                    f"{row['nfe']} NFE/window, clDice {row['cldice']:.4f}, Betti-0 err {row['betti0_error']:.2f}")
    if 'frontier' in a.only and a.checkpoint:
        r = run_case('frontier', checkpoint=a.checkpoint, split=a.frontier_split, steps=a.frontier_steps, jumps=a.frontier_jumps,
                     orders=a.frontier_orders, t_grids=a.frontier_t_grids, temperatures=a.frontier_temperatures, samples=a.frontier_samples, limit=a.limit, out_dir=a.frontier_dir)
        for row in r.get('rows', []):
            add('frontier', f"{Path(r['dataset']).name} {r['split']} {row['steps']} steps, {row['jump']}, {row['order']} order, {row['t_grid']} grid, T={row['temperature']:g}, K={row['samples']} ({row['n_images']} images)",
                f"{row['dice']:.4f}", 'Dice', f"{row['nfe']} NFE/window, clDice {row['cldice']:.4f}, Betti-0 err {row['betti0_error']:.2f}, ECE {row['ece']:.4f}")
        if 'out_dir' in r: notes.append(f"frontier table and figure: {r['out_dir']}/frontier.md, frontier.png"); print(notes[-1])
        elif 'error' in r: raise SystemExit(f"frontier failed: {r['error']}")
    if a.quick: print('(--quick: not written to BENCHMARKS.md)'); return
    out = Path(a.out)
    head = '' if out.exists() else ('# Benchmarks\n\nRows are appended by `python bench/run.py`; each block names its machine. '
                                    'Ratios compare cases measured side by side in the same block.\n')
    block = [f"\n## {stamp}: {mach}\n", f"command: `python bench/run.py {' '.join(sys.argv[1:])}`\n",
             '| section | case | value | unit | notes |', '|---|---|---|---|---|'] + [f'| {s} | {w} | {v} | {u} | {e} |' for s, w, v, u, e in rows] + (['', *notes] if notes else [])
    with open(out, 'a', encoding='utf-8') as f: f.write(head + '\n'.join(block) + '\n')
    print(f'appended {len(rows)} rows to {out}')


if __name__ == '__main__':
    main()
