"""Version of the vsa_mm package."""

__version__ = '0.1.0'
