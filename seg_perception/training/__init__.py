"""Training: the training loop and its export, the losses, the class offsets chosen after training.

``train`` trains a registry model and exports it (``seg-perception train``; ``python -m
seg_perception.training.train`` is the same job for ``torchrun``), ``options`` holds its command-line options,
``class_bias`` chooses per-class logit offsets on a training split (``seg-perception class-bias``). Only
``options`` loads without PyTorch, so that every ``--help`` works on the inference-only install; the labelled
image sets the training reads are :mod:`seg_perception.datasets`, which evaluation reads too.
"""
