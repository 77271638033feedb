#!/usr/bin/env python3
"""The workloads of `cruciate bench`, run in PyTorch, so that both sides are measured on the same
machine in the same sitting (bench/compare.sh runs the two back to back).

Workloads (random weights and inputs; speed does not depend on their values):
  MRNet forward:        AlexNet features on 32 slices of 3x256x256, global average pool, max over
                        slices, Linear(256, 2); torch.inference_mode.
  MRNet training step:  the same, cross-entropy loss, backward and an Adam step.
  VGG16 forward:        VGG16 features on 8 images of 3x224x224.
  ResNet-18/50 forward: torchvision's ResNet without its average pool and fc (eval mode), the
                        same 8 images.
  SqueezeNet forward:   SqueezeNet 1.1 features, the same 8 images.
  ResNet-50 training step: ResNet-50's features in Cruciate's exam model (global average pool,
                        max over slices, Linear(2048, 2)) on 8 x 3x224x224, train mode (batch
                        norms by the batch), cross-entropy, backward and an Adam step.
  small training step:  the same with Cruciate's `small` CNN on 32 x 3x128x128.
--backbones runs the last six alone (as `cruciate bench --backbones`).
Variants: fp32 (PyTorch's default), fp32 channels-last, bf16 autocast + channels-last.
Each figure is the median of --repeat timed runs after two warm-up runs.

--device cuda runs the same on the GPU (as `cruciate --device vulkan bench` does): the MRNet
exam is copied from host memory inside each timed forward run on both sides (ours starts from
the exam as input preparation leaves it); each run ends with torch.cuda.synchronize(). PyTorch's
fp32 on CUDA is its default: cuDNN may use TF32 for convolutions (torch.backends.cudnn.allow_tf32).

Needs torch and torchvision (pip install torch torchvision). Prints one JSON object per line
with --json, else a table.
"""
import argparse
import json
import platform
import statistics
import time

import torch
import torchvision


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class ExamNet(torch.nn.Module):
    """A backbone's features per slice, global average pool, max over slices, a two-class
    head: Cruciate's exam model (MRNet with AlexNet's features)."""

    def __init__(self, features=None, channels=256):
        super().__init__()
        self.features = features if features is not None else torchvision.models.alexnet(weights=None).features
        self.classifier = torch.nn.Linear(channels, 2)

    def forward(self, x):
        x = self.features(x)
        x = torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(torch.max(x, 0, keepdim=True)[0])


def MRNet():
    return ExamNet()


def small_cnn():
    """Cruciate's `small` backbone: four blocks of 3x3 convolution (no bias), batch norm, ReLU
    and 2x2 max pool, 16 to 128 channels."""
    layers, cin = [], 3
    for width in [16, 32, 64, 128]:
        layers += [torch.nn.Conv2d(cin, width, 3, padding=1, bias=False), torch.nn.BatchNorm2d(width),
                   torch.nn.ReLU(inplace=True), torch.nn.MaxPool2d(2)]
        cin = width
    return torch.nn.Sequential(*layers)


def median_ms(run, repeat):
    for _ in range(2):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), min(times), max(times)


def variant(model, x, name):
    if name == "fp32":
        return model, x, None
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    if name == "fp32 channels-last":
        return model, x, None
    return model, x, torch.bfloat16


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_runner(model, x, dtype, device):
    def run():
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model(x.to(device, non_blocking=False))
        sync(device)
    return run


def training_runner(model, x, dtype, device):
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-5)
    target = torch.tensor([1], device=device)
    x = x.to(device)

    def run():
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimiser.step()
        sync(device)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    parser.add_argument("--backbones", action="store_true",
                        help="only the backbones' forward passes on 8 x 224x224")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = []
    # Convolution work as 2*Cin*Cout*k*k*Hout*Wout, the way `cruciate bench` counts it.
    def conv_gflop(model, shape):
        total = 0.0
        hooks = []
        def hook(m, i, o):
            nonlocal total
            total += 2.0 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] \
                * o.shape[0] * o.shape[2] * o.shape[3] / m.groups
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                hooks.append(m.register_forward_hook(hook))
        with torch.inference_mode():
            model(torch.zeros(shape))
        for h in hooks:
            h.remove()
        return total / 1e9
    mrnet_shape = (args.slices, 3, 256, 256)
    image_shape = (8, 3, 224, 224)
    def resnet(make):
        return lambda: torch.nn.Sequential(*list(make(weights=None).children())[:-2])
    backbones = [
        ("VGG16 forward", lambda: torchvision.models.vgg16(weights=None).features),
        ("ResNet-18 forward", resnet(torchvision.models.resnet18)),
        ("ResNet-50 forward", resnet(torchvision.models.resnet50)),
        ("SqueezeNet forward", lambda: torchvision.models.squeezenet1_1(weights=None).features),
    ]
    # Batch-norm networks' training steps (train mode: batch norms by the batch).
    trainings = [
        ("ResNet-50 training step", resnet(torchvision.models.resnet50), 2048, (8, 3, 224, 224)),
        ("small training step", small_cnn, 128, (32, 3, 128, 128)),
    ]
    gflop_mrnet = conv_gflop(MRNet().eval(), mrnet_shape)
    gflops = {what: conv_gflop(make().eval(), image_shape) for what, make in backbones}
    for name in ["fp32", "fp32 channels-last", "bf16 autocast channels-last"]:
        if not args.backbones:
            model, x, dtype = variant(MRNet().eval().to(device), torch.randn(mrnet_shape), name)
            rows.append(("MRNet forward", name, *median_ms(forward_runner(model, x, dtype, device), args.repeat), gflop_mrnet))
            model, x, dtype = variant(MRNet().train().to(device), torch.randn(mrnet_shape), name)
            rows.append(("MRNet training step", name, *median_ms(training_runner(model, x, dtype, device), args.repeat), 3 * gflop_mrnet))
        for what, make in backbones:
            model, x, dtype = variant(make().eval().to(device), torch.randn(image_shape), name)
            rows.append((what, name, *median_ms(forward_runner(model, x.to(device), dtype, device), args.repeat), gflops[what]))
        for what, make, channels, shape in trainings:
            model, x, dtype = variant(ExamNet(make(), channels).train().to(device), torch.randn(shape), name)
            rows.append((what, name, *median_ms(training_runner(model, x, dtype, device), args.repeat),
                         3 * conv_gflop(ExamNet(make(), channels).eval(), shape)))
    header = {"side": "pytorch", "torch": torch.__version__, "cpu": cpu_name(),
              "threads": torch.get_num_threads(), "slices": args.slices, "device": str(device)}
    if device.type == "cuda":
        header["gpu"] = torch.cuda.get_device_name(device)
    if args.json:
        print(json.dumps(header))
        for what, name, med, lo, hi, gflop in rows:
            print(json.dumps({"workload": what, "variant": name, "median_ms": med, "min_ms": lo,
                              "max_ms": hi, "gflop_per_s": gflop / (med / 1000.0)}))
        return
    where = header.get("gpu", f"{header['cpu']}, {header['threads']} threads")
    print(f"PyTorch {torch.__version__} on {where}")
    print(f"{'workload':<22} {'variant':<30} {'median ms':>10} {'min':>8} {'max':>8} {'GFLOP/s':>8}")
    for what, name, med, lo, hi, gflop in rows:
        print(f"{what:<22} {name:<30} {med:>10.1f} {lo:>8.1f} {hi:>8.1f} {gflop / (med / 1000.0):>8.1f}")


if __name__ == "__main__":
    main()
