"""Segmentation architectures, one file per paper, behind a name-to-constructor table.

>>> from seg_perception import models
>>> models.names()
>>> net = models.create('pspnet', num_classes=11)

Every model takes a float N x 3 x H x W tensor already normalised and returns N x C x H x W logits at the
input's size (in training mode a model may return a tuple whose first item is the main logits and the rest are
auxiliary logits for deep supervision). Modules are imported on first use, so that importing one architecture
does not load them all.
"""

import importlib
from typing import Dict, List, Tuple

import torch.nn as nn

# name -> (module in this package, constructor)
_CONSTRUCTORS: Dict[str, Tuple[str, str]] = {
    'deconvnet': ('deconvnet', 'deconvnet'),
    'deep_contextual': ('deep_contextual', 'deep_contextual'),
    'deeplab_largefov': ('deeplab', 'deeplab_largefov'),
    'deeplab_v2_aspp': ('deeplab', 'deeplab_v2_aspp'),
    'fcn16s': ('fcn', 'fcn16s'),
    'fcn32s': ('fcn', 'fcn32s'),
    'fcn8s': ('fcn', 'fcn8s'),
    'frrn_a': ('frrn', 'frrn_a'),
    'frrn_b': ('frrn', 'frrn_b'),
    'frrn_cpu': ('frrn', 'frrn_cpu'),
    'fusionnet': ('fusionnet', 'fusionnet'),
    'pspnet': ('pspnet', 'pspnet'),
    'pspnet_lite0': ('pspnet', 'pspnet_lite0'),
    'unet': ('unet', 'unet'),
}


def names() -> List[str]:
    """Names accepted by :func:`create`, sorted."""
    return sorted(_CONSTRUCTORS)


def create(name: str, *, num_classes: int, **kwargs) -> nn.Module:
    """Build the architecture called ``name`` with ``num_classes`` output classes."""
    try:
        module, function = _CONSTRUCTORS[name]
    except KeyError:
        raise ValueError(f'unknown model {name!r}; known models: {", ".join(names())}') from None
    constructor = getattr(importlib.import_module(f'{__name__}.{module}'), function)
    return constructor(num_classes=num_classes, **kwargs)
