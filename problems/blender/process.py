"""Blender in a process of its own: finding it, starting it, talking to it.

``bpy`` is process-global (one scene per process) and the ``bpy`` wheel pins numpy
below 2, so the library never imports it: a :class:`BlenderProcess` runs
``worker.py`` (next to this file) in Blender's own Python and sends it requests over
two pipes. Which Blender runs it is decided by :func:`find_blender`:

1. the ``blender`` argument of the problem;
2. the environment variable ``BLACKBOX_OPT_BLENDER``;
3. this interpreter, when ``bpy`` is importable here (``pip install blackbox-opt[blender]``
   into a Python 3.11 environment with numpy < 2);
4. a ``blender`` executable on ``PATH`` (``blender -b --python``).

Each of 1 and 2 is either a Python interpreter that imports ``bpy`` (e.g. the one that
``make blender`` builds in ``.venv-blender``) or a Blender executable (its file name
starts with ``blender``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from blackbox_opt.exceptions import BlackboxOptError, MissingDependencyError

from .._process import kill_group

__all__ = ["BlenderError", "BlenderProcess", "find_blender"]

WORKER = Path(__file__).with_name("worker.py")
#: Characters of Blender's log quoted in an error.
_LOG_TAIL = 2000
#: Seconds Blender may take to start and to build a scene.
_START_SECONDS = 120.0

INSTALL_HINT = (
    "The Blender problems run Blender in processes of their own. Give them one of: "
    "`make blender` (in the project: builds .venv-blender with bpy 5.0.1 and numpy<2) "
    "and set BLACKBOX_OPT_BLENDER=.venv-blender/bin/python; or `pip install "
    "'blackbox-opt[blender]'` into a Python 3.11 environment with numpy<2 (bpy's pin); "
    "or install Blender (apt-get install blender, or blender.org) and put `blender` on "
    "PATH or in BLACKBOX_OPT_BLENDER."
)


class BlenderError(BlackboxOptError, RuntimeError):
    """Blender could not do what was asked: start, build the scene, render in time.

    A problem turns the failures of single renders into per-point failures (which the
    optimiser's ``on_error`` policy handles); raised as it is, it means the set-up is
    wrong (no Blender, a broken scene, a data path that does not exist).
    """


def _is_blender_executable(path: str) -> bool:
    return Path(path).name.lower().startswith("blender")


def find_blender(blender: str | os.PathLike | None = None) -> list[str]:
    """The command that runs the worker script in Blender's Python.

    Parameters
    ----------
    blender : str or path-like, optional
        A Python interpreter that imports ``bpy``, or a Blender executable. Default:
        ``BLACKBOX_OPT_BLENDER``, else this interpreter if it has ``bpy``, else
        ``blender`` on ``PATH``.

    Returns
    -------
    list of str
        The command, up to the worker's own arguments (which follow ``--``).

    Raises
    ------
    MissingDependencyError
        When no Blender is found; the message says how to install one.

    Examples
    --------
    >>> cmd = find_blender(sys.executable)
    >>> cmd[0] == sys.executable and cmd[-1] == "--"
    True
    """
    choice = blender if blender is not None else os.environ.get("BLACKBOX_OPT_BLENDER") or None
    where = "blender=" if blender is not None else "BLACKBOX_OPT_BLENDER"
    if choice is None:
        if importlib.util.find_spec("bpy") is not None:
            choice = sys.executable
        else:
            choice = shutil.which("blender")
            if choice is None:
                raise MissingDependencyError(f"No Blender found. {INSTALL_HINT}")
            where = "PATH"
    choice = os.fspath(choice)
    resolved = shutil.which(choice) or (choice if os.path.isfile(choice) else None)
    if resolved is None:
        raise MissingDependencyError(
            f"{where} names {choice!r}, which is not an executable file. {INSTALL_HINT}"
        )
    if _is_blender_executable(resolved):
        return [
            resolved,
            "--background",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "1",
            "--python",
            str(WORKER),
            "--",
        ]
    return [resolved, "-u", str(WORKER), "--"]


class BlenderProcess:
    """One Blender process holding one scene: started on first use, restarted after a crash.

    Parameters
    ----------
    setup : dict
        The worker's ``setup`` request (scene, parameters' data paths, render settings).
    blender : str, optional
        See :func:`find_blender`.
    timeout : float, optional
        Seconds one render may take before the process is killed (default: no limit).

    Attributes
    ----------
    version : str or None
        Blender's version, once started.
    device : str or None
        The Cycles device in use (``CPU``, or the GPU API).
    renders : int
        Renders made by this process.
    """

    def __init__(self, setup: dict, *, blender: str | None = None, timeout: float | None = None):
        self.setup = setup
        self.command = find_blender(blender)
        self.timeout = timeout
        self.version: str | None = None
        self.device: str | None = None
        self.renders = 0
        self._proc: subprocess.Popen | None = None
        self._inbox: Connection | None = None
        self._outbox: Connection | None = None
        self._log: str | None = None
        #: The cores this Blender is pinned to (None: any).
        self.cores: list[int] | None = None

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Start Blender and build the scene (a no-op when it is running).

        Raises
        ------
        BlenderError
            When Blender does not start, or the scene or a data path is invalid.
        """
        if self._proc is not None and self._proc.poll() is None:
            return
        self.close()
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        fd, self._log = tempfile.mkstemp(prefix="blackbox-opt-blender-", suffix=".log")
        os.close(fd)
        log = open(self._log, "ab")  # appends: reading the tail moves no write position
        env = dict(os.environ)
        env.setdefault("PYTHONNOUSERSITE", "1")
        env.pop("PYTHONPATH", None)  # the library's path must not shadow Blender's numpy
        try:
            self._proc = subprocess.Popen(
                [*self.command, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
            os.close(to_child_r)
            os.close(from_child_w)
        self._pin(self._proc.pid)
        self._outbox = Connection(to_child_w, readable=False)
        self._inbox = Connection(from_child_r, writable=False)
        try:
            hello = self._receive(_START_SECONDS, "start")
            self.version = hello.get("version")
            answer = self._request(
                {"op": "setup", **self.setup}, _START_SECONDS, "build the scene"
            )
        except BlenderError:
            raise
        except BaseException:  # interrupted while Blender starts: start afresh next time
            self.close(force=True)
            raise
        if not answer.get("ok"):
            error = answer.get("error", "")
            self.close()
            raise BlenderError(f"Blender could not set up the scene: {error}")
        self.device = answer.get("device")

    def _pin(self, pid: int) -> None:
        """Keep Blender on ``threads`` cores of its own (Linux), taken in turn.

        Blender's task threads use every core the process may run on and spin while
        they wait: two Blender processes on two cores each took both and rendered no
        faster together than one alone. Pinned before ``bpy`` starts its threads, each
        Blender creates as many as its cores.
        """
        threads = self.setup.get("render", {}).get("threads") or 0
        if not threads or not hasattr(os, "sched_setaffinity"):
            return
        cores = sorted(os.sched_getaffinity(0))
        if threads >= len(cores):
            return
        slot = _next_slot()
        chosen = {cores[(slot * threads + i) % len(cores)] for i in range(threads)}
        try:
            os.sched_setaffinity(pid, chosen)
        except OSError:
            pass  # the process is gone already: start() reports it
        self.cores = sorted(chosen)

    def close(self, *, force: bool = False) -> None:
        """Stop Blender: asked to quit (then killed after 5 s), or killed with ``force``.

        Parameters
        ----------
        force : bool, default=False
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                if force:
                    raise OSError("killed")
                self._outbox.send_bytes(json.dumps({"op": "quit"}).encode())
                proc.wait(timeout=5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                kill_group(proc)
                proc.wait()
        for conn in (self._inbox, self._outbox):
            if conn is not None:
                conn.close()
        self._inbox = self._outbox = None
        if self._log is not None:
            try:
                os.remove(self._log)
            except OSError:
                pass
            self._log = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- rendering ---------------------------------------------------------------------
    def render(self, values: dict[str, Any]) -> np.ndarray:
        """Render one point: its values by parameter name (JSON-able).

        Parameters
        ----------
        values : dict

        Returns
        -------
        numpy.ndarray of shape (H, W, 3), float32, linear RGB

        Raises
        ------
        BlenderError
            When the render fails, Blender dies (it is restarted for the next point)
            or the render takes longer than ``timeout``.
        """
        self.start()
        try:
            header = self._request({"op": "render", "values": values}, self.timeout, "render")
            if not header.get("ok"):
                raise BlenderError(f"Blender failed to render: {header.get('error', '')}")
            data = self._receive_bytes(self.timeout, "render")
        except BlenderError:
            raise
        except BaseException:
            # interrupted (Ctrl-C) while Blender renders: its reply is still on the way
            # and must never be read as the next point's, so this Blender goes
            self.close(force=True)
            raise
        self.renders += 1
        if self.renders % 500 == 0:
            self._trim_log()
        return np.frombuffer(data, dtype=np.float32).reshape(header["shape"]).copy()

    def _request(self, message: dict, timeout: float | None, what: str) -> dict:
        try:
            self._outbox.send_bytes(json.dumps(message).encode())
        except (OSError, ValueError):
            self._died(what)
        return self._receive(timeout, what)

    def _receive(self, timeout: float | None, what: str) -> dict:
        return json.loads(self._receive_bytes(timeout, what))

    def _receive_bytes(self, timeout: float | None, what: str) -> bytes:
        inbox = self._inbox
        start = time.perf_counter()
        while True:  # poll in slices, so that a process that died is noticed at once
            if inbox.poll(0.5 if timeout is None else min(0.5, timeout)):
                try:
                    return inbox.recv_bytes()
                except (EOFError, OSError):
                    self._died(what)
            if self._proc.poll() is not None:
                self._died(what)
            if timeout is not None and time.perf_counter() - start > timeout:
                log = self._tail()
                self.close(force=True)
                raise BlenderError(
                    f"Blender did not {what} within {timeout:g} s and was stopped "
                    f"(it restarts for the next point). Its log ends: {log}"
                )

    def _died(self, what: str) -> None:
        code = self._proc.wait() if self._proc is not None else None
        log = self._tail()
        self.close()
        raise BlenderError(
            f"Blender exited (status {code}) while trying to {what}; it restarts for the "
            f"next point. Its log ends: {log}"
        )

    def _tail(self) -> str:
        if self._log is None:
            return ""
        try:
            with open(self._log, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - _LOG_TAIL))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return text.strip() or "(empty)"

    def _trim_log(self) -> None:
        if self._log is not None and os.path.getsize(self._log) > 2**20:
            os.truncate(self._log, 0)


def _next_slot() -> int:
    """A machine-wide counter (a locked file in the temporary folder): Blender processes
    started one after another, by any process of this user, take cores in turn."""
    import fcntl

    path = os.path.join(tempfile.gettempdir(), f"blackbox-opt-blender-slots-{os.getuid()}")
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        slot = int(text) if text.isdigit() else 0
        f.seek(0)
        f.truncate()
        f.write(str(slot + 1))
    return slot
