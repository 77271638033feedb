"""Makes an MRNet parity fixture as ../shared/fixtures/parity/mrnet-s1 was made: random AlexNet
and head weights in float32 (torchvision's key layout), a random exam, MRNet's preprocessing,
and every reference computed by PyTorch in float64 (stored as float32).

    python3 scripts/parity_fixture.py --out target/parity/mrnet-s2 --seed 2 --slices 7 --classes 2
    CRUCIATE_PARITY_FIXTURE=target/parity/mrnet-s2 cargo test -p cruciate-models --test parity

    python3 scripts/parity_fixture.py --check ../shared/fixtures/parity/mrnet-s1

`--check DIR` recomputes a fixture's references from its own weights and input and prints how
far each stored array is from them (it is how this script was checked against the shared
fixture: within 6e-8, the float32 storage), then PyTorch's own float32 and bf16-autocast errors
on it. Needs torch, torchvision, numpy and safetensors. VGG16 files are not made (the parity
tests skip them for a fixture other than the shared one). Besides the fixture's own fields,
meta.json records PyTorch's float32 and bf16-autocast errors on the same weights and input.
"""

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file

MEAN, STD = 58.09, 49.73


def preprocess(volume_u8):
    """MRNet's: min-max to [0, 255], (x - mean) / std, repeated to 3 channels; float64."""
    v = volume_u8.astype(np.float64)
    v = (v - v.min()) / max(v.max() - v.min(), 1e-12) * 255.0
    v = (v - MEAN) / STD
    return np.repeat(v[:, None], 3, axis=1)


def load(fixture):
    features = torchvision.models.alexnet(weights=None).features
    state = torch.load(os.path.join(fixture, "alexnet_torchvision.pth"), map_location="cpu")
    features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
    head_state = torch.load(os.path.join(fixture, "mrnet_head.pth"), map_location="cpu")
    head = torch.nn.Linear(256, head_state["weight"].shape[0])
    head.load_state_dict(head_state)
    return features, head


