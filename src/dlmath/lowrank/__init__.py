"""SVD, low-rank approximation and LoRA (module 1.3.1 and Lab 1.3.4).

>>> from dlmath.lowrank import truncated_svd, rank_sweep, lora_parameter_count
>>> U, S, Vt = truncated_svd(W, r)           # doctest: +SKIP
>>> errs = rank_sweep(W, ranks)              # doctest: +SKIP  (acts as the Frobenius errors)
>>> lora_parameter_count(768, 768, 8)
12288
"""

from dlmath.lowrank.analyze import (
    LayerSpectrum,
    ModelSpectrum,
    analyze_model,
    analyze_weights,
    linear_weights,
)
from dlmath.lowrank.linalg import (
    PCA,
    Identity,
    activation_variance,
    init_std,
    init_weight,
    marchenko_pastur_pdf,
    pca,
    quarter_circle_cdf,
    quarter_circle_pdf,
    tensor_identities,
)
from dlmath.lowrank.lora import (
    LoRALinear,
    LoRAReport,
    MemoryTable,
    ParameterCount,
    apply_lora,
    count_parameters,
    lora_memory_table,
    lora_parameter_count,
    merge_lora,
)
from dlmath.lowrank.matrices import decaying_spectrum, random_matrix
from dlmath.lowrank.svd import (
    RankSweep,
    effective_rank,
    energy,
    matrix_with_spectrum,
    randomized_svd,
    rank_for_energy,
    rank_sweep,
    reconstruct,
    singular_values,
    stable_rank,
    truncated_svd,
)

__all__ = [
    "decaying_spectrum",
    "random_matrix",
    "PCA",
    "Identity",
    "LayerSpectrum",
    "LoRALinear",
    "LoRAReport",
    "MemoryTable",
    "ModelSpectrum",
    "ParameterCount",
    "RankSweep",
    "activation_variance",
    "analyze_model",
    "analyze_weights",
    "apply_lora",
    "count_parameters",
    "effective_rank",
    "energy",
    "init_std",
    "init_weight",
    "linear_weights",
    "lora_memory_table",
    "lora_parameter_count",
    "marchenko_pastur_pdf",
    "matrix_with_spectrum",
    "merge_lora",
    "pca",
    "quarter_circle_cdf",
    "quarter_circle_pdf",
    "randomized_svd",
    "rank_for_energy",
    "rank_sweep",
    "reconstruct",
    "singular_values",
    "stable_rank",
    "tensor_identities",
    "truncated_svd",
]
