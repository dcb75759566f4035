"""bench/gpu.sh: the dry run on the CPU prints the table and writes the JSON; the FLOP count of the network equals a count by
hand (2 x multiply-adds of every convolution, linear layer and attention, forward and backward)."""
import json, subprocess, sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'bench'))
import gpu  # noqa: E402


def hand_count(cfg) -> int:
    """FLOPs of one training step of the network of `cfg`, counted from the layer shapes seen by forward hooks: a
    convolution or linear layer does M multiply-adds forward (2M FLOPs), as many again for its weight gradient, and as
    many again for its input gradient when its input needs one; self-attention over N pixels of C channels does
    2 x B N^2 C multiply-adds forward (QK^T and PV) and twice that backward."""
    from vlmfilm_wb.train import build_network
    from vlmfilm_wb.flow import flow_loss
    from vlmfilm_wb.model import Attention
    from vlmfilm_wb.profiles import PROFILE_DIM
    net = build_network(cfg).train()
    total = []

    def layer(m, inp, out):
        x = inp[0]
        if isinstance(m, torch.nn.Conv2d):
            macs = out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            macs = out.numel() * m.in_features
        total.append(2 * macs * (2 + int(x.requires_grad)))

    def attention(m, inp, out):
        B, C, H, W = inp[0].shape
        total.append(2 * (2 * B * (H * W) ** 2 * C) * 3)

    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)): m.register_forward_hook(layer)
        if isinstance(m, Attention): m.register_forward_hook(attention)
    B, P = cfg.data.batch_size, cfg.data.patch_size
    image, mask, feats = torch.rand(B, 1, P, P) * 2 - 1, (torch.rand(B, 1, P, P) > 0.8).float(), torch.rand(B, PROFILE_DIM)
    out = flow_loss(net, mask, image, net.encode(feats), cfg.flow)
    out['loss'].backward()
    return sum(total)


def test_one_convolution_known_answer():
    "FlopCounterMode on one 3x3 convolution: 2 x 2*5*3*9*16*16 forward, twice that backward (input and weight gradients)."
    from torch.utils.flop_counter import FlopCounterMode
    conv, x = torch.nn.Conv2d(3, 5, 3, padding=1), torch.rand(2, 3, 16, 16, requires_grad=True)
    with FlopCounterMode(display=False) as fc: conv(x).sum().backward()
    assert fc.get_total_flops() == 3 * 2 * (2 * 5 * 3 * 9 * 16 * 16) == 414720


def test_network_flops_equal_a_hand_count():
    cfg = gpu.bench_config(True, 8)
    from vlmfilm_wb.model import resolve_model_config
    m = resolve_model_config(cfg.model)
    assert m.preset == 'tiny' and m.attn_levels == [3] and m.film_stages == [0, 1, 2, 3]   # convs, linears, attention, FiLM
    n = gpu.network_flops(cfg)
    assert n == hand_count(cfg) == 847752192, (n, hand_count(cfg))
    assert gpu.network_flops(cfg, backward=False) * 2 < n < 3 * gpu.network_flops(cfg, backward=False)   # the stem has no input gradient


def test_peaks():
    assert gpu.peak_tflops('NVIDIA H100 80GB HBM3') == gpu.peak_tflops('NVIDIA H200') == 989.0
    assert gpu.peak_tflops('NVIDIA A100-SXM4-80GB') == 312.0 and gpu.peak_tflops('NVIDIA L40S') == 362.0
    assert gpu.peak_tflops('Tesla T4') is None and gpu.peak_tflops('Tesla T4', 65) == 65.0


def test_dry_run_table_and_json(workbench, tmp_path):
    out = tmp_path / 'bench'
    r = subprocess.run([str(ROOT / 'bench' / 'gpu.sh'), '--dry-run', '--out', str(out)], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rep = json.loads((out / 'gpu.json').read_text())
    assert rep['dry_run'] is True and rep['precision'] == '32-true' and rep['device'] == 'cpu (dry run)'
    assert {'train', 'flops_per_step', 'flops_by_op', 'achieved_tflops', 'peak_tflops', 'fraction_of_peak', 'ddp', 'eval'} <= set(rep)
    t = rep['train']
    assert t['steps'] == 12 and t['steps_timed'] == 8 and t['patches_per_s'] > 0 and t['peak_mem_gib'] > 0
    assert rep['flops_per_step'] == gpu.network_flops(gpu.bench_config(True, 12))
    assert rep['achieved_tflops'] == pytest.approx(rep['flops_per_step'] / (t['step_ms_median'] / 1000) / 1e12)
    assert [e['steps'] for e in rep['eval']] == [1, 8] and all(e['s_per_image'] > 0 for e in rep['eval'])
    assert rep['eval'][0]['nfe_per_window'] == 1 and rep['eval'][1]['nfe_per_window'] == 8
    md = (out / 'gpu.md').read_text()
    assert 'DRY RUN' in md and md == gpu.table(rep) + '\n'
    assert [l.split(' | ')[0].lstrip('| ') for l in md.splitlines()[4:]] == list(gpu.ROWS)
    assert md in r.stdout + '\n'                                 # the same table printed
