"""The same work as `cruciate bench --svm`, in scikit-learn and PyTorch, for a ratio on one machine.

python scripts/svm_reference_speed.py   (scikit-learn, torch and torchvision from PyPI)
"""
import time

import numpy as np
import torch
import torchvision
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def two_classes(n, d):
    rng = np.random.default_rng(1)
    y = (np.arange(n) % 3 == 0).astype(int)
    x = rng.uniform(-1, 1, size=(n, d)).astype(np.float32)
    x[y == 1, :64] += 0.5
    return x, y


def fit(x, y, **kw):
    z = StandardScaler().fit(x)
    return SVC(probability=True, class_weight="balanced", random_state=0, **kw).fit(z.transform(x), y), z


x, y = two_classes(1000, 1024)
t = time.perf_counter()
fit(x, y)
print(f"one RBF SVM fit with Platt scaling on 1000 x 1024: {time.perf_counter() - t:.2f} s")

x, y = two_classes(500, 1024)
settings = []
for c in [0.01, 0.1, 1.0, 10.0, 100.0]:
    settings.append(dict(kernel="linear", C=c))
    for g in ["scale", 1e-4, 1e-2]:
        settings.append(dict(kernel="rbf", C=c, gamma=g))
t = time.perf_counter()
for s in settings:
    for fold in range(5):
        train = np.arange(500) % 5 != fold
        model, z = fit(x[train], y[train], **s)
        model.predict_proba(z.transform(x[~train]))
print(f"SVM grid: 20 settings x 5 folds on 500 x 1024: {time.perf_counter() - t:.1f} s")

torch.set_num_threads(2)
vgg = torchvision.models.vgg16().features.eval()
slices = torch.randn(8, 3, 224, 224)
with torch.no_grad():
    vgg(slices)
    t = time.perf_counter()
    for _ in range(6):
        vgg(slices).mean(dim=(2, 3))
print(f"VGG16 features, 8 slices at 224x224 (fp32): {6 / (time.perf_counter() - t):.2f} exams/s")
