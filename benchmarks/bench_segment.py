"""Speed of the segmentation port on the CPU, against a torchvision LR-ASPP MobileNetV3 forward in the same run.

    python benchmarks/bench_segment.py [--repeat 5] [--threads 1] [--model selfie meet]

For each model (selfie: 256 x 256 input; meet: 144 x 256) it times, best of ``--repeat``: the graph alone
on its input size, and per demo photo the whole ``person-segmenter`` prediction (resize, graph, probability
resized to the photo, connected components, COCO RLE); the baseline is torchvision's
``lraspp_mobilenet_v3_large`` (random weights, ``weights=None``; two classes; only the speed matters) on
the same input size, NCHW float32. The ratios say what the TensorFlow.js-to-PyTorch port costs against a
native PyTorch segmentation network of the same family (both MediaPipe segmenters are MobileNetV3-like
encoders with a light decoder), and what the pre- and post-processing add.
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
    ap.add_argument("--model", nargs="+", default=["selfie", "meet"], choices=["selfie", "meet"])
    args = ap.parse_args()
    import torch
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    from discover_core.photos import demo_photos
    from discover_segment import PersonSegmenter

    torch.set_num_threads(args.threads)
    baseline = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=2).eval()
    photos = demo_photos()
    print(f"threads {args.threads}; best of {args.repeat}")
    for model in args.model:
        head = PersonSegmenter(PersonSegmenter.Options(model=model))
        h, w = head.model.input_size
        x = torch.rand(1, 3, h, w)

        def graph():
            return head.model.graph(x, nchw=True)

        def base():
            return baseline(x)

        with torch.no_grad():
            graph(), base()
            t_graph, t_base = best_pair(graph, base, args.repeat)
            rows = []
            for photo in photos:
                t, t_b = best_pair(lambda: head.predict(photo.image), base, args.repeat)
                rows.append((photo.name, t, t / t_b))
        print(f"{model} ({h}x{w}): graph {t_graph * 1000:.1f} ms; LR-ASPP MobileNetV3-Large {t_base * 1000:.1f} ms; "
              f"graph/baseline {t_graph / t_base:.2f}")
        print(f"  {'photo':22} {'predict ms':>10} {'predict/baseline':>17}")
        for name, t, r in rows:
            print(f"  {name:22} {t * 1000:10.1f} {r:17.2f}")
        m = np.mean([r[1:] for r in rows], axis=0)
        print(f"  {'mean':22} {m[0] * 1000:10.1f} {m[1]:17.2f}")


if __name__ == "__main__":
    main()
