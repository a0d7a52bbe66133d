"""mam: batch image matting with Matting Anything (SAM + Mask-to-Matte)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mam")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
