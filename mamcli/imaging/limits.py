"""Limits of what the image readers accept, importable without numpy, OpenCV or Pillow
(option declarations use them before any heavy import)."""

# Pillow's own decompression-bomb limit: a header announcing more pixels is refused.
DEFAULT_MAX_PIXELS = 178_956_970
