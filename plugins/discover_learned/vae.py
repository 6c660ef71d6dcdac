"""A diffusers ``AutoencoderKL`` (Stable Diffusion's VAE) from a hub id or a local folder."""

from __future__ import annotations

from discover_core.errors import WeightsError
from discover_core.interfaces import Context


def load_vae(spec: str, context: Context, device, subfolder: str | None = None):
    """The VAE in eval mode on ``device``; a folder holds ``config.json`` and the weights (``save_pretrained``)."""
    import importlib.util

    if importlib.util.find_spec("diffusers") is None:
        from discover_core.errors import ExtraMissingError

        raise ExtraMissingError("decoding sd-vae latents needs diffusers, which is not installed",
                                "pip install 'discover-codec[learned]'")
    from diffusers import AutoencoderKL

    try:
        from discover_core.weights import resolve_weights

        path = resolve_weights(spec, context=context, what="Stable Diffusion VAE", want="folder")
    except ImportError:  # pragma: no cover - older core
        path = context.resolve(spec)
    try:
        vae = AutoencoderKL.from_pretrained(str(path), subfolder=subfolder)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise WeightsError(f"no AutoencoderKL in {path}{'/' + subfolder if subfolder else ''} ({exc})",
                           "give a folder written by AutoencoderKL.save_pretrained, or a hub id such as "
                           "stabilityai/sd-vae-ft-mse") from None
    return vae.to(device).eval()
