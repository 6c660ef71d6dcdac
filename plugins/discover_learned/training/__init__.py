"""Two-stage training of the learned codec (``discover train CONFIG.yaml``)."""
