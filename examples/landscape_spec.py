"""An example SPEC.py for ``dlmath landscape``: the loss surface of your own model.

    dlmath landscape examples/landscape_spec.py --grid 51 --span 1 --out landscape/
    dlmath landscape examples/landscape_spec.py --engine ray --store landscape/chunks

A spec defines three names: ``model()`` returns the ``nn.Module`` (in eval mode, with the
weights you want to look around: load a checkpoint here), ``data()`` returns ``(X, y)``
(with ``--engine ray`` every worker calls it itself) and ``loss_fn(output, y)`` returns the
mean loss of a batch.
"""

import torch
import torch.nn.functional as F

from dlmath.data import digits
from dlmath.nets import torch_mlp


def model() -> torch.nn.Module:
    # e.g. net.load_state_dict(torch.load("checkpoint.pt")); here: a seeded, untrained MLP
    return torch_mlp([64, 32, 10], "relu", seed=0).eval()


def data() -> tuple[torch.Tensor, torch.Tensor]:
    split = digits(seed=0)
    return torch.as_tensor(split.X_train, dtype=torch.float32), torch.as_tensor(split.y_train)


loss_fn = F.cross_entropy
