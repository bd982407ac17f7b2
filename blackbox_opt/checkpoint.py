"""What a saved run holds, and the two helpers methods use to save their own objects.

An optimiser's :meth:`~blackbox_opt.BaseOptimizer.state_dict` is made of tensors and
plain values only, so that it loads with ``torch.load(path, weights_only=True)``. The
one exception is a wrapped library's optimiser (pycma's ``CMAEvolutionStrategy``,
nevergrad's optimisers), which has no tensor form: it is stored by
:func:`pickle_library_object` as a labelled record naming the library, its version
and the object's type, with the pickle's bytes as a ``uint8`` tensor. Unpickling runs
that library's code, so load such states only from files you trust.
"""

from __future__ import annotations

import copy
import importlib
import numbers
import pickle
import warnings
from typing import Any

import torch

from .exceptions import BlackboxOptWarning, InvalidParameterError

__all__ = [
    "STATE_FORMAT",
    "copy_state",
    "is_library_pickle",
    "is_plain",
    "pickle_library_object",
    "plain_params",
    "unpickle_library_object",
]

#: The version of the layout of ``BaseOptimizer.state_dict()``.
STATE_FORMAT = 2

_LABEL = "library_pickle"


def _library_version(library: str) -> str:
    module = importlib.import_module(library)
    return str(getattr(module, "__version__", "unknown"))


def pickle_library_object(obj: Any, library: str) -> dict:
    """Store a wrapped library's object as a labelled pickle.

    Parameters
    ----------
    obj : object
        The object, e.g. a ``cma.CMAEvolutionStrategy``.
    library : str
        The library's import name (``"cma"``, ``"nevergrad"``), recorded with its
        version.

    Returns
    -------
    dict
        ``{"library_pickle": library, "version": ..., "type": ..., "data": uint8 tensor}``.

    Examples
    --------
    >>> saved = pickle_library_object({"a": 1}, "numpy")
    >>> saved["library_pickle"], saved["type"]
    ('numpy', 'builtins.dict')
    >>> unpickle_library_object(saved, "numpy")
    {'a': 1}
    """
    data = bytearray(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    return {
        _LABEL: library,
        "version": _library_version(library),
        "type": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "data": torch.frombuffer(data, dtype=torch.uint8).clone(),
    }


def is_library_pickle(value: Any) -> bool:
    """Whether ``value`` is a record made by :func:`pickle_library_object`.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool
    """
    return isinstance(value, dict) and _LABEL in value


def unpickle_library_object(saved: Any, library: str) -> Any:
    """Restore an object stored by :func:`pickle_library_object`.

    Parameters
    ----------
    saved : dict
        The record.
    library : str
        The library the caller expects; another one is refused. A record from another
        version of the library is loaded with a :class:`~blackbox_opt.BlackboxOptWarning`
        (its pickles may not load across versions).

    Returns
    -------
    object
    """
    if not is_library_pickle(saved):
        raise InvalidParameterError(
            f"Expected a pickled {library} object in the saved state; got {type(saved).__name__}."
        )
    if saved[_LABEL] != library:
        raise InvalidParameterError(
            f"The saved state holds a {saved[_LABEL]} object ({saved['type']}); this "
            f"optimiser wraps {library}."
        )
    installed = _library_version(library)
    if saved["version"] != installed:
        warnings.warn(
            f"The saved state's {saved['type']} was pickled by {library} {saved['version']}; "
            f"{installed} is installed. The run may not resume exactly.",
            BlackboxOptWarning,
            stacklevel=3,
        )
    return pickle.loads(saved["data"].numpy().tobytes())


def copy_state(value: Any) -> Any:
    """A deep copy of a state made of tensors, containers and plain values.

    ``torch.optim.Optimizer.state_dict()`` returns references to the live moment
    tensors; a copy keeps a saved state from changing as the run goes on.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
    """
    if torch.is_tensor(value):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: copy_state(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(copy_state(v) for v in value)
    return copy.copy(value)


def is_plain(value: Any) -> bool:
    """Whether ``value`` loads with ``torch.load(weights_only=True)`` as it is: None, a
    bool, number or string, or lists, tuples and string-keyed dicts of them.

    Parameters
    ----------
    value : object

    Returns
    -------
    bool

    Examples
    --------
    >>> is_plain({"lr": 0.1, "betas": (0.9, 0.99)}), is_plain(print)
    (True, False)
    """
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    return False


def plain_params(params: dict) -> dict:
    """The parameters that a saved state can record and compare exactly.

    Plain values (numbers, strings, None, lists and dicts of them) are kept; anything
    else (a callable schedule, an optimiser class, a generator) is recorded by its type
    name, so that a state still loads with ``weights_only=True``.

    Parameters
    ----------
    params : dict
        From ``get_params(deep=False)``.

    Returns
    -------
    dict
    """
    out = {}
    for name, value in params.items():
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, type):
            out[name] = f"<class {value.__module__}.{value.__qualname__}>"
        elif is_plain(value):
            out[name] = value
        else:
            out[name] = f"<{type(value).__module__}.{type(value).__qualname__}>"
    return out
