"""Running one external program: its own process group, a time-out, the end of its output.

The private half of :mod:`problems.external`: what happens between starting a program
and knowing how it ended, so that the problem's code reads as what it does per point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

__all__ = ["Running", "describe_status", "kill_group", "output_tail", "run"]


class Running:
    """The programs a batch has running, so that an interrupt can kill them all.

    Examples
    --------
    >>> running = Running()
    >>> running.kill_all()  # nothing running: nothing to do
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()
        self._killed = False

    def add(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._processes.add(process)
            late = self._killed  # started by a thread that missed kill_all
        if late:
            kill_group(process)

    def discard(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._processes.discard(process)

    def kill_all(self) -> None:
        """Kill every running program's process group, and any started from now on
        (the threads waiting on them then see them end)."""
        with self._lock:
            self._killed = True
            processes = list(self._processes)
        for process in processes:
            kill_group(process)


def run(
    args: list[str],
    *,
    cwd: Any,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    timeout: float | None,
    running: Running | None = None,
) -> int | None:
    """Run a program in a process group of its own, its output streams to files.

    Parameters
    ----------
    args : list of str
        The program and its arguments.
    cwd : str or path
        Its working directory.
    env : dict
        Its whole environment.
    stdout, stderr : pathlib.Path
        Where its standard output and error go.
    timeout : float or None
        Seconds it may run.
    running : Running, optional
        Where the process is registered while it runs.

    Returns
    -------
    int or None
        The exit status (negative: the signal that killed it), or None when it was
        still running after ``timeout`` seconds and was killed. Either way its
        process group is killed at the end, so nothing it started stays behind.

    Raises
    ------
    OSError
        When the program cannot be started.

    Examples
    --------
    >>> import sys, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> run([sys.executable, "-c", "import sys; sys.exit(4)"], cwd=folder, env=dict(os.environ),
    ...     stdout=folder / "out", stderr=folder / "err", timeout=60)
    4
    """
    posix = os.name == "posix"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=posix,  # a group of its own, out of reach of the terminal
            creationflags=0 if posix else subprocess.CREATE_NEW_PROCESS_GROUP,
        )
    if running is not None:
        running.add(process)
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        status = None
    finally:  # after an exit, a time-out or an interrupt: leave nothing running
        kill_group(process)
        process.wait()
        if running is not None:
            running.discard(process)
    return status


def kill_group(process: subprocess.Popen) -> None:
    """Kill a process started in a session of its own, and every process of its group."""
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is gone already
    elif process.poll() is None:
        process.kill()


def describe_status(status: int) -> str:
    """A program's exit status in words.

    Parameters
    ----------
    status : int
        As :attr:`subprocess.Popen.returncode` has it (negative for a signal).

    Returns
    -------
    str

    Examples
    --------
    >>> describe_status(2)
    'exited with status 2'
    >>> describe_status(-11)
    'was killed by SIGSEGV (exit status -11)'
    """
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name} (exit status {status})"
    return f"exited with status {status}"


def output_tail(stdout: Path, stderr: Path, n: int) -> str:
    """The last ``n`` characters of a program's standard error, or of its standard
    output when the error output is empty, as a paragraph for a failure's reason.

    Parameters
    ----------
    stdout, stderr : pathlib.Path
        The files the streams went to.
    n : int
        Characters kept.

    Returns
    -------
    str
        Starting with a newline.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "err").write_text("warning\\nERROR: no camera\\n")
    >>> print(output_tail(folder / "out", folder / "err", 16))
    <BLANKLINE>
    stderr (its last 16 characters):
    ERROR: no camera
    """
    for stream, path in (("stderr", stderr), ("stdout", stdout)):
        try:
            with open(path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - 4 * n))  # a UTF-8 character takes at most 4 bytes
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            continue
        text = text.strip()
        if text:
            cut = size > 4 * n or len(text) > n
            what = f"{stream} (its last {n} characters)" if cut else stream
            shown = text[-n:].lstrip()
            return f"\n{what}:\n{shown}"
    return "\n(nothing on stderr or stdout)"
