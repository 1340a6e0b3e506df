"""Manual backpropagation (module topic 1.3.2, Lab 1.3.1), verified against autograd.

>>> from dlmath.backprop import MLP, compare_with_autograd
>>> mlp = MLP([4, 16, 16, 3], activation="tanh", loss="cross_entropy", seed=0)
>>> loss, grads = mlp.loss_and_grads(X, y)          # doctest: +SKIP
>>> compare_with_autograd(mlp, X, y).max_abs         # doctest: +SKIP
1.1e-16
"""

from dlmath.backprop.autograd_check import (
    AutogradComparison,
    compare_scalar_autograd,
    compare_with_autograd,
    jacobian_checks,
    torch_loss_and_grads,
)
from dlmath.backprop.gradcheck import (
    GradCheck,
    gradient_check,
    mlp_numerical_gradients,
    numerical_gradient,
    relative_error,
)
from dlmath.backprop.graph import Value, topological_order, trace
from dlmath.backprop.jacobians import (
    activation_jacobian,
    hessian_vector_product,
    linear_jacobian_b,
    linear_jacobian_W,
    linear_jacobian_x,
    loss_hessian,
    softmax_jacobian,
)
from dlmath.backprop.layers import ACTIVATIONS, Activation, linear_backward, linear_forward
from dlmath.backprop.losses import (
    LOSSES,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    logsumexp,
    mse,
    mse_grad,
    softmax,
)
from dlmath.backprop.mlp import MLP
from dlmath.backprop.train import History, sgd_step, train

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "MLP",
    "Activation",
    "AutogradComparison",
    "GradCheck",
    "History",
    "Value",
    "activation_jacobian",
    "compare_scalar_autograd",
    "compare_with_autograd",
    "cross_entropy",
    "cross_entropy_grad",
    "gradient_check",
    "hessian_vector_product",
    "jacobian_checks",
    "linear_backward",
    "linear_forward",
    "linear_jacobian_W",
    "linear_jacobian_b",
    "linear_jacobian_x",
    "log_softmax",
    "logsumexp",
    "loss_hessian",
    "mlp_numerical_gradients",
    "mse",
    "mse_grad",
    "numerical_gradient",
    "relative_error",
    "sgd_step",
    "softmax",
    "softmax_jacobian",
    "topological_order",
    "torch_loss_and_grads",
    "trace",
    "train",
]
