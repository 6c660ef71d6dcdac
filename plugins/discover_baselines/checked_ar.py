"""compressai's autoregressive zoo models (``mbt2018``, ``cheng2020-*``) with the bounds-checked coder.

Their ``_compress_ar`` / ``_decompress_ar`` call compressai's rANS coder directly (its own FIXME: "we don't
respect the default entropy coder"), and that decoder reads past the end of a crafted string. This subclass
redoes the two loops as compressai writes them, coding each position's symbols with
:class:`discover_core.coding.TableCoder` (one ANS-coded string; every position's symbols in one call, so the
decoder, which learns a position's tables only after decoding the ones before it, reads them back in order).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from discover_core.coding import StringEncoder, TableCoder, check_consumed, open_string


class CheckedAutoregressive:
    """Mix in before a ``JointAutoregressiveHierarchicalPriors`` class (see :func:`checked`)."""

    def _gaussian_params(self, y_crop, weight, params, h, w):
        ctx_p = F.conv2d(y_crop, weight, bias=self.context_prediction.bias)
        p = params[:, :, h:h + 1, w:w + 1]
        return self.entropy_parameters(torch.cat((p, ctx_p), dim=1)).chunk(2, 1)

    def _compress_ar(self, y_hat, params, height, width, kernel_size, padding):
        coder = TableCoder.of(self.gaussian_conditional)
        encoder = StringEncoder()
        masked_weight = self.context_prediction.weight * self.context_prediction.mask
        for h in range(height):
            for w in range(width):
                y_crop = y_hat[:, :, h:h + kernel_size, w:w + kernel_size]
                scales_hat, means_hat = self._gaussian_params(y_crop, masked_weight, params, h, w)
                scales_hat, means_hat = scales_hat.squeeze(3).squeeze(2), means_hat.squeeze(3).squeeze(2)
                indexes = self.gaussian_conditional.build_indexes(scales_hat)
                y_q = self.gaussian_conditional.quantize(y_crop[:, :, padding, padding], "symbols", means_hat)
                y_hat[:, :, h + padding, w + padding] = y_q + means_hat
                coder.encode_into(encoder, y_q.reshape(-1).numpy(), indexes.reshape(-1).numpy())
        return encoder.finish()

    def _decompress_ar(self, y_string, y_hat, params, height, width, kernel_size, padding):
        coder = TableCoder.of(self.gaussian_conditional)
        decoder = open_string(bytes(y_string), "image")
        for h in range(height):
            for w in range(width):
                y_crop = y_hat[:, :, h:h + kernel_size, w:w + kernel_size]
                scales_hat, means_hat = self._gaussian_params(y_crop, self.context_prediction.weight, params, h, w)
                indexes = self.gaussian_conditional.build_indexes(scales_hat)
                rv = coder.decode_from(decoder, indexes.reshape(-1).numpy(), "image")
                rv = torch.from_numpy(rv).float().reshape(1, -1, 1, 1)
                y_hat[:, :, h + padding:h + padding + 1, w + padding:w + padding + 1] = \
                    self.gaussian_conditional.dequantize(rv, means_hat)
        check_consumed(decoder, "image")


def checked(net):
    """``net`` with the bounds-checked coder everywhere: its entropy models' coder, and for the autoregressive
    models the two loops above (the instance's class becomes a named subclass)."""
    from compressai.models.google import JointAutoregressiveHierarchicalPriors  # imported already: net is one

    from discover_core.coding import use_checked_coder

    use_checked_coder(net, "image")
    if isinstance(net, JointAutoregressiveHierarchicalPriors) and not isinstance(net, CheckedAutoregressive):
        cls = type(net)
        net.__class__ = type(f"Checked{cls.__name__}", (CheckedAutoregressive, cls), {})
    return net
