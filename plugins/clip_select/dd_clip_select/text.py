"""The text side: caption templates (a default set, open_clip's 80, or a user file) and the
class names they are filled with (the dataset's, or a user file)."""

from __future__ import annotations

from pathlib import Path

from ddcore import ConfigError


def templates_for(choice: str) -> list[str]:
    """Format strings with one ``{}`` for the class name."""
    if choice in ("default", "openai"):
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

        # open_clip stores them as lambdas; filled with "{}" they become format strings
        return [t("{}") for t in (SIMPLE_IMAGENET_TEMPLATES if choice == "default" else OPENAI_IMAGENET_TEMPLATES)]
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(f"clip_select.templates={choice} is neither default, openai nor a file; give one of those.")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    bad = [line for line in lines if line.count("{}") != 1]
    if not lines or bad:
        raise ConfigError(f"{path}: every template line must contain {{}} once for the class name"
                          + (f" (not {bad[0]!r})" if bad else " and the file is empty") + ".")
    return lines


def class_names_for(choice: str | None, dataset_names: list[str]) -> list[str]:
    """The names prompts use: the dataset's (underscores as spaces), or one line each from a file."""
    if choice is None:
        return [n.replace("_", " ") for n in dataset_names]
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(f"clip_select.class_names={choice} is not a file; give a text file with one name per class.")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(names) != len(dataset_names):
        raise ConfigError(f"{path} names {len(names)} classes but the dataset has {len(dataset_names)}; "
                          "write one name per class, in class order.")
    return names
