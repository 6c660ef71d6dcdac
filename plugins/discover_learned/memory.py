"""What a learned network costs in memory, estimated from its architecture and the canvas before anything is
built or allocated (so a stream's declared size or channels are refused before they cost anything).

Calibrated on CPU (peak RSS of a decode minus the process before it): the builtin pixels model (N=64, M=96,
G=32) takes 203 bytes per pixel at 1024², 191 at 2048²; the estimate below gives 243 and 220 (weights included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nets imports torch; this module must stay light
    from .nets import Arch

FLOAT = 4


def parameters(arch: "Arch") -> int:
    """Parameters of the codec network (convolution weights, the GDNs' matrices, ELIC's context networks)."""
    n, m, g = arch.channels, arch.latent_channels, arch.global_channels
    total = 25 * (3 * n + 2 * n * n + n * m) + 3 * n * n                      # g_a (3 GDNs)
    if arch.target == "pixels":
        total += 25 * ((m + g) * n + 2 * n * n + 3 * n) + 3 * n * n          # g_s
    else:
        total += 25 * (m + g) * n + n * n + 9 * n * n + 36 * n
    total += 9 * m * n + 50 * n * n                                          # h_a
    total += 25 * n * m + 25 * m * (3 * m // 2) + 9 * (3 * m // 2) * 2 * m    # h_s
    total += 50 * n * n + 9 * n * g                                          # M(ẑ)
    previous = 0
    for c in arch.groups:                                                    # ELIC: contexts and aggregation
        total += 25 * c * 2 * c + 25 * previous * 2 * c + (6 * c * 4 * c + 12 * c * c + 6 * c * c)
        previous += c
    return total


def build_bytes(arch: "Arch") -> int:
    """Building the network from a seed: the weights, their initialisers' temporaries and the fingerprint's
    copy of the state (measured: an elic with N=1024 grows the process by 2.6 GiB for 0.2 G parameters)."""
    return 4 * FLOAT * parameters(arch)


def decode_bytes(arch: "Arch", width: int, height: int) -> int:
    """Peak working set of a decode of a ``width`` x ``height`` canvas: the weights, the synthesis' widest
    activations (N channels at its finest stride, with the GDN's temporaries: three such tensors), the latent, its Gaussian parameters
    and M(ẑ) at stride 16, and for ELIC the unfolded 5×5 contexts."""
    pw, ph = -(-width // 64) * 64, -(-height // 64) * 64
    px = pw * ph
    finest = 2 if arch.target == "pixels" else 8
    per_px = 3 * arch.channels / finest ** 2 + 4 * (3 * arch.latent_channels + arch.global_channels) / 256
    if arch.groups:
        per_px += 2 * 25 * arch.latent_channels / 256
    return int(FLOAT * px * per_px + build_bytes(arch))
