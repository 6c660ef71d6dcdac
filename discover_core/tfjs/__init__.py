"""TensorFlow.js graph models read into PyTorch: :mod:`.reader` (model.json + shards), :mod:`.ops` (the op registry;
:mod:`.base`, :mod:`.spatial`), :mod:`.graph`, :mod:`.files`."""
