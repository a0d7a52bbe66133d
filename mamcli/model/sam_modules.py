"""segment-anything's model classes, imported without running the package's `__init__`.

`import segment_anything.modeling` first runs `segment_anything/__init__.py`, which imports
the predictor and the automatic mask generator and through them torchvision, whose import
pulls in `torch._dynamo`: 1.2 s of every `mam matte` start-up (`python -X importtime`).
mam needs only the `modeling` subpackage, which imports nothing but torch and numpy. So
the package module is created without running its `__init__`, which then runs on the
first use of anything else in it (`segment_anything.SamPredictor`, `from segment_anything
import SamAutomaticMaskGenerator` for `--auto`): callers see the whole package as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

PACKAGE = "segment_anything"


def _import_modeling() -> ModuleType:
    if PACKAGE in sys.modules:  # already imported (by the caller, say): nothing to save
        return importlib.import_module(f"{PACKAGE}.modeling")
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        raise ImportError("segment-anything is not installed: pip install segment-anything")
    package = importlib.util.module_from_spec(spec)

    def run_init(name: str) -> object:
        """Module `__getattr__` (PEP 562): the first missing attribute runs `__init__`."""
        del package.__getattr__
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = run_init
    sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.modeling")


modeling = _import_modeling()
image_encoder = sys.modules[f"{PACKAGE}.modeling.image_encoder"]
