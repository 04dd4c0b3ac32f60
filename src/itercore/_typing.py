"""Type aliases of the public signatures (for annotations only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

#: Anything numpy.asarray accepts.
ArrayLike = npt.ArrayLike
#: A float32 or float64 array returned by a solver.
FloatArray = npt.NDArray[np.floating[Any]]
#: An integer array.
IntArray = npt.NDArray[np.integer[Any]]
#: A dense array or a scipy.sparse matrix / array (scipy has no type information).
MatrixLike = Any
#: ``seed=``: None, an int, or a numpy Generator.
SeedLike = Optional[Union[int, np.integer[Any], np.random.Generator]]
#: ``callback=``: linear solvers call it with the iterate, the rest with an OptimizeResult.
CallbackLike = Optional[Callable[[Any], object]]
#: ``options=``: expert fields of a core's C++ options struct.
OptionsLike = Optional[Mapping[str, Any]]
