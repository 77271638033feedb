# Reference learning rates for crates/train/src/optim.rs's schedule test, from PyTorch 2.15's
# own schedulers (python3 schedules_reference.py). 5 epochs of 3 optimiser steps, lr 0.01.
import torch

def rates(make, steps=15):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.01)
    s = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        s.step()
    return out

S = torch.optim.lr_scheduler
print("step", rates(lambda o: S.StepLR(o, step_size=2 * 3, gamma=0.5)))
print("cosine", rates(lambda o: S.CosineAnnealingLR(o, T_max=5 * 3, eta_min=1e-4)))
print("exponential", rates(lambda o: S.ExponentialLR(o, gamma=0.5 ** (1 / 3))))

# ReduceLROnPlateau, mode min, relative threshold 1e-4, factor 0.3, patience 1, min_lr 1e-4:
# the rate after each epoch's validation loss.
p = torch.nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([p], lr=0.01)
plateau = S.ReduceLROnPlateau(opt, mode="min", factor=0.3, patience=1, threshold=1e-4, min_lr=1e-4)
after = []
for loss in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]:
    plateau.step(loss)
    after.append(opt.param_groups[0]["lr"])
print("plateau", after)
