"""Whole-exam latency of a Python pipeline doing the work `cruciate bench --exam` times, on the
same zipped DICOM exams: read the zip, decode every instance (pydicom), choose the sagittal
series and order its slices, scale and resample them (numpy, PyTorch), the forward pass and the
explanation, and the result files (voxels, heat map, a JSON result).

    bench/exam_pipeline.py --zips DIR [--json]       # needs torch, torchvision, pydicom, scikit-learn

Two models, randomly initialised (their speed does not depend on their weights):
- mrnet: torchvision's AlexNet features on every slice (at most 64 central ones) at 256x256,
  global average pooling, max over slices, Linear(256, 2); the class activation map of the
  called class, upsampled to the slices' size.
- vgg16+svm: VGG16 features on the 8 central slices at 224x224, global average pooling, max and
  mean over slices (1,024 values), an RBF SVM (scikit-learn, fitted on as many vectors as the
  Cruciate run it is put beside) with a Platt sigmoid; Grad-CAM through the SVM's decision
  function (computed in PyTorch from its support vectors) back to the last feature maps.
"""

import argparse
import io
import json
import os
import statistics
import tempfile
import time
import zipfile

import numpy as np
import pydicom
import torch
import torch.nn.functional as F
import torchvision
from sklearn.svm import SVC

from pytorch_bench import cpu_name


def sagittal_volume(path):
    """The sagittal series of a zipped study, slices ordered along their normal, in scanner
    units (rescale applied), float32 [slices, rows, cols]."""
    series = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith("/"):
                continue
            ds = pydicom.dcmread(io.BytesIO(z.read(name)))
            series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    best = None
    for instances in series.values():
        o = np.array(instances[0].ImageOrientationPatient, dtype=np.float64)
        normal = np.cross(o[:3], o[3:])
        if np.argmax(np.abs(normal)) != 0:
            continue
        if best is None or len(instances) > len(best[0]):
            best = (instances, normal)
    if best is None:
        raise SystemExit(f"{path}: no sagittal series")
    instances, normal = best
    instances.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, dtype=np.float64))))
    slices = [
        ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1.0))
        + float(getattr(ds, "RescaleIntercept", 0.0))
        for ds in instances
    ]
    return np.stack(slices)


def prepare(volume, slices, size, mean, std):
    """Central `slices`, min-max to 0..255, each slice resized to size x size, standardised,
    repeated to 3 channels: [S, 3, size, size] and the first slice taken."""
    first = max(0, (volume.shape[0] - slices) // 2)
    v = volume[first:first + slices]
    lo, hi = float(v.min()), float(v.max())
    v = (v - lo) * (255.0 / max(hi - lo, 1e-6))
    t = torch.from_numpy(np.ascontiguousarray(v)).unsqueeze(1)
    t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    t = (t - mean) / std
    return t.expand(-1, 3, -1, -1).contiguous(), first


def heat_bytes(maps, shape):
    """Per-slice maps [S, h, w] upsampled to the slices' [rows, cols], scaled to 0..255."""
    up = F.interpolate(maps.unsqueeze(1), size=shape, mode="bilinear", align_corners=False)[:, 0]
    lo, hi = float(up.min()), float(up.max())
    return ((up - lo) * (255.0 / max(hi - lo, 1e-6))).to(torch.uint8).numpy().tobytes()


def write_result(out, volume, heat, result):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "volume.f32"), "wb") as f:
        f.write(volume.astype(np.float32).tobytes())
    with open(os.path.join(out, "heat.u8"), "wb") as f:
        f.write(heat)
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f)


class Mrnet:
    name = "mrnet"

    def __init__(self):
        self.features = torchvision.models.alexnet(weights=None).features.eval()
        self.head = torch.nn.Linear(256, 2).eval()

    def analyse(self, volume, out):
        x, first = prepare(volume, 64, 256, 58.09, 49.73)
        with torch.inference_mode():
            a = self.features(x)
            pooled = a.mean(dim=(2, 3))
            logits = self.head(pooled.max(dim=0).values)
            p = torch.softmax(logits, dim=0)
            c = int(p.argmax())
            cam = torch.einsum("c,schw->shw", self.head.weight[c], a)
        heat = heat_bytes(cam, volume.shape[1:])
        write_result(out, volume, heat, {"class": c, "probabilities": p.tolist(), "first_slice": first})


class VggSvm:
    name = "vgg16+svm"

    def __init__(self, fit_rows):
        self.features = torchvision.models.vgg16(weights=None).features.eval()
        rng = np.random.default_rng(0)
        x = rng.normal(size=(fit_rows, 1024)).astype(np.float32)
        y = np.arange(fit_rows) % 2
        svm = SVC(kernel="rbf", gamma="scale").fit(x, y)
        self.sv = torch.from_numpy(svm.support_vectors_.astype(np.float32))
        self.coef = torch.from_numpy(svm.dual_coef_[0].astype(np.float32))
        self.intercept = float(svm.intercept_[0])
        self.gamma = float(svm._gamma)
        self.platt = (-1.0, 0.0)

    def analyse(self, volume, out):
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255.0
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255.0
        x, first = prepare(volume, 8, 224, 0.0, 1.0)
        x = (x - mean) / std
        with torch.no_grad():
            a = self.features(x)
        a.requires_grad_(True)
        pooled = a.mean(dim=(2, 3))
        vector = torch.cat([pooled.max(dim=0).values, pooled.mean(dim=0)])
        kernel = torch.exp(-self.gamma * ((self.sv - vector) ** 2).sum(dim=1))
        decision = (self.coef * kernel).sum() + self.intercept
        p = torch.sigmoid(-(self.platt[0] * decision + self.platt[1]))
        p.backward()
        weights = a.grad.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * a).sum(dim=1)).detach()
        heat = heat_bytes(cam, volume.shape[1:])
        write_result(out, volume, heat, {"probability": float(p.detach()), "first_slice": first})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zips", required=True, help="folder of zipped DICOM exams (*.zip)")
    parser.add_argument("--svm-rows", type=int, default=42, help="vectors the SVM is fitted on")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    torch.manual_seed(0)
    zips = sorted(os.path.join(args.zips, n) for n in os.listdir(args.zips) if n.endswith(".zip"))
    if not zips:
        raise SystemExit(f"{args.zips}: no *.zip")
    header = {"side": "python", "cpu": cpu_name(), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "pydicom": pydicom.__version__, "exams": len(zips)}
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for model in (Mrnet(), VggSvm(args.svm_rows)):
            model.analyse(sagittal_volume(zips[0]), os.path.join(scratch, "warm-up"))
            seconds = []
            for i, path in enumerate(zips):
                start = time.perf_counter()
                model.analyse(sagittal_volume(path), os.path.join(scratch, f"{model.name}-{i}"))
                seconds.append(time.perf_counter() - start)
            rows.append({"model": model.name, "exams": len(seconds),
                         "median_s": statistics.median(seconds), "mean_s": statistics.fmean(seconds)})
    if args.json:
        print(json.dumps(header))
        for row in rows:
            print(json.dumps(row))
    else:
        print(f"Python pipeline on {header['cpu']} (PyTorch {header['torch']}, {header['threads']} threads): "
              f"{len(zips)} zipped DICOM exams")
        for row in rows:
            print(f"{row['model']:<12} median {row['median_s']:.3f} s/exam, mean {row['mean_s']:.3f}")


if __name__ == "__main__":
    main()
