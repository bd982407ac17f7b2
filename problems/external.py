"""A problem rendered by any command-line program: one process per point.

Renderers that Python cannot call in a loop (POV-Ray, Blender in the background, a
render farm's submit command, a simulator's binary) become a problem with
:class:`ExternalCommandProblem`: for every point the command is run with the point's
values filled into its arguments, the image it writes is read back
(:func:`~problems.rendered.read_image`: PNG, PPM, ``.npy``, OpenEXR) and compared
with the target by the image loss of :class:`~problems.rendered.RenderedProblem`.

Each point gets a fresh working directory, removed once its image is read. A crash,
a non-zero exit, a missing or unreadable image or a time-out make that point a
:class:`~problems.rendered.RenderFailure` whose reason holds the exit status and the
end of the program's error output, and the batch raises
:class:`~blackbox_opt.PointsFailedError` with the other points' losses, so the
optimisers' ``on_error`` policy costs only the failed points.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import string
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath
from typing import Any, ClassVar

import torch

from blackbox_opt.exceptions import (
    InvalidParameterError,
    MissingDependencyError,
    did_you_mean,
)
from blackbox_opt.space import Array, Parameter, Space
from blackbox_opt.utils import check_int

from ._process import Running, describe_status, output_tail, run
from .rendered import RenderedProblem, RenderFailure, check_timeout, jsonable, read_image

__all__ = ["PLACEHOLDERS", "STDERR_TAIL", "ExternalCommandProblem"]

#: The placeholders every command may use, besides one per scalar parameter.
PLACEHOLDERS: tuple[str, ...] = ("params", "output", "workdir", "index")
#: How many characters of the program's error output a failure's reason keeps (its end).
STDERR_TAIL = 2000
#: Files the problem itself writes into every point's working directory.
_PARAMS_FILE, _STDOUT_FILE, _STDERR_FILE = "params.json", "stdout.log", "stderr.log"
_CONVERSIONS = {"r": repr, "s": str, "a": ascii}


class ExternalCommandProblem(RenderedProblem):
    """Minimise an image loss over the parameters of any command-line renderer.

    For every point, the problem makes a fresh working directory, writes the point's
    values there as JSON (``params.json``) along with any ``files``, runs ``command``
    with the point's values filled in, reads the image the program wrote at
    ``{output}`` and removes the directory. The points of one batch run one after the
    other (or ``jobs`` at a time) inside this problem; to spread a batch over cores
    or machines, give the optimiser an evaluator
    (``minimize(..., evaluator=ProcessPoolEvaluator(n_workers=4))``, or a
    :class:`~blackbox_opt.evaluators.DaskEvaluator`): the problem pickles, and every
    worker process builds its own.

    Parameters
    ----------
    command : sequence of str, or str
        The program and its arguments, each a template (a string is split with
        :func:`shlex.split`). Placeholders, filled in per point (write ``{{`` and
        ``}}`` for literal braces):

        - ``{name}`` for every scalar parameter: floats as :func:`repr` writes them
          (exact: the value round-trips), integers as integers, categorical choices as
          their string, fixed values as they are; a format spec applies as in
          :meth:`str.format` (``{x:.3f}``). Array parameters are in the JSON file only;
        - ``{params}``: the path of the JSON file holding the point's values by name
          (arrays as nested lists);
        - ``{output}``: the absolute path where the program must write its image;
        - ``{workdir}``: the point's fresh working directory, also the program's
          working directory unless ``cwd`` is given;
        - ``{index}``: the point's row in the batch this process renders (with an
          evaluator, in its chunk), e.g. for a per-point log name (not a seed:
          the same point has another row in another batch).

        An unknown placeholder, or a format spec the parameter's value cannot take, is
        an error here, not at the first render. The program (the first argument) is
        looked up on ``PATH`` here too; a missing one raises
        :class:`~blackbox_opt.MissingDependencyError` (with ``install_hint``).
    parameters : Space or dict of str to Parameter
        The parameters, by name (:mod:`blackbox_opt.space`).
    output : str, default="render.png"
        The image's file name inside the working directory; its suffix tells
        :func:`~problems.rendered.read_image` how to read it.
    target : str, path or array-like, optional
        The target image (a file or an ``(H, W)`` / ``(H, W, C)`` array); default:
        a render at ``target_params``.
    target_params : dict or array-like, optional
        Where the target is rendered, and the known optimum ``x_opt``.
    x0 : dict or array-like, optional
        The start (values by name; missing names take their ``init``).
    loss : str or callable, default="mse"
        See :class:`~problems.rendered.RenderedProblem`.
    timeout : float, optional
        Seconds one point's program may run. Past it, the program and every process
        it started (it runs in a process group of its own) are killed, and the point
        fails with "timed out after ... s".
    env : dict of str to str, optional
        Environment variables set for the program on top of this process's
        environment (None as a value removes one). Its ``PATH`` is where the program
        is looked up.
    cwd : str or path, optional
        A fixed working directory for the program instead of each point's own.
    keep_failed : bool, default=False
        Keep the working directory of a point that failed (its ``stdout.log``,
        ``stderr.log``, ``params.json`` and whatever the program left); its reason
        then says where.
    files : dict of str to str or bytes, optional
        Files written into every point's working directory before the program runs,
        by relative name: a scene description, a script, a settings file.
    jobs : int, default=1
        Points of a batch run at once in this process (threads that each wait on one
        program). 1 runs them one after the other; more pays off for programs that
        spend their time waiting (POV-Ray 3.7 at a small size, a farm's queue).
    tmpdir : str or path, optional
        Where the working directories are made (default: the system's temporary
        directory, looked up per render, so a worker on another machine uses its
        own).
    install_hint : str, optional
        Added to the error raised when the program is missing: how to install it.
    f_opt : float, optional
        The known minimum (0 for a deterministic program with ``target_params``).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, optional

    Attributes
    ----------
    command : list of str
        The argument templates, the program resolved to its absolute path.
    program : str
        The program as found on ``PATH`` (empty when the first argument is a
        template, which is then not checked).
    requires : tuple of str
        The program's name: what the problem needs installed.

    See Also
    --------
    problems.povray.PovraySpheres : a registered POV-Ray scene built on this class.

    Notes
    -----
    A failed point's reason names the exit status (or the signal that killed the
    program), the command and the last :data:`STDERR_TAIL` characters of the
    program's standard error (of its standard output when the error output is empty).
    The program's output streams go to files in the working directory, not to pipes, so
    a chatty program cannot block on them and memory stays bounded.

    A copy unpickled where the program is not at the same path (an evaluator's worker
    on another machine) looks it up again on that machine's ``PATH``, and raises
    :class:`~blackbox_opt.MissingDependencyError` there when it is missing. An
    interrupt (Ctrl-C) kills the programs of the batch that are running.

    Examples
    --------
    A renderer as a small Python script that reads the JSON file and writes an
    ``.npy`` image; its one parameter is the image's grey level:

    >>> import sys, pathlib, tempfile
    >>> import numpy as np
    >>> from blackbox_opt import minimize
    >>> from blackbox_opt.space import Real
    >>> script = pathlib.Path(tempfile.mkdtemp()) / "grey.py"
    >>> _ = script.write_text(
    ...     "import json, sys, numpy as np\\n"
    ...     "p = json.load(open(sys.argv[1]))\\n"
    ...     "np.save(sys.argv[2], np.full((4, 4), p['level']))\\n"
    ... )
    >>> problem = ExternalCommandProblem(
    ...     [sys.executable, str(script), "{params}", "{output}"],
    ...     {"level": Real(0.0, 1.0, init=0.2)},
    ...     output="image.npy",
    ...     target_params={"level": 0.75},
    ...     f_opt=0.0,
    ... )
    >>> problem.image_shape
    (4, 4, 1)
    >>> float(problem(problem.x_opt)), round(float(problem(problem.x0)), 4)
    (0.0, 0.3025)

    Placeholders are checked when the problem is made:

    >>> ExternalCommandProblem([sys.executable, "{levle}"], {"level": Real(0.0, 1.0)},
    ...                        target=np.zeros((4, 4)))
    Traceback (most recent call last):
    ...
    blackbox_opt.exceptions.InvalidParameterError: The command's argument '{levle}' has the unknown placeholder {levle}. Did you mean 'level'? Valid placeholders: {level}, {params}, {output}, {workdir}, {index}.
    """  # noqa: E501

    tags: ClassVar[tuple[str, ...]] = ("image", "external")
    cost: ClassVar[str] = "expensive"

    def __init__(
        self,
        command: Sequence[str] | str,
        parameters: Space | Mapping[str, Parameter],
        *,
        output: str = "render.png",
        target: Any = None,
        target_params: Any = None,
        x0: Any = None,
        loss: Any = "mse",
        timeout: float | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike | None = None,
        keep_failed: bool = False,
        files: Mapping[str, str | bytes] | None = None,
        jobs: int = 1,
        tmpdir: str | os.PathLike | None = None,
        install_hint: str | None = None,
        f_opt: float | None = None,
        dtype: torch.dtype = torch.float32,
        device: Any = None,
    ):
        space = parameters if isinstance(parameters, Space) else _as_space(parameters)
        super().__init__(
            space,
            x0=x0,
            target_params=target_params,
            loss=loss,
            f_opt=f_opt,
            dtype=dtype,
            device=device,
        )
        self.output = _check_output(output)
        self.timeout = check_timeout(timeout)
        self.env = _check_env(env)
        self.cwd = None if cwd is None else _check_dir(cwd, "cwd")
        self.tmpdir = None if tmpdir is None else _check_dir(tmpdir, "tmpdir")
        self.keep_failed = bool(keep_failed)
        self.files = _check_files(files)
        self.jobs = check_int(jobs, "jobs", 1)
        self.install_hint = install_hint or ""
        templates = _split(command)
        self._check_placeholders(templates)
        self._program_name = _unescape(templates[0])
        self.program = self._find_program(templates[0])
        if self.program:
            templates[0] = _escape(self.program)
        self.command = templates
        name = PurePath(self.program or templates[0]).name
        self.requires = (name,) if name else ()
        self._set_target(target)

    # -- set-up checks ------------------------------------------------------------------
    def _scalar_names(self) -> dict[str, Any]:
        """The parameters a placeholder may name, with a sample value each."""
        return {name: p.init for name, p in self.space.items() if not isinstance(p, Array)}

    def _check_placeholders(self, templates: list[str]) -> None:
        scalars = self._scalar_names()
        reserved = sorted(set(self.space) & set(PLACEHOLDERS))
        if reserved:
            raise InvalidParameterError(
                f"Parameter name(s) {reserved} are placeholders of the command "
                f"({', '.join(PLACEHOLDERS)}); rename the parameter(s)."
            )
        valid = [*scalars, *PLACEHOLDERS]
        sample = {**scalars, "params": "p.json", "output": "o.png", "workdir": "w", "index": 0}
        for template in templates:
            try:
                fields = [f for f in string.Formatter().parse(template) if f[1] is not None]
            except ValueError as exc:
                raise InvalidParameterError(
                    f"The command's argument {template!r} is not a valid template ({exc}); "
                    "write literal braces as {{ and }}."
                ) from None
            for _, field, spec, conversion in fields:
                if field in scalars or field in PLACEHOLDERS:
                    try:
                        _format(sample[field], spec, conversion)
                    except (ValueError, TypeError) as exc:
                        raise InvalidParameterError(
                            f"The command's argument {template!r}: {{{field}}} cannot be "
                            f"formatted with {spec or conversion!r} ({exc})."
                        ) from None
                    continue
                if field in self.space:
                    what = "an array parameter, which only the {params} JSON file holds"
                    raise InvalidParameterError(
                        f"The command's argument {template!r} names {{{field}}}: {what}."
                    )
                hint = did_you_mean(field, valid) if field else " An empty {} names nothing."
                raise InvalidParameterError(
                    f"The command's argument {template!r} has the unknown placeholder "
                    f"{{{field}}}.{hint} Valid placeholders: "
                    f"{', '.join('{' + v + '}' for v in valid)}."
                )

    def _find_program(self, first: str) -> str:
        """The first argument as an absolute path, or "" when it is a template."""
        if any(f[1] is not None for f in string.Formatter().parse(first)):
            return ""
        program = _unescape(first)
        path = self._environment().get("PATH", os.defpath)
        found = shutil.which(program, path=path)
        if found is None:
            where = "" if os.sep in program else f" on PATH ({path})"
            hint = f" {self.install_hint}" if self.install_hint else ""
            raise MissingDependencyError(
                f"{type(self).__name__} runs {program!r}, which was not found{where}.{hint}"
            )
        return os.path.abspath(found)

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # -- rendering --------------------------------------------------------------------
    def render_points(self, points: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Run the command once per point and read back its images.

        Parameters
        ----------
        points : sequence of dict
            The points by parameter name (see
            :meth:`~problems.rendered.RenderedProblem.render_points`).

        Returns
        -------
        list
            Per point, its image ``(H, W, C)`` as float32, or a
            :class:`~problems.rendered.RenderFailure` saying why there is none.
        """
        env = self._environment()
        running = Running()
        if self.jobs == 1 or len(points) <= 1:
            return [self._render_one(i, p, env, running) for i, p in enumerate(points)]
        with ThreadPoolExecutor(max_workers=min(self.jobs, len(points))) as pool:
            futures = [
                pool.submit(self._render_one, i, p, env, running) for i, p in enumerate(points)
            ]
            try:
                return [f.result() for f in futures]
            except BaseException:  # an interrupt, or an error that ends the batch
                for future in futures:
                    future.cancel()
                running.kill_all()
                raise

    def _render_one(self, index: int, point: Mapping[str, Any], env: dict, running: Running):
        base = self.tmpdir or tempfile.gettempdir()
        workdir = Path(tempfile.mkdtemp(prefix="blackbox-opt-", dir=base))
        failed = True
        try:
            result = self._run_in(workdir, index, point, env, running)
            failed = isinstance(result, RenderFailure)
            if failed:
                if self.keep_failed:
                    kept = f"\nIts working directory is kept: {workdir}"
                else:
                    kept = "\n(keep_failed=True keeps the working directory of a failed point.)"
                result = RenderFailure(result.reason + kept)
            return result
        finally:
            if not (failed and self.keep_failed):
                shutil.rmtree(workdir, ignore_errors=True)

    def _run_in(
        self, workdir: Path, index: int, point: Mapping[str, Any], env: dict, running: Running
    ) -> Any:
        for name, content in self.files.items():
            path = workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        params = workdir / _PARAMS_FILE
        text = json.dumps({k: jsonable(v) for k, v in point.items()}, indent=1)
        params.write_text(text, encoding="utf-8")
        output = workdir / self.output
        output.parent.mkdir(parents=True, exist_ok=True)
        values = {
            **{k: v for k, v in point.items() if not isinstance(self.space[k], Array)},
            "params": str(params),
            "output": str(output),
            "workdir": str(workdir),
            "index": index,
        }
        args = [_fill(template, values) for template in self.command]
        shown = _shorten(shlex.join(args), 300)
        stdout, stderr = workdir / _STDOUT_FILE, workdir / _STDERR_FILE
        try:
            status = run(
                args,
                cwd=self.cwd or workdir,
                env=env,
                stdout=stdout,
                stderr=stderr,
                timeout=self.timeout,
                running=running,
            )
        except OSError as exc:
            return RenderFailure(f"could not start {shown}: {exc}")
        if status is None:
            reason = f"timed out after {self.timeout:g} s (killed with its child processes)"
        elif status != 0:
            reason = describe_status(status)
        else:
            try:
                return read_image(output)
            except FileNotFoundError:
                reason = (
                    f"exited with status 0 but wrote no image at {output} (the {{output}} "
                    "placeholder)"
                )
            except ValueError as exc:
                reason = f"exited with status 0 but its image is unreadable: {exc}"
            except ImportError as exc:  # OpenEXR: every point would fail the same way
                raise MissingDependencyError(str(exc)) from None
        return RenderFailure(f"{reason}: {shown}{output_tail(stdout, stderr, STDERR_TAIL)}")

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        # a copy unpickled on another machine (an evaluator's worker) may find the
        # program elsewhere there, or not at all: then it fails now, not at each point
        if self.program and not _is_executable(self.program):
            self.program = self._find_program(_escape(self._program_name))
            self.command[0] = _escape(self.program)

    def extra_repr(self) -> str:
        program = PurePath(self.program).name if self.program else self.command[0]
        return f"{super().extra_repr()}, program={program}"


