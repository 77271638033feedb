# conv1 references for crates/models/tests/parity.rs, made with PyTorch 2.15 from PyPI
# (python3 parity_conv1_reference.py [FIXTURE_DIR]; FIXTURE_DIR defaults to
# ../../../../shared/fixtures/parity/mrnet-s1). Writes tests/data/parity/:
#   conv1_output_grad_slice0.npy  d loss / d conv1-output for slice 0, [1, 64, 63, 63], computed
#                                 in float64 (stored as float32)
#   conv1_weight_grad_f32.npy     d loss / d conv1.weight computed by PyTorch in float32
# The MRNet model, input and weighted loss are the shared fixture's (meta.json).
import json
import os
import sys

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../shared/fixtures/parity/mrnet-s1")
OUT = os.path.join(HERE, "data", "parity")
os.makedirs(OUT, exist_ok=True)
meta = json.load(open(os.path.join(FIX, "meta.json")))


def run(dtype):
    alexnet = torchvision.models.alexnet(weights=None)
    state = torch.load(os.path.join(FIX, "alexnet_torchvision.pth"), map_location="cpu")
    alexnet.load_state_dict({**alexnet.state_dict(), **{k: v for k, v in state.items() if k.startswith("features.")}})
    head = torch.nn.Linear(256, meta["classes"])
    head.load_state_dict(torch.load(os.path.join(FIX, "mrnet_head.pth"), map_location="cpu"))
    features = alexnet.features.to(dtype)
    for layer in features:
        if isinstance(layer, torch.nn.ReLU):
            layer.inplace = False  # an in-place ReLU would hand conv1's output the ReLU's gradient
    head = head.to(dtype)
    x = torch.from_numpy(np.load(os.path.join(FIX, "input.npy"))).to(dtype)
    y1 = features[0](x)
    y1.retain_grad()
    h = y1
    for layer in list(features)[1:]:
        h = layer(h)
    pooled = h.mean(dim=(2, 3)).max(dim=0).values
    logits = head(pooled).unsqueeze(0)
    weights = torch.tensor(meta["class_weights"], dtype=dtype)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([meta["label"]]), weight=weights)
    loss.backward()
    print(dtype, "loss", float(loss.detach()), "reference", meta["loss"])
    return y1.grad.detach(), features[0].weight.grad.detach()


dy64, dw64 = run(torch.float64)
dy32, dw32 = run(torch.float32)
np.save(os.path.join(OUT, "conv1_output_grad_slice0.npy"), dy64[:1].numpy().astype(np.float32))
np.save(os.path.join(OUT, "conv1_weight_grad_f32.npy"), dw32.numpy())
ref = np.load(os.path.join(FIX, "grad_conv1_weight.npy")).astype(np.float64)
rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("float64 weight grad vs fixture", rel(dw64.numpy(), ref))
print("float32 weight grad vs fixture", rel(dw32.numpy().astype(np.float64), ref))
print("float32 output grad (slice 0) vs float64", rel(dy32[:1].numpy().astype(np.float64), dy64[:1].numpy()))
