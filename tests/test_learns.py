"""Training learns: a tiny network overfits one synthetic angiogram (a known answer, not a smoke test).

If the loss, the path object's network input or the sampler's map to p_1 were wrong, the Dice of the one-step
prediction on the very image it was trained on would stay far below 0.9.
"""
import numpy as np, pytest, torch

from vlmfilm_wb.data import normalise_image
from vlmfilm_wb.flow import FlowConfig, SamplerConfig, flow_loss, flow_path, sample
from vlmfilm_wb.metrics import image_metrics
from vlmfilm_wb.model import ModelConfig, VesselFlowNet
from vlmfilm_wb.synthetic import synth_xca


@pytest.mark.parametrize('flow, steps', [('supervised', 60), ('dfm', 150)])
def test_overfits_one_image(flow, steps):
    img, mask, _ = synth_xca(0, size=64, difficulty=0.2)
    x = torch.from_numpy(normalise_image(img))[None, None].float()
    m = torch.from_numpy(mask)[None, None].float()
    fc = FlowConfig(flow=flow); path = flow_path(fc)
    torch.manual_seed(0)
    net = VesselFlowNet(ModelConfig(preset='tiny', film_mode='off'), state_input=path.state_input)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(steps):
        out = flow_loss(net, m, x, None, fc, generator=g)
        opt.zero_grad(); out['loss'].backward(); opt.step()
        first = float(out['loss'].detach()) if first is None else first
    net.eval()
    with torch.no_grad():
        r = sample(lambda x_t, t: path.call(net, x_t, t, x), m.shape, fc, SamplerConfig(), generator=torch.Generator().manual_seed(0))
    dice = image_metrics(r.prob[0, 0].numpy() > 0.5, mask)['dice']
    assert float(out['loss'].detach()) < first / 2
    assert dice >= 0.9, f"{flow}: Dice {dice:.3f} after {steps} steps on the training image"
