"""Chunked coding of ELIC's grouped checkerboard latent: one ANS-coded string per chunk.

Each chunk's string holds, in order, every (group, pass) of its positions: anchors of group 0, the others of
group 0, anchors of group 1, ... The coder runs the passes over the whole latent map, so encoder and decoder
call the context networks on tensors of the same shape; since a position's context only ever sees its own
chunk (:class:`ChunkConv`), the parameters at a chunk's positions are bit-identical at both ends whichever
other chunks arrived (positions of chunks that did not arrive hold their predicted means).
"""

from __future__ import annotations

import numpy as np
import torch

from discover_core.coding import StringEncoder, check_consumed, open_string

from .elic_net import ElicNet, anchor_mask
from .latent import HyperpriorLatent
from .model import threads


class ElicLatent(HyperpriorLatent):
    def __init__(self, net: ElicNet):
        super().__init__(net)
        self.net: ElicNet = net

    def _passes(self, hyper, ids, decide):
        """Run the (group, pass) sequence; ``decide(k, phase, scales, means, mask) -> values at mask`` gives
        the quantised values of the positions of that pass (flat over h*w)."""
        net = self.net
        b, _, h, w = hyper.shape
        anchor = anchor_mask(h, w)
        y_hats = []
        for k, (c0, c1) in enumerate(net.bounds):
            hk = net.hyper_slice(hyper, k)
            before = torch.cat(y_hats, 1) if y_hats else None
            gp = net.group_parameters[k]
            q = torch.zeros(1, c1 - c0, h, w)
            for phase, mask in ((0, anchor), (1, 1 - anchor)):
                with threads(1):
                    scales, means = gp(hk, None if phase == 0 else q * anchor, before, ids)
                flat = mask.reshape(-1).bool()
                values = decide(k, phase, scales[0].flatten(1), means[0].flatten(1), flat)
                q.view(1, c1 - c0, -1)[0][:, flat] = values
            y_hats.append(q)
        return torch.cat(y_hats, 1)

    def _ids(self, cmap: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(cmap.astype(np.float32))[None, None]

    def encode(self, y, cmap, n_chunks, z=None):
        side, z_hat = self.encode_side(y, z)
        with threads(1):
            hyper = self.net.h_s(z_hat)
        gc = self.net.gaussian_conditional
        chunk_of = torch.from_numpy(cmap.reshape(-1).astype(np.int64))
        encoders = [StringEncoder() for _ in range(n_chunks)]
        used = [False] * n_chunks
        c = self.y_coder

        def decide(k, phase, scales, means, flat):
            c0, c1 = self.net.bounds[k]
            yk = y[0, c0:c1].flatten(1)
            sym = torch.round(yk - means)
            idx = gc.build_indexes(scales)
            for i in range(n_chunks):
                pos = torch.nonzero(flat & (chunk_of == i)).flatten()
                if len(pos):
                    c.encode_into(encoders[i], sym[:, pos].int(), idx[:, pos])
                    used[i] = True
            return (sym + means)[:, flat]

        self._passes(hyper, self._ids(cmap), decide)
        return side, [e.finish() if used[i] else None for i, e in enumerate(encoders)]

    def decode(self, side, grid, cmap, strings):
        z_hat = self.decode_side(side, self.z_shape(grid))
        with threads(1):
            hyper = self.net.h_s(z_hat)
        gc = self.net.gaussian_conditional
        chunk_of = torch.from_numpy(cmap.reshape(-1).astype(np.int64))
        decoders = {}
        for i, (name, s) in strings.items():
            decoders[i] = (name, open_string(s, name))
        c = self.y_coder

        def decide(k, phase, scales, means, flat):
            idx = gc.build_indexes(scales)
            out = means.clone()
            for i, (name, d) in sorted(decoders.items()):
                pos = torch.nonzero(flat & (chunk_of == i)).flatten()
                if len(pos):
                    out[:, pos] = c.decode_from(d, idx[:, pos], name).float() + means[:, pos]
            return out[:, flat]

        y_hat = self._passes(hyper, self._ids(cmap), decide)
        for name, d in decoders.values():
            check_consumed(d, name)
        return y_hat, z_hat

    def estimate(self, y, cmap, n_chunks, z=None, exact=False):
        z = self.net.h_a(y) if z is None else z
        _, z_hat = self.encode_side(y, z)
        with threads(1):
            hyper = self.net.h_s(z_hat)
        bits = torch.zeros(cmap.size)

        def decide(k, phase, scales, means, flat):
            c0, c1 = self.net.bounds[k]
            yk = y[0, c0:c1].flatten(1)
            bits[flat] += self.y_bits(yk, scales, means, exact)[:, flat].sum(0)
            return (torch.round(yk - means) + means)[:, flat]

        self._passes(hyper, self._ids(cmap), decide)
        flat_map = torch.from_numpy(cmap.reshape(-1))
        return self.side_bits(z, exact), [float(bits[flat_map == k].sum()) for k in range(n_chunks)]
