from os import PathLike
from typing import Any, List, Literal, Optional, Sequence, TypedDict, Union, overload

from typing_extensions import Unpack

__version__: str

class ModelError(Exception):
    """A model that cannot be used: a missing, corrupt or tampered file (named in the message),
    or files that do not belong together."""

class LabelScore(TypedDict):
    label: str
    score: float

class CallOptions(TypedDict, total=False):
    """The keywords of a call, as ``transformers.pipeline("text-classification")`` names them;
    ``preprocess`` (the model card's tweet preprocessing, default True) is ours."""

    top_k: Optional[int]
    function_to_apply: Optional[Literal["softmax", "sigmoid", "none"]]
    preprocess: bool
    truncation: bool
    max_length: Optional[int]
    batch_size: int

class Info(TypedDict):
    model_id: Optional[str]
    revision: Optional[str]
    weights_file: str
    weights_sha256: str
    precision: str
    kernels: str
    version: str

class Classifier:
    """A sentiment (sequence-classification) model, loaded once and called on texts.

    ``model`` is a model folder or a ``.gguf`` bundle. With ``verify``, its files are checked
    against the folder's manifest or the bundle's ``.sha256`` (when there is one) and a file that
    differs raises ``ModelError``. ``threads`` sizes the classifier's own thread pool (default:
    one thread per core); the model runs with the GIL released.
    """

    def __init__(
        self,
        model: Union[str, PathLike[str]],
        *,
        threads: Optional[int] = None,
        verify: bool = True,
    ) -> None: ...
    @property
    def labels(self) -> List[str]:
        """The model's labels, in ``id2label`` order."""
    @property
    def max_length(self) -> int:
        """The model's token limit per text, ``<s>`` and ``</s>`` included."""
    @property
    def threads(self) -> Optional[int]:
        """The thread pool's size as asked for (``None``: one thread per core)."""
    @property
    def model(self) -> str:
        """The model folder or bundle this classifier was loaded from."""
    @property
    def info(self) -> Info:
        """Model id, revision, weights file and SHA-256, precision, kernels and version."""
    @overload
    def __call__(self, texts: str, **options: Unpack[CallOptions]) -> List[LabelScore]:
        """One text: its best label (no ``top_k``), or its ``top_k`` labels, highest first."""
    @overload
    def __call__(
        self, texts: Sequence[str], **options: Unpack[CallOptions]
    ) -> Union[List[LabelScore], List[List[LabelScore]]]:
        """A list of texts: one best label per text (no ``top_k``), or one list per text when
        ``top_k`` is given (``None``: every label), as transformers' pipeline answers."""
    def classify_arrow(
        self,
        array: Any,
        *,
        preprocess: bool = True,
        truncation: bool = True,
        max_length: Optional[int] = None,
        batch_size: Optional[int] = None,
    ) -> Any:
        """Classifies an Arrow string array (utf8, large_utf8, string_view; any object with
        ``__arrow_c_array__`` or ``__arrow_c_stream__``), read in place. Returns a
        ``pyarrow.StructArray`` (a ``pyarrow.ChunkedArray`` of them for a stream) with one row
        per text: ``label``, ``score``, ``scores`` (every label's, in ``labels`` order),
        ``truncated``, and ``error`` (null when the row is fine; a null or unclassifiable text
        gets its error there instead of raising)."""
    def __reduce__(self) -> Any: ...
