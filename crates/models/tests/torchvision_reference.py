# Reference outputs for crates/models/tests/torchvision_layout.rs, made with PyTorch 2.15 and
# torchvision 0.29 from PyPI (python3 torchvision_reference.py; writes tests/data/torchvision/).
#
# Each network gets every parameter and buffer from one fixed formula of its position in
# torchvision's state dict (the Rust test writes the same values), runs in eval mode in float64
# on a fixed input, and the feature maps our backbones stop at are saved:
#   resnet18 / resnet50: after layer4 (before the average pool and fc);
#   squeezenet1_1, vgg16_bn, vgg19: `features`.
# keys.json lists every state-dict key with its shape, so the test also checks the layout.
import json
import os

import numpy as np
import torch
import torchvision

OUT = os.path.join(os.path.dirname(__file__), "data", "torchvision")
os.makedirs(OUT, exist_ok=True)


def value(name, n, shape):
    count = int(np.prod(shape)) if shape else 1
    if name.endswith("num_batches_tracked"):
        return np.full(shape, 7, dtype=np.int64)
    if "running_var" in name:
        return np.ones(shape)
    i = np.arange(count, dtype=np.int64)
    return (((i * 31 + n * 7) % 97) / 970.0 - 0.05).reshape(shape)


def pattern_input(size):
    b, c, h, w = np.meshgrid(np.arange(1), np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    return np.sin(0.1 * (c * 7 + h)) * np.cos(0.05 * w + c)


def features(name, model, x):
    if name.startswith("resnet"):
        m = model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return model.features(x)


keys = {}
size = 64
x = torch.from_numpy(pattern_input(size))
np.save(os.path.join(OUT, "input.npy"), pattern_input(size).astype(np.float32))
for name in ["resnet18", "resnet50", "squeezenet1_1", "vgg16_bn", "vgg19"]:
    model = getattr(torchvision.models, name)(weights=None).double().eval()
    state = model.state_dict()
    loaded = {}
    for n, (k, t) in enumerate(state.items()):
        v = value(k, n, tuple(t.shape))
        loaded[k] = torch.from_numpy(np.asarray(v)).to(t.dtype)
    model.load_state_dict(loaded)
    keys[name] = [[k, list(t.shape)] for k, t in state.items()]
    with torch.no_grad():
        y = features(name, model, x)
    np.save(os.path.join(OUT, f"{name}.npy"), y.numpy().astype(np.float32))
    print(name, tuple(y.shape), float(y.abs().mean()))
with open(os.path.join(OUT, "keys.json"), "w") as f:
    json.dump(keys, f)

# The Keras VGG16 convolutional base as an ONNX file holds it (keras_onnx.rs): kernel i of the
# thirteen, HWIO, value ((j * 31 + i * 7) % 97) / 970 - 0.05 at flat HWIO index j; bias i,
# 0.01 * i - 0.05 for every channel. The same network in torchvision's layout (OIHW) on the
# fixed input gives the reference.
vgg = torchvision.models.vgg16(weights=None).double().eval()
convs = [m for m in vgg.features if isinstance(m, torch.nn.Conv2d)]
for i, conv in enumerate(convs):
    o, c, kh, kw = conv.weight.shape
    j = np.arange(kh * kw * c * o, dtype=np.int64)
    hwio = ((((j * 31 + i * 7) % 97) / 970.0) - 0.05).reshape(kh, kw, c, o)
    conv.weight.data = torch.from_numpy(hwio.transpose(3, 2, 0, 1).copy())
    conv.bias.data = torch.full((o,), 0.01 * i - 0.05, dtype=torch.float64)
with torch.no_grad():
    y = vgg.features(x)
np.save(os.path.join(OUT, "keras_vgg16.npy"), y.numpy().astype(np.float32))
print("keras vgg16", tuple(y.shape), float(y.abs().mean()))
