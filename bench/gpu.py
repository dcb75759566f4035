#!/usr/bin/env python3
"""GPU check: training throughput, memory and FLOP utilisation of the `gpu` preset, a 2-GPU DDP run, and `vlmfilm-wb eval` speed.

    bench/gpu.sh                       # on a GPU machine: about 3-6 minutes; writes cache/bench_gpu/gpu.json and gpu.md
    bench/gpu.sh --dry-run             # the same steps on the CPU at tiny sizes (fp32, no GPU calls): about a minute
    bench/gpu.sh --peak-tflops 500     # a device not in the table of bf16 peaks

1. **Training, one GPU**: the `gpu` preset (base UNet, 256x256 patches, batch 16, bf16-mixed, channels-last, EMA) for
   `--steps` steps of the real `train()` on synthetic_xca. Each step is timed between Lightning's batch start and end
   hooks with the device synchronised; the first `--warmup` steps are left out. patches/s = batch x processes / median
   step time. Peak memory: `torch.cuda.max_memory_allocated` (CPU: max RSS).
2. **FLOPs**: one training step of the network (condition encoder + FiLM UNet, forward and backward through
   `flow_loss`) counted by `torch.utils.flop_counter.FlopCounterMode` on the device and precision of the run (matmuls,
   convolutions, attention in its math form; 2 FLOPs per multiply-add; normalisations and elementwise ops not counted:
   the model's FLOPs, not a kernel's recomputation). Achieved TFLOP/s =
   FLOPs per step / median step time, as a fraction of the device's dense bf16 peak (`PEAK_BF16_TFLOPS`, or --peak-tflops).
3. **DDP**: the same training with `strategy ddp, devices 2` when more than one GPU is visible (patches/s over both).
4. **Evaluation**: `vlmfilm-wb eval` of the 1-GPU checkpoint on the val split with 1 and 8 sampler steps: s/image
   (the mean over images that eval reports, the first image's warm-up included).

Not part of the test suite (tests/test_bench_gpu.py runs --dry-run). The training runs in child processes
(`gpu.py _train`), so each has its own peak memory and Lightning's `ddp` launcher can start the other rank the same way.
"""
from __future__ import annotations
import argparse, json, os, platform, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# dense bf16 tensor-core peaks (TFLOP/s, without sparsity: half the data sheets' sparse figures), matched on
# torch.cuda.get_device_name (the longest key inside the name: 'NVIDIA H100 80GB HBM3' is the SXM part)
PEAK_BF16_TFLOPS = {'H200': 989.0, 'H200 NVL': 835.0, 'GH200': 989.0, 'H100 80GB HBM3': 989.0, 'H100 SXM': 989.0,
                    'H100 NVL': 835.0, 'H100 PCIe': 756.0, 'A100': 312.0, 'L40S': 362.0, 'L40': 181.0, 'L4': 121.0, 'A10': 125.0}


def peak_tflops(device_name: str, given: float | None = None) -> float | None:
    "The dense bf16 peak of a device (the longest table key contained in its name), or `given`."
    if given: return float(given)
    hits = [k for k in PEAK_BF16_TFLOPS if k.lower() in device_name.lower()]
    return PEAK_BF16_TFLOPS[max(hits, key=len)] if hits else None


# ------------------------------------------------------------------------------------------------ configurations
def bench_config(dry_run: bool, steps: int, **kw):
    "The RunConfig of the training check: the `gpu` preset, or (dry run) tiny CPU sizes in fp32."
    from vlmfilm_wb.train import run_config
    if dry_run:
        cfg = run_config('smoke', dict(max_steps=steps, val_every=10**6, val_limit=1, accelerator='cpu', precision='32-true',
                                       num_workers=0, checkpoint_every=0, log_every=1, threads=1, **kw))
    else:
        cfg = run_config('gpu', dict(max_steps=steps, val_every=10**6, val_limit=2, accelerator='gpu', checkpoint_every=0, **kw))
    return cfg


