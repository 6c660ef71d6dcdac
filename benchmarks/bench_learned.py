"""The learned ``hyperprior`` codec: speed against compressai, rate accuracy, cost of chunks, rate–PSNR.

    python benchmarks/bench_learned.py [--only speed,coder,rate,chunks,quality] [--checkpoint builtin] [--repeat 3]

* ``speed``: encode/decode time of ``hyperprior`` against compressai's own ``MeanScaleHyperprior`` of the
  same size (N, M, no M(ẑ)) called directly (``compress``/``decompress``) on the same padded images, same
  process, one thread; figures are ratios (ours / compressai's).
* ``coder``: the bounds-checked ANS coder against compressai's rANS coder on the same symbols and tables.
* ``rate``: actual bytes of every chunk against the model's estimate (sum of −log2 likelihoods).
* ``chunks``: bytes and time of coding the latent as 1, 4 and 16 region chunks (+ rest) against one piece.
* ``quality``: the checkpoint's rate–PSNR against JPEG and AVIF (Pillow, quality sweeps) on the six demo
  photos, which training never saw: for each photo the bits JPEG/AVIF need for the same PSNR.

The demo photos come with the ``demo`` extra; the codec needs the ``learned`` extra.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from discover_core.photos import demo_photos
from discover_core.interfaces import Region
from discover_core.stills import decode_still, encode_still
from discover_core.testing.samples import psnr

HELD_OUT = ["astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle", "grace_hopper"]


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def photos():
    return [(p.name, p.image) for p in demo_photos(HELD_OUT)]


def model(checkpoint: str | None, **arch):
    from discover_learned.component import Hyperprior

    return Hyperprior(Hyperprior.Options(checkpoint=checkpoint, **arch))


def grid_regions(w: int, h: int, k: int) -> list[Region]:
    """``k`` (1, 4, 16) equal boxes tiling the central 80 % of the image, a latent cell apart."""
    n = int(round(k ** 0.5))
    x0, y0, cw, ch = 0.1 * w, 0.1 * h, 0.8 * w / n, 0.8 * h / n
    return [Region((x0 + i * cw, y0 + j * ch, x0 + (i + 1) * cw - 16, y0 + (j + 1) * ch - 16), f"r{i}{j}")
            for j in range(n) for i in range(n)]


def bench_speed(images, repeat: int) -> None:
    from compressai.models import MeanScaleHyperprior

    n, m = 64, 96
    ours = model(None, channels=n, latent_channels=m, global_channels=0, seed=0)
    ref = MeanScaleHyperprior(N=n, M=m).eval()
    ref.load_state_dict({k: v for k, v in ours.net.state_dict().items()}, strict=False)
    ref.update(force=True)
    print(f"\n## speed: hyperprior vs compressai MeanScaleHyperprior (N={n}, M={m}), 1 thread, best of {repeat}\n")
    print("| photo | encode ours s | encode compressai s | ratio | decode ours s | decode compressai s | ratio |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for name, img in images:
        h, w = img.shape[:2]
        x = ours._image_tensor(img)
        te, enc = best(lambda: ours.encode(img, []), repeat)
        td, _ = best(lambda: ours.decode((w, h), enc.params, enc.chunks, ours.format_version), repeat)
        with torch.no_grad():
            tre, comp = best(lambda: ref.compress(x), repeat)
            trd, _ = best(lambda: ref.decompress(comp["strings"], comp["shape"]), repeat)
        ratios.append((te / tre, td / trd))
        print(f"| {name} | {te:.3f} | {tre:.3f} | {te / tre:.2f} | {td:.3f} | {trd:.3f} | {td / trd:.2f} |")
    r = np.asarray(ratios)
    print(f"\ngeometric mean ratio: encode {np.exp(np.log(r[:, 0]).mean()):.2f}, "
          f"decode {np.exp(np.log(r[:, 1]).mean()):.2f} (ours / compressai)")


def bench_coder(images, codec, repeat: int) -> None:
    """The latent's symbols of each photo coded in one string by compressai's rANS coder (what the codec used
    up to format 1: it reads past the end of crafted strings) and by the bounds-checked ANS coder
    (:mod:`discover_core.coding`, format 2): time and bytes, same symbols, same tables, same process."""
    from compressai import ans

    from discover_core.coding import TableCoder

    gc = codec.net.gaussian_conditional
    tables = TableCoder.of(gc)
    cdfs, lengths = gc._quantized_cdf.tolist(), gc._cdf_length.reshape(-1).int().tolist()
    offsets = gc._offset.reshape(-1).int().tolist()
    print(f"\n## coder: compressai rANS vs bounds-checked ANS coder (latent y of the checkpoint), best of {repeat}\n")
    print("| photo | symbols | rANS B | checked B | bytes ratio | encode ratio | decode ratio |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for name, img in images:
        with torch.no_grad():
            y = codec.analyse(img)
            _, z_hat = codec.latent_coder.encode_side(y)
            scales, means = codec.latent_coder.parameters(z_hat)
        idx = gc.build_indexes(scales).reshape(-1).int()
        sym = torch.round(y - means).reshape(-1).int()

        def rans_encode():
            return ans.RansEncoder().encode_with_indexes(sym.tolist(), idx.tolist(), cdfs, lengths, offsets)

        def rans_decode(string):
            return ans.RansDecoder().decode_with_indexes(string, idx.tolist(), cdfs, lengths, offsets)

        tre, rs = best(rans_encode, repeat)
        trd, _ = best(lambda: rans_decode(rs), repeat)
        tce, cs = best(lambda: tables.encode(sym.numpy(), idx.numpy()), repeat)
        tcd, back = best(lambda: tables.decode(cs, idx.numpy(), "y"), repeat)
        assert (back == sym.numpy()).all()
        ratios.append((len(cs) / len(rs), tce / tre, tcd / trd))
        print(f"| {name} | {len(sym)} | {len(rs)} | {len(cs)} | {len(cs) / len(rs):.4f} | {tce / tre:.2f} | "
              f"{tcd / trd:.2f} |")
    r = np.asarray(ratios)
    g = np.exp(np.log(r).mean(0))
    print(f"\ngeometric mean (checked / rANS): bytes {g[0]:.4f}, encode time {g[1]:.2f}, decode time {g[2]:.2f}")


def bench_rate(images, codec) -> None:
    print("\n## rate: actual bytes vs estimated: the model's −log2 likelihoods (with the table scales), and "
          "what the coder's quantised tables charge (escapes included)\n")
    print("| photo | chunks | actual B | likelihood est. B | diff % | worst chunk % | table est. B | diff % "
          "| worst chunk B |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, img in images:
        h, w = img.shape[:2]
        regions = grid_regions(w, h, 4)
        y = codec.analyse(img)
        enc = codec.encode_latent(y, w, h, regions)
        est = codec.estimate_bits(y, w, h, regions)
        ex = codec.estimate_bits(y, w, h, regions, exact=True)
        act = {c.name: len(c.payload) for c in enc.chunks}
        tot_a, tot_e, tot_x = sum(act.values()), sum(est.values()) / 8, sum(ex.values()) / 8
        worst = max(abs(100 * (act[k] - est[k] / 8) / (est[k] / 8)) for k in act)
        worst_x = max(abs(act[k] - ex[k] / 8) for k in act)
        print(f"| {name} | {len(act)} | {tot_a} | {tot_e:.0f} | {100 * (tot_a - tot_e) / tot_e:+.2f} | {worst:.2f} | "
              f"{tot_x:.0f} | {100 * (tot_a - tot_x) / tot_x:+.2f} | {worst_x:.1f} |")


def bench_chunks(images, codec, repeat: int) -> None:
    print(f"\n## chunks: 1, 4, 16 region chunks (+ rest) vs one piece, best of {repeat}\n")
    print("| photo | regions | chunks | bytes | vs one piece | encode s | decode s |")
    print("|---|---|---|---|---|---|---|")
    for name, img in images:
        h, w = img.shape[:2]
        base = None
        for k in (0, 1, 4, 16):
            regions = grid_regions(w, h, k) if k else []
            te, enc = best(lambda: codec.encode(img, regions), repeat)
            td, _ = best(lambda: codec.decode((w, h), enc.params, enc.chunks, codec.format_version), repeat)
            size = sum(len(c.payload) for c in enc.chunks)
            base = base or (size, te, td)
            print(f"| {name} | {k or 'one piece'} | {len(enc.chunks)} | {size} | {size / base[0]:.4f} | "
                  f"{te:.3f} ({te / base[1]:.2f}x) | {td:.3f} ({td / base[2]:.2f}x) |")


def _curve(img, codec: str, qualities) -> list[tuple[float, float]]:
    h, w = img.shape[:2]
    pts = []
    for q in qualities:
        data = encode_still(img, codec, q)
        pts.append((8 * len(data) / (w * h), psnr(decode_still(data, codec, (w, h)), img)))
    return sorted(pts, key=lambda p: p[1])


def _bpp_at(curve, target: float) -> float | None:
    ps = [p for _, p in curve]
    if not ps[0] <= target <= ps[-1]:
        return None
    return float(np.interp(target, ps, [b for b, _ in curve]))


def _psnr_at(curve, bpp: float) -> float | None:
    pts = sorted(curve)
    bs = [b for b, _ in pts]
    if not bs[0] <= bpp <= bs[-1]:
        return None
    return float(np.interp(bpp, bs, [p for _, p in pts]))


def bench_quality(images, codec) -> None:
    print("\n## quality: rate–PSNR on the held-out demo photos (never trained on)\n")
    print("| photo | ours bpp | ours PSNR dB | JPEG bpp at that PSNR | ours/JPEG | AVIF bpp at that PSNR | ours/AVIF "
          "| JPEG PSNR at our bpp | AVIF PSNR at our bpp |")
    print("|---|---|---|---|---|---|---|---|---|")
    rj, ra, dj, da = [], [], [], []
    for name, img in images:
        h, w = img.shape[:2]
        enc = codec.encode(img, [])
        out = codec.decode((w, h), enc.params, enc.chunks, codec.format_version).coarse
        bpp, p = 8 * sum(len(c.payload) for c in enc.chunks) / (w * h), psnr(out, img)
        jc, ac = _curve(img, "jpeg", range(1, 100, 2)), _curve(img, "avif", [0, 1, 2, 4, 8] + list(range(12, 100, 6)))
        jb, ab = _bpp_at(jc, p), _bpp_at(ac, p)
        jp, ap_ = _psnr_at(jc, bpp), _psnr_at(ac, bpp)
        rj += [bpp / jb] if jb else []
        ra += [bpp / ab] if ab else []
        dj += [p - jp] if jp else []
        da += [p - ap_] if ap_ else []
        fmt = lambda v: f"{v:.3f}" if v else "out of range"  # noqa: E731
        print(f"| {name} | {bpp:.3f} | {p:.2f} | {fmt(jb)} | {fmt(jb and bpp / jb)} | {fmt(ab)} | "
              f"{fmt(ab and bpp / ab)} | {fmt(jp)} | {fmt(ap_)} |")
    if rj:
        print(f"\nmean bits ratio at equal PSNR: ours/JPEG {np.mean(rj):.3f}" +
              (f", ours/AVIF {np.mean(ra):.3f}" if ra else " (AVIF: our PSNR is below its whole range)"))
    if dj or da:
        print(f"mean PSNR difference at equal bpp: ours − JPEG {np.mean(dj):+.2f} dB" if dj else "", end="")
        print(f", ours − AVIF {np.mean(da):+.2f} dB" if da else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="speed,coder,rate,chunks,quality")
    ap.add_argument("--checkpoint", default="builtin", help="checkpoint of rate/chunks/quality")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--photos", default=",".join(HELD_OUT))
    args = ap.parse_args()
    torch.set_num_threads(1)
    only = set(args.only.split(","))
    images = [(n, i) for n, i in photos() if n.split(".")[0] in args.photos.split(",")]
    codec = model(args.checkpoint) if only & {"coder", "rate", "chunks", "quality"} else None
    if "speed" in only:
        bench_speed(images, args.repeat)
    if "coder" in only:
        bench_coder(images, codec, args.repeat)
    if "rate" in only:
        bench_rate(images, codec)
    if "chunks" in only:
        bench_chunks(images, codec, args.repeat)
    if "quality" in only:
        bench_quality(images, codec)


if __name__ == "__main__":
    main()
