"""Training: the training loop and its export, its losses and augmentation, the class offsets chosen after it.

``train`` trains a registry model and exports it (``seg-perception train``; ``python -m
seg_perception.training.train`` is the same job for ``torchrun``), ``options`` holds its command-line options,
``losses`` the loss of a batch and the class weights, ``augmentation`` the random scale, crop, flip, colour
jitter and rare-class crops, ``robust_augment`` the albumentations pipeline of ``--augment robust`` (sensor
noise, blur, weather, exposure, low light, colour, JPEG; albumentations is imported only when it runs),
``class_bias`` chooses per-class logit offsets on a training split (``seg-perception class-bias``). ``train``
and ``losses`` import PyTorch; the others load without it (the command line builds ``train`` and
``class-bias`` options from them, so every ``--help`` works on the inference-only install). The labelled image
sets the training reads are :mod:`seg_perception.datasets`, which evaluation reads too.
"""
