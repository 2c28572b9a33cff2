"""Regenerate the real-torch fixture (needs torch; NOT run by the test suite).

    /work/venv-torch/bin/python tests/data/make_torch_fixture.py tests/data

Writes ``torch_ckpt.pth`` (an STCN/RDE-style training checkpoint: DDP-prefixed
``network`` state_dict with BatchNorm, transposed/sliced/shared-storage views,
bf16/fp16/int/bool tensors, plus optimizer and MultiStepLR state) and
``torch_ckpt_ref.npz`` (the network tensors as read back by
``torch.load(weights_only=True)``, bf16 upcast to float32, ``module.`` stripped).
"""
import collections
import sys

import numpy as np
import torch

out = sys.argv[1]
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                        torch.nn.Flatten(), torch.nn.Linear(3, 2))
opt = torch.optim.Adam(m.parameters(), 1e-3)
sched = torch.optim.lr_scheduler.MultiStepLR(opt, [10, 20])  # state holds a collections.Counter
for _ in range(2):
    m(torch.randn(2, 2, 3, 3)).sum().backward()
    opt.step()
sd = m.state_dict()
base = torch.arange(12.0)
sd.update({
    "transposed": torch.randn(3, 4).t(),
    "sliced": torch.randn(5, 6)[1:5:2, 2:5],
    "bf16": torch.randn(2, 3).to(torch.bfloat16),
    "bf16_t": torch.randn(2, 3).to(torch.bfloat16).t(),
    "fp16": torch.randn(2, 3).half(),
    "f64": torch.randn(3, dtype=torch.float64),
    "i32": torch.randint(-9, 9, (3,), dtype=torch.int32),
    "i16": torch.randint(-9, 9, (3,), dtype=torch.int16),
    "i8": torch.randint(-9, 9, (3,), dtype=torch.int8),
    "u8": torch.randint(0, 255, (3,), dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(3.25),
    "empty": torch.zeros(0, 2),
    "view_a": base[:6].view(2, 3),
    "view_b": base[4:],
})
ddp = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
torch.save({"it": 2, "network": ddp, "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict()}, f"{out}/torch_ckpt.pth")

ref = torch.load(f"{out}/torch_ckpt.pth", map_location="cpu", weights_only=True)["network"]
np.savez(f"{out}/torch_ckpt_ref.npz",
         **{k.removeprefix("module."): (v.float() if v.dtype == torch.bfloat16 else v).numpy()
            for k, v in ref.items()})
print("written with torch", torch.__version__)
