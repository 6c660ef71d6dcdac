"""TensorFlow.js graph models read into PyTorch: :mod:`.reader` (model.json + shards), :mod:`.ops`, :mod:`.graph`, :mod:`.files`."""
