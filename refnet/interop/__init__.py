"""Optional bridges to other libraries. :mod:`refnet.interop.torch` needs PyTorch."""
