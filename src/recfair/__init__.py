"""recfair — fairness of recommender systems built on large (pretrained / language) models."""

from recfair.data.dataset import Dataset
from recfair.errors import DataError, RecfairError
from recfair.recommendations import Recommendations

__version__ = "0.1.0"

__all__ = ["Dataset", "DataError", "RecfairError", "Recommendations", "__version__"]
