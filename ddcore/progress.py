"""Progress bars for long loops: tqdm on stderr, hidden when quiet or when stderr is not a terminal."""

from __future__ import annotations

from typing import Iterable, Iterator


def progress_bar(iterable: Iterable | None = None, total: int | None = None, desc: str = "", quiet: bool = False) -> Iterator:
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=True if quiet else None, leave=False, dynamic_ncols=True)