def references(features, head, x, label, class_weights, dtype=torch.float64, autocast=False):
    """Every array of the fixture computed in `dtype` (or in bf16 autocast)."""
    features = [m for m in features.to(dtype)]
    for m in features:
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    head = head.to(dtype)
    for p in list(head.parameters()) + [p for m in features for p in m.parameters()]:
        p.grad = None
    x = torch.as_tensor(x, dtype=dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        h = x
        for m in features:
            h = m(h)
        activations = h
        activations.retain_grad()
        slice_features = activations.mean(dim=(2, 3))
        pooled, winners = slice_features.max(dim=0)
        logits = head(pooled)
    logits = logits.to(dtype)
    weights = torch.tensor(class_weights, dtype=dtype)
    loss = F.cross_entropy(logits.unsqueeze(0), torch.tensor([label]), weight=weights)
    target = int(logits.argmax())
    # Grad-CAM's gradient of the called class's logit, and the loss's gradients, from one graph.
    grad_a = torch.autograd.grad(logits[target], activations, retain_graph=True)[0]
    loss.backward()
    a = activations.detach().to(dtype)
    cam = torch.einsum("c,schw->shw", head.weight[target].detach().to(dtype), a)
    gradcam = torch.relu((grad_a.to(dtype).mean(dim=(2, 3), keepdim=True) * a).sum(dim=1))
    return {
        "activations": a,
        "slice_features": slice_features.detach().to(dtype),
        "logits": logits.detach(),
        "argmax_slice_per_feature": winners,
        "grad_head_weight": head.weight.grad.detach().to(dtype),
        "grad_conv1_weight": features[0].weight.grad.detach().to(dtype),
        "grad_conv5_bias": features[10].bias.grad.detach().to(dtype),
        "cam_raw": cam,
        "gradcam_raw": gradcam,
        "loss": float(loss.detach()),
        "target_class": target,
    }


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


ARRAYS = ["activations", "slice_features", "logits", "grad_head_weight", "grad_conv1_weight",
          "grad_conv5_bias", "cam_raw", "gradcam_raw"]


def errors(ref, other):
    return {name: rel(other[name].float().numpy(), ref[name].numpy()) for name in ARRAYS}


def make(out, seed, slices, classes):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    alexnet = torchvision.models.alexnet(weights=None)
    head = torch.nn.Linear(256, classes)
    state = {k: v.detach().clone() for k, v in alexnet.state_dict().items() if k.startswith("features.")}
    # A real torchvision file also holds classifier.* keys: one small one, which loaders ignore.
    state["classifier.6.bias"] = alexnet.classifier[6].bias.detach().clone()
    torch.save(state, os.path.join(out, "alexnet_torchvision.pth"))
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(out, "alexnet_torchvision.safetensors"))
    head_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    torch.save(head_state, os.path.join(out, "mrnet_head.pth"))
    save_file(head_state, os.path.join(out, "mrnet_head.safetensors"))
    # A random exam with image-like structure: smooth noise upsampled from 16 x 16, per slice.
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((slices, 1, 16, 16)))
    fine = F.interpolate(coarse, size=(256, 256), mode="bilinear", align_corners=False)[:, 0].numpy()
    fine += 0.05 * rng.standard_normal(fine.shape)
    volume = np.clip((fine - fine.min()) / (fine.max() - fine.min()) * 255.0, 0, 255).astype(np.uint8)
    np.save(os.path.join(out, "volume_u8.npy"), volume)
    x = preprocess(volume)
    np.save(os.path.join(out, "input.npy"), x.astype(np.float32))
    label = classes - 1
    class_weights = [1.0 + i / max(classes - 1, 1) for i in range(classes)]
    features, head = load(out)
    x32 = x.astype(np.float32).astype(np.float64)
    ref = references(features, head, x32, label, class_weights)
    for name in ARRAYS:
        np.save(os.path.join(out, f"{name}.npy"), ref[name].numpy().astype(np.float32))
    np.save(os.path.join(out, "argmax_slice_per_feature.npy"), ref["argmax_slice_per_feature"].numpy().astype(np.int64))
    f32 = references(*load(out), x32, label, class_weights, dtype=torch.float32)
    bf16 = references(*load(out), x32, label, class_weights, dtype=torch.float32, autocast=True)
    meta = {
        "seed": seed,
        "slices": slices,
        "classes": classes,
        "label": label,
        "class_weights": class_weights,
        "loss": ref["loss"],
        "target_class": ref["target_class"],
        "preprocessing": f"minmax to [0,255], (x-{MEAN})/{STD}, repeat to 3 channels",
        "mrnet": "AlexNet features -> adaptive avg pool 1x1 per slice -> max over slices -> Linear(256,K)",
        "loss_fn": "cross entropy with class weights (mean reduction, weighted as in torch)",
        "cam": "sum_c head.weight[target,c] * activations[s,c] (no ReLU, no normalisation)",
        "gradcam": "ReLU(sum_c mean_hw(dlogit_target/dA[s,c]) * A[s,c]) on the last feature map",
        "made_by": f"scripts/parity_fixture.py --seed {seed} --slices {slices} --classes {classes}, "
                   f"PyTorch {torch.__version__}, float64 references stored as float32",
        "torch_float32_relative_l2": errors(ref, f32),
        "torch_bf16_autocast_relative_l2": errors(ref, bf16),
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: meta[k] for k in ("loss", "target_class", "torch_bf16_autocast_relative_l2")}, indent=1))


def check(fixture):
    meta = json.load(open(os.path.join(fixture, "meta.json")))
    x = np.load(os.path.join(fixture, "input.npy")).astype(np.float64)
    volume = np.load(os.path.join(fixture, "volume_u8.npy"))
    print("input from volume_u8:", rel(preprocess(volume).astype(np.float32), x))
    ref = references(*load(fixture), x, meta["label"], meta["class_weights"])
    for name in ARRAYS:
        print(f"{name}: {rel(np.load(os.path.join(fixture, name + '.npy')), ref[name].numpy()):.2e}")
    winners = np.load(os.path.join(fixture, "argmax_slice_per_feature.npy"))
    print("argmax_slice_per_feature equal:", bool((winners == ref["argmax_slice_per_feature"].numpy()).all()))
    print("loss:", ref["loss"], "meta", meta["loss"], "target", ref["target_class"], "meta", meta.get("target_class"))
    x32 = x.astype(np.float32).astype(np.float64)
    for name, kwargs in (("float32", {}), ("bf16 autocast", {"autocast": True})):
        run = references(*load(fixture), x32, meta["label"], meta["class_weights"], dtype=torch.float32, **kwargs)
        print(f"PyTorch {torch.__version__} {name}:", json.dumps(errors(ref, run)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--slices", type=int, default=7)
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--check", metavar="DIR")
    a = p.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    if a.check:
        check(a.check)
    elif a.out:
        make(a.out, a.seed, a.slices, a.classes)
    else:
        p.error("--out DIR or --check DIR")


if __name__ == "__main__":
    main()
