"""``python -m refnet.examples.fashion_mnist``: see :mod:`refnet.examples.fashion_mnist`."""

from refnet.examples.fashion_mnist.cli import main

if __name__ == "__main__":  # not when a test collector imports the file
    raise SystemExit(main())
