# Reference for crates/prep/tests/parity.rs: the network input of the parity fixture's raw exam
# (volume_u8.npy, 10 slices of 256x256) as an independent Python pipeline makes it, with
# Pillow 13 and numpy 2.4 (python3 mrnet_input_reference.py [FIXTURE_DIR]):
#   the central 8 slices, each resized to 128x128 with Pillow's bilinear filter (antialiased
#   when shrinking), then min-max scaled over the exam to 0..255 and rounded half up to bytes,
#   as Cruciate's `prepare_input` documents.
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../shared/fixtures/parity/mrnet-s1")
volume = np.load(os.path.join(FIX, "volume_u8.npy")).astype(np.float32)
start = (volume.shape[0] - 8) // 2
slices = [
    np.asarray(Image.fromarray(s, mode="F").resize((128, 128), Image.Resampling.BILINEAR))
    for s in volume[start : start + 8]
]
x = np.stack(slices).astype(np.float64)
x = (x - x.min()) / (x.max() - x.min()) * 255.0
out = np.floor(x + 0.5).clip(0, 255).astype(np.uint8)
os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
np.save(os.path.join(HERE, "data", "mrnet_input_8x128.npy"), out)
print(out.shape, out.dtype, int(out.sum()))
