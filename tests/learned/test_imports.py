"""Importing the plugin (what `discover plugins` does) imports neither torch nor compressai."""

from __future__ import annotations

import subprocess
import sys


def test_plugin_import_is_light():
    code = ("import sys, discover_learned\n"
            "from discover_learned.component import Hyperprior, Elic\n"
            "Hyperprior.produces_for(Hyperprior.Options(target='sd-latent'))\n"
            "print(sorted(m for m in ('torch', 'compressai', 'diffusers', 'safetensors') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