def network_flops(cfg, device: str = 'cpu', backward: bool = True, breakdown: bool = False):
    """FLOPs of one training step of the network of `cfg` (a batch of `batch_size` patches): condition encoder + FiLM UNet
    through `flow_loss`, forward (+ backward), counted by FlopCounterMode in the run's precision."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from vlmfilm_wb.train import build_network
    from vlmfilm_wb.flow import flow_loss
    from vlmfilm_wb.profiles import PROFILE_DIM
    torch.manual_seed(0)
    net = build_network(cfg).to(device).train()
    B, P = cfg.data.batch_size, cfg.data.patch_size
    g = torch.Generator(device='cpu').manual_seed(0)
    image = (torch.rand(B, 1, P, P, generator=g) * 2 - 1).to(device)
    mask = (torch.rand(B, 1, P, P, generator=g) > 0.8).float().to(device)
    feats = torch.rand(B, PROFILE_DIM, generator=g).to(device)
    if cfg.train.channels_last:
        net = net.to(memory_format=torch.channels_last)
        image, mask = (x.contiguous(memory_format=torch.channels_last) for x in (image, mask))
    amp = torch.autocast(device_type=device.split(':')[0], dtype=torch.bfloat16, enabled=cfg.train.precision == 'bf16-mixed')
    from torch.nn.attention import sdpa_kernel, SDPBackend
    # attention in its math form (QK^T and PV forward, four matmuls backward): the model's FLOPs on every device; the fused
    # kernels are counted differently (flash backward recomputes QK^T; the CPU kernel is not counted at all)
    with FlopCounterMode(display=False) as fc, sdpa_kernel(SDPBackend.MATH):
        with amp:
            cond = net.encode(feats) if net.has_film else None
            out = flow_loss(net, mask, image, cond, cfg.flow)
        if backward: out['loss'].backward()
    total = int(fc.get_total_flops())
    if not breakdown: return total
    return total, {str(op): int(n) for op, n in fc.get_flop_counts().get('Global', {}).items()}


# --------------------------------------------------------------------------------------------- child: one training
def _child_train(spec_path: str):
    "Train the config in a spec JSON with step timing (rank 0 writes the result): the real `train()`, a timing callback added."
    import torch, lightning as L
    import vlmfilm_wb.train as T
    from vlmfilm_wb.core import config_from_dict, write_json
    spec = json.loads(Path(spec_path).read_text())
    cfg = config_from_dict(T.RunConfig, spec['config'])
    cuda = cfg.train.accelerator == 'gpu'
    times = []

    class StepTimer(L.Callback):
        def on_train_batch_start(self, trainer, *a):
            if cuda: torch.cuda.synchronize()
            self.t = time.perf_counter()
        def on_train_batch_end(self, trainer, *a):
            if cuda: torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    build = T.build_trainer
    def build_timed(*a, **k):          # instrumentation only: train() builds its own Trainer, we add the timer to it
        tr = build(*a, **k); tr.callbacks.append(StepTimer()); return tr
    T.build_trainer = build_timed
    if cuda: torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    s = T.train(cfg, spec['out'], store=spec['store'], progress=False)
    wall = time.perf_counter() - t0
    if T.launch_rank() != 0: return
    ts = times[spec['warmup']:]
    world = T.world_size(cfg.train)
    res = dict(steps=len(times), steps_timed=len(ts), step_ms_median=1000 * statistics.median(ts),
               patches_per_s=cfg.data.batch_size * world / statistics.median(ts), processes=world, wall_s=wall,
               train_seconds=s.get('train_seconds'), checkpoint=s.get('checkpoint'))
    if cuda:
        res.update(peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30, memory='torch.cuda.max_memory_allocated (rank 0)')
    else:
        res.update(peak_mem_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, memory='max RSS (CPU)')
    write_json(Path(spec['result']), res)


def run_training(cfg, out: Path, name: str, warmup: int, store: Path, timeout: int) -> dict:
    "Train `cfg` in a child process; its timing result."
    from vlmfilm_wb.core import config_to_dict
    run = out / name
    if run.exists():
        import shutil; shutil.rmtree(run)
    spec = dict(config=config_to_dict(cfg), out=str(run / 'run'), store=str(store), warmup=warmup, result=str(run / 'timing.json'))
    run.mkdir(parents=True)
    (run / 'spec.json').write_text(json.dumps(spec, indent=1))
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    p = subprocess.run([sys.executable, __file__, '_train', str(run / 'spec.json')], cwd=ROOT, env=env, timeout=timeout,
                       capture_output=True, text=True)
    (run / 'log.txt').write_text(p.stdout + p.stderr)
    if p.returncode != 0: raise RuntimeError(f"{name}: training failed (exit {p.returncode}); log {run / 'log.txt'}:\n{(p.stdout + p.stderr)[-3000:]}")
    return json.loads((run / 'timing.json').read_text())


def run_eval(ckpt: str, out: Path, steps: int, limit: int | None, store: Path, dry_run: bool) -> dict:
    "`vlmfilm-wb eval` of a checkpoint on val with `steps` sampler steps: its s/image."
    exe = Path(sys.executable).parent / 'vlmfilm-wb'
    cmd = [str(exe) if exe.exists() else 'vlmfilm-wb', 'eval', ckpt, '--split', 'val', '--steps', str(steps), '--out',
           str(out / f'eval_steps{steps}'), '--no-png', '-q', '--db', str(store)]
    if limit: cmd += ['--limit', str(limit)]
    if dry_run: cmd += ['--threads', '1']
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, **({'CUDA_VISIBLE_DEVICES': ''} if dry_run else {})))
    if p.returncode != 0: raise RuntimeError(f"eval --steps {steps} failed: {(p.stdout + p.stderr)[-3000:]}")
    s = json.loads((out / f'eval_steps{steps}' / 'summary.json').read_text())
    return dict(steps=steps, s_per_image=s['seconds_per_image'], n_images=s['n_images'], nfe_per_window=s.get('nfe_per_window'),
                dice=s['metrics']['dice']['mean'], wall_s=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------------- the report
ROWS = ('device', 'precision', 'model', 'batch x patch', 'steps (timed)', 'patches/s', 'step ms (median)', 'peak memory GiB',
        'FLOPs per step (GFLOP)', 'achieved TFLOP/s', 'bf16 peak TFLOP/s', 'fraction of peak', 'DDP 2 GPUs patches/s',
        'DDP scaling (2 GPUs / 1)', 'eval s/image, 1 step', 'eval s/image, 8 steps')


def table(r: dict) -> str:
    "The markdown table of a report."
    f = lambda v, d=2: '-' if v is None else (f'{v:.{d}f}' if isinstance(v, float) else str(v))
    t, d, e = r['train'], r.get('ddp') or {}, {x['steps']: x for x in r['eval']}
    vals = [r['device'], r['precision'], r['model'], f"{r['batch_size']} x {r['patch_size']}²", f"{t['steps']} ({t['steps_timed']})",
            f(t['patches_per_s'], 1), f(t['step_ms_median'], 1), f(t['peak_mem_gib'], 3) + f" ({t['memory']})",
            f(r['flops_per_step'] / 1e9, 3), f(r['achieved_tflops'], 4 if r['dry_run'] else 1), f(r['peak_tflops'], 0),
            f(r['fraction_of_peak'], 3), f(d.get('patches_per_s'), 1) if d else r.get('ddp_skipped', '-'),
            f(r.get('ddp_scaling'), 2), f(e.get(1, {}).get('s_per_image'), 3), f(e.get(8, {}).get('s_per_image'), 3)]
    head = f"GPU check{' (DRY RUN: CPU, tiny sizes, fp32: not GPU figures)' if r['dry_run'] else ''} — {r['date']}, {r['host']}"
    return '\n'.join([f'### {head}', '', '| measure | value |', '|---|---|', *[f'| {k} | {v} |' for k, v in zip(ROWS, vals)]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--dry-run', action='store_true', help='CPU, tiny sizes, fp32: checks the script, not a GPU')
    ap.add_argument('--out', default=str(ROOT / 'cache' / 'bench_gpu'))
    ap.add_argument('--steps', type=int, default=None, help='training steps (default 300; dry run 12)')
    ap.add_argument('--warmup', type=int, default=None, help='steps left out of the timing (default 30; dry run 4)')
    ap.add_argument('--peak-tflops', type=float, default=None, help="the device's dense bf16 peak, when not in the table")
    ap.add_argument('--eval-limit', type=int, default=None, help='evaluate the first N val images (default all 12; dry run 1)')
    ap.add_argument('--no-ddp', action='store_true')
    a = ap.parse_args(argv)
    import torch
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    steps, warmup = a.steps or (12 if a.dry_run else 300), a.warmup if a.warmup is not None else (4 if a.dry_run else 30)
    if warmup >= steps: sys.exit(f"--warmup {warmup} must be below --steps {steps}")
    if not a.dry_run and not torch.cuda.is_available():
        sys.exit("no CUDA device visible: run on a GPU machine, or pass --dry-run to check the script on the CPU")
    if a.dry_run: torch.set_num_threads(1)
    n_gpu = 0 if a.dry_run else torch.cuda.device_count()
    name = 'cpu (dry run)' if a.dry_run else torch.cuda.get_device_name(0)
    peak = (None if not a.peak_tflops else a.peak_tflops) if a.dry_run else peak_tflops(name, a.peak_tflops)
    if not a.dry_run and peak is None:
        sys.exit(f"{name}: no known bf16 peak; pass --peak-tflops N (the data sheet's dense bf16 TFLOP/s)")
    store = out / 'profiles.sqlite'
    cfg = bench_config(a.dry_run, steps)
    print(f"== training: {cfg.model.preset} UNet, batch {cfg.data.batch_size} x {cfg.data.patch_size}², {cfg.train.precision}, "
          f"{steps} steps on {name}", flush=True)
    t = run_training(cfg, out, 'train_1', warmup, store, timeout=600 if a.dry_run else 420)
    print(f"   {t['patches_per_s']:.1f} patches/s, {t['step_ms_median']:.1f} ms/step, peak {t['peak_mem_gib']:.3f} GiB", flush=True)
    flops, by_op = network_flops(cfg, 'cpu' if a.dry_run else 'cuda', breakdown=True)
    achieved = flops / (t['step_ms_median'] / 1000) / 1e12
    r = dict(dry_run=a.dry_run, date=time.strftime('%Y-%m-%d %H:%M'), host=platform.node(), device=name, gpus_visible=n_gpu,
             torch=torch.__version__, precision=cfg.train.precision, model=cfg.model.preset, batch_size=cfg.data.batch_size,
             patch_size=cfg.data.patch_size, train=t, flops_per_step=flops, flops_by_op=by_op, achieved_tflops=achieved,
             peak_tflops=peak, fraction_of_peak=achieved / peak if peak else None, ddp=None, ddp_scaling=None, eval=[])
    print(f"   {flops / 1e9:.3f} GFLOP per step -> {achieved:.4g} TFLOP/s" + (f" = {achieved / peak:.3f} of {peak:.0f}" if peak else ''), flush=True)
    if n_gpu > 1 and not a.no_ddp:
        print("== DDP: 2 GPUs", flush=True)
        from dataclasses import replace
        c2 = replace(cfg, train=replace(cfg.train, strategy='ddp', devices=2))
        r['ddp'] = run_training(c2, out, 'train_ddp2', warmup, store, timeout=420)
        r['ddp_scaling'] = r['ddp']['patches_per_s'] / t['patches_per_s']
        print(f"   {r['ddp']['patches_per_s']:.1f} patches/s over 2 GPUs ({r['ddp_scaling']:.2f}x one)", flush=True)
    else:
        r['ddp_skipped'] = 'skipped: dry run' if a.dry_run else ('skipped: --no-ddp' if a.no_ddp else f'skipped: {n_gpu} GPU visible')
    for k in (1, 8):
        print(f"== vlmfilm-wb eval, {k} step(s)", flush=True)
        r['eval'].append(run_eval(t['checkpoint'], out, k, a.eval_limit or (1 if a.dry_run else None), store, a.dry_run))
        print(f"   {r['eval'][-1]['s_per_image']:.3f} s/image", flush=True)
    md = table(r)
    (out / 'gpu.json').write_text(json.dumps(r, indent=1, default=str))
    (out / 'gpu.md').write_text(md + '\n')
    print('\n' + md + f"\n\nwritten: {out / 'gpu.json'}, {out / 'gpu.md'}")
    return r


if __name__ == '__main__':
    if len(sys.argv) > 2 and sys.argv[1] == '_train': _child_train(sys.argv[2])
    else: main()
