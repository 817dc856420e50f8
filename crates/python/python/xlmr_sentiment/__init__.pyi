from typing import Optional, Tuple

from ._native import Classifier as Classifier
from ._native import ModelError as ModelError
from ._native import __version__ as __version__

RESULT_FIELDS: Tuple[str, ...]
ARROW_OPTIONS: Tuple[str, ...]

def _restore(model: str, threads: Optional[int], verify: bool) -> Classifier: ...
