"""mam: batch image matting with Matting Anything (SAM + Mask-to-Matte)."""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata only when asked for (importing
    importlib.metadata costs every command ~0.07 s)."""
    if name != "__version__":
        raise AttributeError(f"module 'mamcli' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mam")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0+local"
