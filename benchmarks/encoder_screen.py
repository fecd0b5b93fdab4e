"""Short screens of encoder input variants (docs/tuning.md, 2026-12-03): train with ``train.fit``, no checkpoint, score val (and test) mm.

The cpu profile's encoder with JSON overrides, optionally with the depth channel presented another
way (``--mode``): ``base`` as the library builds it; ``zero`` the depth channel replaced by the
face's depth minus its mean × ``--scale`` (no raw depth); ``zerocat`` the library's shared-network
layout (raw channels + centred depth) with the centred depth at mean 0 × ``--scale``; ``std`` the
depth channel replaced by the per-face standardised depth. ``--channels-last`` feeds the
network channels-last tensors. Appends a JSON line to ``logs/screen.jsonl``.

    PYTHONPATH=lib RADARFACE_DATA=/work/main/data python benchmarks/encoder_screen.py NAME both '{"encoder_epochs": 3}' --channels-last --mode zerocat --scale 8
"""
import json, sys, time, argparse
import torch
from torch import nn
from radarface import facemodel, metrics, profiles, train
from radarface.models import encoder as E
from radarface.models.encoder import encoder_data, build_encoder, encoder_loss
from radarface.train import predict

p = argparse.ArgumentParser()
p.add_argument("name"); p.add_argument("inputs"); p.add_argument("overrides", default="{}")
p.add_argument("--mode", default="base")  # base | zero | std | raw
p.add_argument("--scale", type=float, default=8.0)
p.add_argument("--amp", type=float, default=1.0)
p.add_argument("--test", action="store_true")
p.add_argument("--channels-last", action="store_true")
a = p.parse_args()
ov = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(a.overrides).items()}
ov.setdefault("train_threads", 1)
cfg = profiles.resolve("cpu", **ov)
torch.set_num_threads(1)
data = encoder_data(cfg, a.inputs)
fields = tuple(data["train"].fields)

class Pre(nn.Module):
    def __init__(self, net, mode, fields, scale, amp):
        super().__init__(); self.net, self.mode, self.fields, self.scale, self.amp = net, mode, fields, scale, amp
    def forward(self, x):
        chans = []
        for c, name in enumerate(self.fields):
            v = x[:, c]
            if name == "depth" and self.mode in ("zero", "std"):
                face = v > 0
                n = face.sum(dim=(1, 2)).clamp(min=1)
                mean = (v * face).sum(dim=(1, 2)) / n
                d = torch.where(face, v - mean[:, None, None], torch.zeros_like(v))
                if self.mode == "std":
                    sd = ((d ** 2).sum(dim=(1, 2)) / n).sqrt().clamp(min=1e-3)
                    d = d / sd[:, None, None]
                else:
                    d = d * self.scale
                v = d
            if name == "amplitude":
                v = v * self.amp
            chans.append(v)
        x = torch.stack(chans, 1)
        if a.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

if a.mode == "zerocat":
    def _cd(images, channel, scale=a.scale):
        depth = images[:, channel]
        face = depth > 0
        mean = (depth * face).sum(dim=(1, 2)) / face.sum(dim=(1, 2)).clamp(min=1)
        centred = torch.where(face, (depth - mean[:, None, None]) * scale, torch.zeros_like(depth))
        return torch.cat([images[:, :channel], centred[:, None], images[:, channel + 1:]], dim=1)
    E.centred_depth = _cd
if a.mode in ("base", "zerocat"):
    model = build_encoder(cfg, data["train"].channels, data["train"].slices, image_size=64, fields=fields)
    if a.amp != 1.0 or a.channels_last:
        model = Pre(model, "none", fields, 1.0, a.amp)
else:
    cfg2 = dict(cfg, encoder_center_depth=False)
    model = Pre(build_encoder(cfg2, data["train"].channels, data["train"].slices, image_size=64, fields=fields),
                a.mode, fields, a.scale, a.amp)
if a.channels_last:
    model = model.to(memory_format=torch.channels_last)
print(model, file=sys.stderr)
loss = encoder_loss(cfg, data["train"].slices, fields)
t0 = time.perf_counter()
fit = train.fit(model, loss, data["train"], data["val"], epochs=int(cfg["encoder_epochs"]),
                batch_size=int(cfg["encoder_batch"]), lr=cfg["encoder_lr"], checkpoint=None, seed=E.encoder_seed(cfg),
                threads=1, weight_decay=float(cfg["encoder_weight_decay"]), select=cfg["encoder_select"],
                optimizer=cfg["encoder_optimizer"], progress=False,
                on_epoch_end=lambda e, r: print(json.dumps({k: round(v, 4) for k, v in r.items()}), flush=True))
secs = time.perf_counter() - t0
model.eval()
face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
rows = {}
for split in (("val", "test") if a.test else ("val",)):
    images, true = data[split].tensors()
    rows[split] = metrics.evaluate(face, true.numpy(), predict(model, images).numpy(), data[split].slices,
                                   data[split].denormalise)
out = {"name": a.name, "inputs": a.inputs, "mode": a.mode, "scale": a.scale, "amp": a.amp, "overrides": ov,
       "seconds": round(secs), "s_per_epoch": round(fit.seconds_per_epoch, 1), "best_epoch": fit.best_epoch,
       "val_loss": fit.history["val_loss"], "val_mm": rows["val"]["vertex_mm"],
       "test_mm": rows.get("test", {}).get("vertex_mm"), "rows": rows}
print(json.dumps(out, default=str), flush=True)
with open("logs/screen.jsonl", "a") as fh:
    fh.write(json.dumps(out, default=str) + "\n")
