"""Speed of the CenterNet port on the CPU, against a plain torchvision MobileNetV3 forward in the same run.

    python benchmarks/bench_centernet.py [--repeat 5] [--threads 1]

For each demo photo it times, best of ``--repeat``: the whole ``centernet`` grounder call (resize to 512,
graph, NMS), the graph alone on a 512 x 512 input, and the baseline: torchvision's MobileNetV3-Large
(random weights; only the speed matters) on the same 512 x 512 input, also NCHW float32. The
ratio says what the TensorFlow.js-to-PyTorch port costs against a native PyTorch network of the same
family (the CenterNet backbone is a MobileNetV3 with a CenterNet head at stride 4).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_pair(a, b, repeat: int) -> tuple[float, float]:
    """Best times of ``a`` and ``b``, run alternately (so a busy machine slows both alike)."""
    ta, tb = [], []
    for _ in range(repeat):
        for fn, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return min(ta), min(tb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()
    import torch
    import torchvision

    from discover_core.demo import demo_photos
    from discover_centernet import CenternetGrounder

    torch.set_num_threads(args.threads)
    grounder = CenternetGrounder()
    baseline = torchvision.models.mobilenet_v3_large(weights=None).eval()
    x = torch.rand(1, 3, 512, 512) * 255
    with torch.no_grad():
        grounder.model.graph(x, nchw=True)
        baseline(x)
        t_graph, t_base = best_pair(lambda: grounder.model.graph(x, nchw=True), lambda: baseline(x), args.repeat)
        rows = []
        for photo in demo_photos():
            labels = ["person", "cat", "cup", "motorcycle"]
            t, t_b = best_pair(lambda: grounder.ground(photo.image, labels, None), lambda: baseline(x), args.repeat)
            rows.append((photo.name, t, t / t_b))
    print(f"threads {args.threads}; graph on 512x512: {t_graph * 1000:.0f} ms; MobileNetV3-Large baseline: "
          f"{t_base * 1000:.0f} ms; graph/baseline {t_graph / t_base:.2f}")
    print(f"{'photo':22} {'ground ms':>10} {'ground/baseline':>16}")
    for name, t, r in rows:
        print(f"{name:22} {t * 1000:10.0f} {r:16.2f}")
    m = np.mean([r[1:] for r in rows], axis=0)
    print(f"{'mean':22} {m[0] * 1000:10.0f} {m[1]:16.2f}")


if __name__ == "__main__":
    main()
