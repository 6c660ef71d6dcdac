"""discover: semantic, task-aware image compression assembled from plugins."""

from .bitstream import Stream
from .errors import ConfigError, DiscoverError, InputError, PluginError, StreamError, WeightsError
from .hookspecs import hookimpl
from .images import load_image
from .interfaces import (Chunk, Component, Composer, Context, Decoded, Encoded, EntropyModel, Grounder, ImageMeta,
                         LabelSource, Options, Patch, Region, TaskHead, TaskSpec)
from .pipeline import Pipeline, decode, load_pipeline, pipeline_from_dict
from .plugins import get_registry

__version__ = "0.1.0"

__all__ = [
    "Chunk", "Component", "Composer", "ConfigError", "Context", "Decoded", "DiscoverError", "Encoded",
    "EntropyModel", "Grounder", "ImageMeta", "InputError", "LabelSource", "Options", "Patch", "Pipeline",
    "PluginError", "Region", "Stream", "StreamError", "TaskHead", "TaskSpec", "WeightsError", "decode",
    "get_registry", "hookimpl", "load_image", "load_pipeline", "pipeline_from_dict",
]
