"""ImageNet subsets of the MTT/DATM/EDF papers and the 16 Comp-DD subsets, read from a local ImageNet.

Each subset is 10 classes given as indices into ImageNet-1k's sorted synset folders (the order
torchvision's ImageFolder uses). ``imagenette:PATH`` reads ``PATH/train/<wnid>/`` and
``PATH/val/<wnid>/`` of a full ImageNet tree, keeps the subset's folders and resizes to 128 px
(shorter side, then centre crop; the original code squashed the aspect ratio).

Comp-DD (EDF's benchmark): per category, the 10 classes with the highest ("hard") and lowest
("easy") Grad-CAM complexity. ``music_hard`` as published lists class 420 twice, so it has 9
distinct classes; we ship those 9 rather than invent a tenth (the published numbers were
obtained on the same 9). The original loader also looked classes up by the wrong key; here a
subset is named ``comp-dd:<category>_<easy|hard>:PATH``.
"""

from __future__ import annotations

from pathlib import Path

IMAGENET_SUBSETS = {
    "imagenette": [0, 217, 482, 491, 497, 566, 569, 571, 574, 701],
    "imagewoof": [193, 182, 258, 162, 155, 167, 159, 273, 207, 229],
    "imagemeow": [281, 282, 283, 284, 285, 291, 292, 290, 289, 287],
    "imagesquawk": [84, 130, 88, 144, 145, 22, 96, 9, 100, 89],
    "imagefruit": [953, 954, 949, 950, 951, 957, 952, 945, 943, 948],
    "imageyellow": [309, 986, 954, 951, 987, 779, 599, 291, 72, 11],
}

COMP_DD = {
    "birds_hard": [14, 19, 91, 15, 13, 95, 10, 16, 20, 12],
    "birds_easy": [130, 140, 83, 142, 134, 139, 88, 90, 144, 21],
    "cars_hard": [802, 660, 829, 627, 609, 575, 573, 867, 734, 408],
    "cars_easy": [581, 535, 717, 817, 511, 436, 656, 757, 661, 751],
    "dogs_hard": [239, 238, 247, 195, 151, 266, 157, 181, 154, 217],
    "dogs_easy": [193, 180, 227, 167, 246, 248, 224, 177, 269, 252],
    "fish_hard": [0, 391, 389, 395, 4, 396, 2, 394, 50, 103],
    "fish_easy": [5, 1, 6, 397, 390, 3, 392, 393, 148, 147],
    "snake_hard": [46, 42, 41, 40, 43, 58, 65, 59, 53, 52],
    "snake_easy": [64, 57, 55, 56, 61, 62, 68, 67, 54, 60],
    "insect_hard": [301, 326, 324, 305, 325, 300, 318, 320, 70, 322],
    "insect_easy": [323, 314, 310, 309, 306, 308, 302, 313, 303, 315],
    "round_hard": [852, 805, 736, 892, 429, 574, 722, 522, 752, 971],
    "round_easy": [417, 560, 953, 826, 426, 981, 430, 890, 746, 768],
    "music_hard": [420, 594, 579, 402, 776, 486, 401, 546, 558],  # published with 420 twice
    "music_easy": [542, 687, 494, 566, 642, 513, 875, 683, 889, 881],
}

IMAGE_SIZE = 128


def synsets(root: Path) -> list[str]:
    """ImageNet-1k's class folders, sorted (index i = ImageNet class i)."""
    from ddcore import DataError

    train = root / "train"
    if not train.is_dir():
        raise DataError(f"{root} has no train/ folder; point the dataset at a full ImageNet tree (train/<wnid>/, val/<wnid>/).")
    names = sorted(p.name for p in train.iterdir() if p.is_dir())
    if len(names) != 1000:
        raise DataError(f"{train} holds {len(names)} class folders, not ImageNet-1k's 1000; the subset indices need the full tree.")
    return names


def load_subset(name: str, indices: list[int], argument: str | None, options: dict | None):
    from urllib.parse import urlencode

    from ddcore import ConfigError, get_plugin_manager

    if not argument:
        raise ConfigError(f"{name} needs the ImageNet folder: --dataset {name}:PATH.")
    root = Path(argument.partition("?")[0]).expanduser()
    wnids = synsets(root)
    query = argument.partition("?")[2]
    size = IMAGE_SIZE
    if query:
        from urllib.parse import parse_qs

        size = int(parse_qs(query).get("size", [IMAGE_SIZE])[-1])
    imagefolder = get_plugin_manager().registry.datasets["imagefolder"].value  # the built-in loader
    query = urlencode({"size": size, "classes": ",".join(wnids[i] for i in indices)}, safe=",")
    data = imagefolder.load(f"{root}?{query}", options)
    data.name = name
    data.source = f"{name}: ImageNet classes {indices} from {root}"
    return data


def dataset_specs():
    from ddcore import DatasetSpec

    specs = []
    for name, idx in IMAGENET_SUBSETS.items():
        specs.append(DatasetSpec(
            name, (lambda n, i: lambda arg, opt: load_subset(n, i, arg, opt))(name, idx),
            f"{name}:PATH[?size=N] — 10 ImageNet classes (MTT/DATM/EDF subset) read from a local ImageNet tree, 128 px",
            needs_argument=True, argument_help="PATH"))

    def comp_dd(argument, options):
        from ddcore import ConfigError

        subset, _, path = (argument or "").partition(":")
        if subset not in COMP_DD:
            raise ConfigError(f"comp-dd subset {subset!r} is unknown; choose one of {', '.join(COMP_DD)}.")
        return load_subset(f"comp-dd:{subset}", COMP_DD[subset], path, options)

    specs.append(DatasetSpec(
        "comp-dd", comp_dd,
        "comp-dd:SUBSET:PATH — EDF's Comp-DD benchmark (e.g. birds_hard) from a local ImageNet tree, 128 px",
        needs_argument=True, argument_help="SUBSET:PATH"))
    return specs


def imagenet_indices(dataset_name: str) -> list[int] | None:
    """ImageNet-1k class indices of a subset's classes, in the dataset's class order (None for other
    datasets): what a CAM network trained on ImageNet-1k explains for each of the run's classes."""
    if dataset_name in IMAGENET_SUBSETS:
        return list(IMAGENET_SUBSETS[dataset_name])
    if dataset_name.startswith("comp-dd:") and dataset_name[len("comp-dd:"):] in COMP_DD:
        return list(dict.fromkeys(COMP_DD[dataset_name[len("comp-dd:"):]]))  # music_hard's duplicate read once
    return None
