"""dlmath: the mathematics of deep learning, from scratch and verified.

Subpackages, one per topic of the course module "Mathematics for Deep Learning":

- :mod:`dlmath.backprop`  manual backpropagation, gradient checks, Jacobians, scalar autograd
- :mod:`dlmath.optim`     optimizers and learning-rate schedules with torch.optim semantics
- :mod:`dlmath.landscape` loss surfaces, critical points and Hessian spectra of any nn.Module
- :mod:`dlmath.lowrank`   SVD, low-rank approximation and LoRA
- :mod:`dlmath.prob`      distributions, information quantities, maximum likelihood

``dlmath.labs`` runs the five labs; ``dlmath labs`` on the command line writes a report.
"""

__version__ = "0.1.0"
