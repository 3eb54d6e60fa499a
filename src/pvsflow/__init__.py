"""pvsflow: weakly supervised detection of enlarged perivascular spaces (GP-Unet and compared methods)."""

__version__ = "0.1.0"
