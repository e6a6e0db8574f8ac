"""``python -m refnet.examples.shakespeare``: see :mod:`refnet.examples.shakespeare`."""

from refnet.examples.shakespeare.cli import main

if __name__ == "__main__":  # not when a test collector imports the file
    raise SystemExit(main())
