"""Runnable examples: ``python -m refnet.examples.<name>``.

* :mod:`refnet.examples.linear_regression`: the first lesson, fitting y = 2x + 1.
* :mod:`refnet.examples.fashion_mnist`: training a classifier on FashionMNIST from scratch.
"""