# -- helpers ------------------------------------------------------------------------------


def _as_space(parameters: Any) -> Space:
    if not isinstance(parameters, Mapping):
        raise InvalidParameterError(
            "parameters must be a blackbox_opt.space.Space or a dict of name -> Parameter "
            f"(Real, Integer, Categorical, Fixed, Array); got {type(parameters).__name__}."
        )
    return Space(parameters)


def _split(command: Any) -> list[str]:
    if isinstance(command, str):
        templates = shlex.split(command)
    elif isinstance(command, Sequence) and all(isinstance(a, (str, os.PathLike)) for a in command):
        templates = [os.fspath(a) for a in command]
    else:
        raise InvalidParameterError(
            "command must be a list of argument strings or one string (split like a "
            f"shell's); got {command!r}."
        )
    if not templates or not templates[0]:
        raise InvalidParameterError("command is empty: it needs at least the program to run.")
    return templates


def _check_output(output: Any) -> str:
    if not isinstance(output, (str, os.PathLike)) or not os.fspath(output):
        raise InvalidParameterError(
            f"output must be the image's file name (e.g. 'render.png'); got {output!r}."
        )
    path = PurePath(os.fspath(output))
    if path.is_absolute() or ".." in path.parts:
        raise InvalidParameterError(
            f"output must be a file name inside each point's working directory (the "
            f"{{output}} placeholder is its absolute path); got {os.fspath(output)!r}."
        )
    if path.as_posix() in (_PARAMS_FILE, _STDOUT_FILE, _STDERR_FILE):
        raise InvalidParameterError(
            f"output {path.as_posix()!r} is a file the problem writes itself; choose another name."
        )
    return path.as_posix()


