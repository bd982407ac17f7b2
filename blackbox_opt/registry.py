"""One small generic registry, used for methods and for problems.

Entries are registered under a unique name with either an object or a string entry point
``"package.module:Attribute"``; a string is imported only when the entry is first used,
so listing names never imports heavy optional dependencies. A registry may also read
an :mod:`importlib.metadata` entry-point group, which is how installed packages
(``problems`` among them) add entries without this package importing them.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .exceptions import (
    BlackboxOptWarning,
    InvalidParameterError,
    UnknownNameError,
    unknown_name_message,
)

__all__ = ["METHODS", "PROBLEMS", "Entry", "Registry", "Table"]

_RAISE = object()  # Registry.get's default: raise for unknown names


def load_entry_point(spec: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute.

    Parameters
    ----------
    spec : str
        Module path, a colon, and a dotted attribute path.

    Returns
    -------
    object
        The attribute.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidParameterError(
            f"An entry point must look like 'package.module:Attribute'; got {spec!r}."
        )
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Entry:
    """One registered entry.

    Parameters
    ----------
    name : str
        The registered name.
    entry_point : str or object
        The object, or a string ``"module:attr"`` imported on first use.
    kwargs : dict
        Default keyword arguments applied when the entry is instantiated.
    metadata : dict
        Free-form facts shown by listings (tags, descriptions...).
    """

    name: str
    entry_point: Any
    kwargs: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def points_to(self, entry_point: Any) -> bool:
        """Whether ``entry_point`` (an object or a ``"module:attr"`` string) is this entry's.

        A package that registers its class on import, and also lists it in an
        entry-point group, names the same object twice: that is no collision.
        """
        mine, theirs = self.entry_point, entry_point
        if mine is theirs or (isinstance(mine, str) and mine == theirs):
            return True
        paths = [p if isinstance(p, str) else _path_of(p) for p in (mine, theirs)]
        return paths[0] is not None and paths[0] == paths[1]

    def describe(self) -> str:
        """Where the entry points to, for messages."""
        ep = self.entry_point
        return ep if isinstance(ep, str) else (_path_of(ep) or repr(ep))

    def load(self) -> Any:
        """Return the registered object, importing it if it was given as a string."""
        if isinstance(self.entry_point, str):
            self.entry_point = load_entry_point(self.entry_point)
        return self.entry_point


class Registry(Mapping):
    """A name -> entry mapping with lazy loading and helpful errors.

    Parameters
    ----------
    kind : str
        What the registry holds, used in messages ("method", "problem").
    group : str, optional
        An entry-point group read on first access; each entry point's name becomes
        a registered name.

    Examples
    --------
    >>> reg = Registry("colour")
    >>> reg.register("red", "builtins:str", kwargs={"object": "r"})
    >>> reg.get("red")
    <class 'str'>
    >>> reg.get("rde")
    Traceback (most recent call last):
    ...
    blackbox_opt.exceptions.UnknownNameError: Unknown colour 'rde'. Did you mean 'red'? ...
    """

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._group_loaded = group is None

    def _load_group(self) -> None:
        if self._group_loaded:
            return
        self._group_loaded = True
        for ep in metadata.entry_points(group=self.group):
            entry = self._entries.get(ep.name)
            if entry is None:
                self._entries[ep.name] = Entry(ep.name, ep.value)
            elif not entry.points_to(ep.value):
                warnings.warn(
                    f"The {self.kind} {ep.name!r} of the {self.group!r} entry-point group "
                    f"({ep.value}) is shadowed by the one registered first "
                    f"({entry.describe()}).",
                    BlackboxOptWarning,
                    stacklevel=3,
                )

    def register(
        self,
        name: str,
        entry_point: Any = None,
        *,
        kwargs: dict | None = None,
        metadata: dict | None = None,
        overwrite: bool = False,
    ) -> Any:
        """Register ``entry_point`` under ``name``.

        Used as a decorator when ``entry_point`` is omitted.

        Parameters
        ----------
        name : str
            The unique name.
        entry_point : str or object, optional
            The object or its ``"module:attr"`` path.
        kwargs : dict, optional
            Default keyword arguments for instantiation.
        metadata : dict, optional
            Facts for listings.
        overwrite : bool, default=False
            Replace an existing entry instead of raising.

        Returns
        -------
        object or callable
            The decorator when used as one, else None.
        """
        if entry_point is None:

            def decorator(obj: Any) -> Any:
                self.register(name, obj, kwargs=kwargs, metadata=metadata, overwrite=overwrite)
                return obj

            return decorator
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"A {self.kind} name must be a non-empty string.")
        loose = [n for n in self._entries if n != name and _loose(n) == _loose(name)]
        if loose:  # names match loosely: "Red_Ish" would shadow "red-ish"
            if not overwrite:
                raise InvalidParameterError(
                    f"A {self.kind} named {loose[0]!r} is already registered, and names "
                    f"match ignoring case, hyphens and underscores: {name!r} would be the "
                    "same name. Choose another, or pass overwrite=True to replace it."
                )
            for other in loose:
                del self._entries[other]
        if name in self._entries and not overwrite:
            entry = self._entries[name]
            if entry.points_to(entry_point) and entry.kwargs == dict(kwargs or {}):
                return None  # the same object again (lazily and by import): nothing to do
            raise InvalidParameterError(
                f"A {self.kind} named {name!r} is already registered "
                f"({self._entries[name].describe()}); pass overwrite=True to replace it."
            )
        self._entries[name] = Entry(name, entry_point, dict(kwargs or {}), dict(metadata or {}))
        return None

    def unregister(self, name: str) -> None:
        """Remove ``name`` (see :meth:`resolve`); unknown names raise
        :class:`UnknownNameError`."""
        del self._entries[self.resolve(name)]

    def resolve(self, name: str) -> str:
        """Return the registered name that ``name`` means.

        An exact name is itself. Otherwise case, hyphens, underscores and spaces are
        ignored (``"CMAES"``, ``"CMA-ES"`` and ``"ZeroGrads"`` mean ``"cmaes"`` and
        ``"zerograds"``; ``"mi_gi"`` means ``"mi-gi"``); :meth:`register` refuses a name
        that matches a registered one that way.

        Parameters
        ----------
        name : str
            The name as given.

        Returns
        -------
        str
            The name it is registered under.

        Raises
        ------
        UnknownNameError
            For a name that matches none, with suggestions.
        """
        self._load_group()
        if isinstance(name, str):
            if name in self._entries:
                return name
            key = _loose(name)
            matches = [n for n in self._entries if _loose(n) == key]
            if len(matches) == 1:
                return matches[0]
        raise UnknownNameError(unknown_name_message(self.kind, name, self._entries))

    def entry(self, name: str) -> Entry:
        """Return the :class:`Entry` for ``name`` (see :meth:`resolve`) or raise."""
        return self._entries[self.resolve(name)]

    def get(self, name: str, default: Any = _RAISE) -> Any:  # type: ignore[override]
        """Return the loaded object registered as ``name``.

        Unknown names raise :class:`UnknownNameError` with suggestions, unless a
        ``default`` is given, which is then returned.
        """
        if default is not _RAISE and name not in self:
            return default
        return self.entry(name).load()

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        self._load_group()
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        self._load_group()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve(name)  # type: ignore[arg-type]
        except UnknownNameError:
            return False
        return True

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"


class Table(list):
    """A list of row dicts that prints as an aligned text table.

    Parameters
    ----------
    rows : iterable of dict
        The rows; the columns are the keys of the first row.

    Examples
    --------
    >>> print(Table([{"id": "a", "dim": 2}, {"id": "bb", "dim": 10}]))
    id  dim
    --  ---
    a     2
    bb   10
    """

    def columns(self) -> list[str]:
        """Return the column names (the keys of the first row)."""
        return list(self[0]) if self else []

    def __str__(self) -> str:
        cols = self.columns()
        if not cols:
            return "(empty)"
        cells = [[_cell(row.get(c)) for c in cols] for row in self]
        numeric = [all(_is_number(row.get(c)) for row in self) for c in cols]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]

        def fmt(values: list[str]) -> str:
            parts = [
                v.rjust(w) if num else v.ljust(w)
                for v, w, num in zip(values, widths, numeric, strict=True)
            ]
            return "  ".join(parts).rstrip()

        lines = [fmt(cols), fmt(["-" * w for w in widths])]
        lines += [fmt(r) for r in cells]
        return "\n".join(lines)

    def to_pandas(self):
        """Return the table as a :class:`pandas.DataFrame` (needs pandas)."""
        from .utils import require

        pd = require("pandas", "bench")
        return pd.DataFrame(list(self), columns=self.columns())


def _loose(name: str) -> str:
    """``name`` without case, hyphens, underscores or spaces, to match names loosely."""
    return "".join(c for c in name.casefold() if c not in "-_ ")


def _path_of(obj: Any) -> str | None:
    """``"module:qualname"`` of a class or function, None for other objects."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}:{name}" if module and name else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


#: The registry of optimisation methods: the library's own (``blackbox_opt.optimizers``)
#: and those of installed packages, read from the ``blackbox_opt.methods`` entry-point
#: group.
METHODS = Registry("method", group="blackbox_opt.methods")

#: The registry of problems, read from the ``blackbox_opt.problems`` entry-point group.
PROBLEMS = Registry("problem", group="blackbox_opt.problems")
