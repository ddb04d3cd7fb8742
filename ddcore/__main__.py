"""``python -m ddcore`` is ``dd``."""

from .cli import main

main()
