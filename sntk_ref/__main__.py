"""``python -m sntk_ref`` runs the ``sntk-ref`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