def _check_env(env: Any) -> dict[str, str | None]:
    if env is None:
        return {}
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in env.items()
    ):
        raise InvalidParameterError(
            f"env must be a dict of str to str (None removes a variable); got {env!r}."
        )
    return dict(env)


def _check_dir(path: Any, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        raise InvalidParameterError(f"{what} must be an existing directory; got {path!r}.")
    return os.path.abspath(path)


def _check_files(files: Any) -> dict[str, str | bytes]:
    if files is None:
        return {}
    if not isinstance(files, Mapping):
        raise InvalidParameterError(
            f"files must be a dict of relative file name -> str or bytes; got {files!r}."
        )
    out = {}
    for name, content in files.items():
        path = PurePath(os.fspath(name))
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise InvalidParameterError(
                f"files names a file {os.fspath(name)!r}; give names relative to the "
                "working directory (no '..')."
            )
        if not isinstance(content, (str, bytes)):
            raise InvalidParameterError(
                f"files[{os.fspath(name)!r}] must be str or bytes; got {type(content).__name__}."
            )
        out[path.as_posix()] = content
    return out


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _unescape(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def _format(value: Any, spec: str, conversion: str | None) -> str:
    """One placeholder's text: exact floats, ints as ints, everything else as str."""
    if conversion is not None:
        if conversion not in _CONVERSIONS:
            raise ValueError(f"unknown conversion !{conversion}")
        value = _CONVERSIONS[conversion](value)
    if spec:
        return format(value, spec)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _fill(template: str, values: Mapping[str, Any]) -> str:
    parts = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            parts.append(_format(values[field], spec, conversion))
    return "".join(parts)


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."
