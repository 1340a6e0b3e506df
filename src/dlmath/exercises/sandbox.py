r"""Run a learner's code in its own limited child process and get plain data back.

Creating a :class:`Learner` forks a *zygote* from the (warm) current process, which already
has NumPy and dlmath imported, so starting a child costs milliseconds, not an interpreter
start. The zygote exists before the caller makes any hidden case or reference; it forks
every learner child (the first and each restart), so no child ever holds a copy of the
caller's later memory. It is a ``PR_SET_CHILD_SUBREAPER``: when a child ends, is killed,
or the caller hangs up, it SIGKILLs every descendant (found through ``/proc``: ``setsid``
and double forks do not escape) and removes the child's directory. The child

- sets ``resource`` limits: address space ``RLIMIT_AS`` = what the warm process already maps
  + ``memory_mb`` (so ``np.zeros(2**31)`` fails with ``MemoryError`` instead of swapping),
  CPU time ``RLIMIT_CPU`` a little above the wall-clock limit (a backstop), no core dumps,
  files of at most 64 MB; ``PR_SET_NO_NEW_PRIVS``, ``PR_SET_PDEATHSIG`` (SIGKILL when the
  zygote goes);
- as root, for :meth:`Learner.from_source`: becomes ``nobody:nogroup`` (no supplementary
  groups, ``RLIMIT_NPROC`` 256) keeping only ``CAP_DAC_READ_SEARCH``, after its directory
  is chowned to it: it may read (Python's modules import wherever Python lives) but not
  write the grader's files nor signal its processes;
- moves into its own session, into a fresh temporary working directory (``HOME`` and
  ``TMPDIR`` too), closes stdin and every inherited file descriptor, captures
  ``sys.stdout``/``sys.stderr`` and fds 1/2 into capped buffers (output is truncated to
  ``output_limit`` characters per call);
- runs the source in a fresh module namespace, then answers call requests.

Parent and child talk over two pipes with length-prefixed frames. A frame's payload is JSON
(the structure) plus NumPy ``.npy`` blobs (the arrays), written by ``np.save`` and read
without pickle (numeric dtypes only, straight from the frame's buffer); nothing is ever
pickled. So whatever the learner's code does inside its process (redefine
``numpy.allclose``, return an ``ndarray`` subclass whose ``__eq__`` lies), the parent
receives base-class arrays and builtin scalars with the true values, and compares them with
its own, untouched, NumPy. Each reply carries the request's sequence number, name and case
index (or the child is dropped); the replies of one round trip may total at most
``memory_mb`` + 16 MB (a frame announcing more is refused before it is read).

Plain data (what crosses the pipe, both ways)::

    ndarray (base class, bool/int/uint/float/complex dtype, never object) | int | float | bool
    | str | None | tuple/list of plain data | dict[str, plain data]

NumPy scalars (``np.float64(1.0)``, ``np.int64``, ``np.bool_``) cross as 0-d arrays (their dtype
is kept); ``np.str_`` as ``str``. A function argument crosses as :class:`Fn`, a name in
:data:`FUNCTIONS` plus its parameters, and is rebuilt in the child from trusted code.

The parent enforces a wall-clock limit per :meth:`Learner.call_many` (one exercise) with
``poll`` on the pipe, and never waits for a process without a deadline; meanwhile it looks
at the working directory's size every 0.1 s (``disk_mb``, default 256). On a timeout, a
crash, a hang-up or too much disk the child is killed and the next ``call_many`` starts a
fresh one from the zygote (reloading the source), so later exercises are still graded.
"""

from __future__ import annotations

import contextlib
import io
import json
import linecache
import math
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FUNCTIONS", "Fn", "Learner", "Outcome", "PlainData", "STATUSES", "to_plain"]

PlainData = Any  # see the module docstring for what it may hold
STATUSES = ("ok", "error", "timeout", "crashed", "memory", "missing")

_HEADER = struct.Struct("<Q")
_COUNT = struct.Struct("<I")
_NUMERIC_KINDS = "biufc"
_MAX_DEPTH = 64
_FILE_LIMIT = 64 * 2**20  # RLIMIT_FSIZE in the child: the learner's own files and fd-1/2 output
_THIS_FILE = os.path.abspath(__file__)
_DISK_MB = 256  # default cap on the child's working directory (all its files together)
_NPROC_LIMIT = 256  # RLIMIT_NPROC of the unprivileged user (processes and threads)
_POLL = 0.1  # seconds between looks at the working directory's size while waiting
_REPLY_SLACK = 16 * 2**20  # bytes of replies allowed per round trip beyond memory_mb
_MAX_JSON = 64 * 2**20  # the structure part of one frame


# ----------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class Fn:
    """A function argument described as plain data.

    ``name`` selects an entry of :data:`FUNCTIONS` (built in the child from trusted code),
    ``params`` are its parameters (plain data). ``Fn("quadratic", {"A": A, "b": b})`` is
    ``f(x) = 0.5 x.A.x + b.x``. The learner's function receives an ordinary Python callable
    that returns a Python ``float``.
    """

    name: str
    params: dict = field(default_factory=dict)


def _quadratic(A, b=None, c=0.0) -> Callable:
    r"""$f(x) = \tfrac12 x^\top A x + b^\top x + c$ for a vector ``x`` of shape (n,)."""
    A = np.asarray(A, dtype=float)
    b = np.zeros(A.shape[0]) if b is None else np.asarray(b, dtype=float)

    def f(x):
        x = np.asarray(x, dtype=float)
        return float(0.5 * x @ A @ x + b @ x + c)

    return f


def _sum_sin(scale=1.0) -> Callable:
    r"""$f(x) = \sum_i \sin(s_i x_i)$ over every element of ``x`` (any shape); ``s`` broadcasts."""
    scale = np.asarray(scale, dtype=float)

    def f(x):
        return float(np.sum(np.sin(scale * np.asarray(x, dtype=float))))

    return f


def _rosenbrock(a=1.0, b=100.0) -> Callable:
    r"""$f(x) = (a - x_0)^2 + b (x_1 - x_0^2)^2$ for ``x`` of shape (2,): the library's
    :func:`dlmath.optim.rosenbrock` (one implementation), returning a Python float."""
    from dlmath.optim import rosenbrock

    f2 = rosenbrock(a, b).f

    def f(x):
        return float(f2(np.asarray(x, dtype=float)))

    return f


def _logsumexp(scale=1.0) -> Callable:
    r"""$f(x) = \log \sum_i \exp(s_i x_i)$ over every element of ``x`` (stable)."""
    from dlmath._numerics import logsumexp

    scale = np.asarray(scale, dtype=float)

    def f(x):
        return float(logsumexp((scale * np.asarray(x, dtype=float)).ravel()))

    return f


#: name -> factory(**params) -> f. Built in the child from this trusted code; other modules
#: may add entries (before the Learner is started: the child is a fork of this process).
FUNCTIONS: dict[str, Callable[..., Callable]] = {
    "quadratic": _quadratic,
    "sum_sin": _sum_sin,
    "rosenbrock": _rosenbrock,
    "logsumexp": _logsumexp,
}


# ----------------------------------------------------------------------------- plain data


class NotPlainData(TypeError):
    """A value that cannot cross the pipe (an object array, a custom object, ...)."""


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}" if value.dtype.hasobject else "an array"
    return type(value).__name__


def _encode(obj: Any) -> bytes:
    """``obj`` (plain data or :class:`Fn`) as one payload: JSON + ``.npy`` blobs."""
    blobs: list[bytes] = []

    def array(a: np.ndarray) -> dict:
        base = np.ndarray.view(a, np.ndarray)  # unbound: a subclass cannot intercept
        if base.dtype.hasobject or base.dtype.kind not in _NUMERIC_KINDS:
            raise NotPlainData(f"returned an array of dtype {base.dtype}, not a numeric array")
        buf = io.BytesIO()
        np.save(buf, base, allow_pickle=False)
        blobs.append(buf.getvalue())
        return {"__nd__": len(blobs) - 1}

    def enc(x: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise NotPlainData("returned data nested too deeply")
        if isinstance(x, np.generic):
            if isinstance(x, np.str_):
                return str.__str__(x)
            if np.dtype(type(x)).kind in _NUMERIC_KINDS:
                return array(np.asarray(x))
            raise NotPlainData(f"returned {type(x).__name__}, not an array")
        if x is None or isinstance(x, (bool, int, float, str)):
            if type(x) in (bool, int, float, str) or x is None:
                return x
            # a subclass of a builtin: its builtin value (the subclass's methods are ignored)
            if isinstance(x, str):
                return str.__str__(x)
            if isinstance(x, int):
                return int.__int__(x)
            return float.__float__(x)
        if isinstance(x, np.ndarray):
            return array(x)
        if isinstance(x, Fn):
            if x.name not in FUNCTIONS:
                raise ValueError(f"Fn name must be one of {sorted(FUNCTIONS)}; got {x.name!r}.")
            return {"__fn__": str(x.name), "params": enc(dict(x.params), depth + 1)}
        if type(x) is tuple:
            return {"__tuple__": [enc(v, depth + 1) for v in x]}
        if type(x) is list:
            return [enc(v, depth + 1) for v in x]
        if type(x) is dict:
            if not all(type(k) is str for k in x):
                raise NotPlainData("returned a dict whose keys are not all strings")
            return {"__dict__": {k: enc(v, depth + 1) for k, v in x.items()}}
        raise NotPlainData(f"returned {_kind(x)}, not an array")

    tree = enc(obj, 0)
    text = json.dumps(tree, allow_nan=True).encode()
    parts = [_HEADER.pack(len(text)), text, _COUNT.pack(len(blobs))]
    for blob in blobs:
        parts += [_HEADER.pack(len(blob)), blob]
    return b"".join(parts)


def _load_npy(blob: memoryview) -> np.ndarray:
    """A ``.npy`` blob as a read-only array *viewing* ``blob`` (no copy; numeric dtypes
    only, the size checked against the header): ``np.load(allow_pickle=False)`` semantics."""
    fmt = np.lib.format
    head = io.BytesIO(blob[: min(len(blob), 2**20)])
    version = fmt.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(head)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(head)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS:
        raise ValueError(f"array of dtype {dtype} in a reply")
    count = math.prod(shape)
    offset = head.tell()
    if offset + count * dtype.itemsize != len(blob):
        raise ValueError("array size does not match its header")
    flat = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")


def _decode(payload: bytes | memoryview, *, build_functions: bool = False) -> Any:
    """The inverse of :func:`_encode`; arrays are read with ``allow_pickle=False``
    semantics, straight from ``payload`` (each then copied once into its own array)."""
    view = memoryview(payload)
    (n_text,) = _HEADER.unpack_from(view, 0)
    pos = _HEADER.size
    if n_text > _MAX_JSON or pos + n_text > len(view):
        raise ValueError("reply structure too large or truncated")
    tree = json.loads(bytes(view[pos : pos + n_text]))
    pos += n_text
    (n_blobs,) = _COUNT.unpack_from(view, pos)
    pos += _COUNT.size
    arrays = []
    for _ in range(n_blobs):
        (n,) = _HEADER.unpack_from(view, pos)
        pos += _HEADER.size
        if pos + n > len(view):
            raise ValueError("truncated array in a reply")
        arrays.append(_load_npy(view[pos : pos + n]))
        pos += n

    def dec(x: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("reply nested too deeply")
        if isinstance(x, list):
            return [dec(v, depth + 1) for v in x]
        if isinstance(x, dict):
            if "__nd__" in x:
                a = arrays[int(x["__nd__"])]
                return np.array(a, copy=True)  # each occurrence its own writable array
            if "__tuple__" in x:
                return tuple(dec(v, depth + 1) for v in x["__tuple__"])
            if "__dict__" in x:
                return {str(k): dec(v, depth + 1) for k, v in x["__dict__"].items()}
            if "__fn__" in x:
                params = dec(x["params"], depth + 1)
                fn = Fn(str(x["__fn__"]), params)
                return FUNCTIONS[fn.name](**fn.params) if build_functions else fn
            raise ValueError("unknown object in a reply")
        return x

    return dec(tree, 0)


def to_plain(value: Any) -> Any:
    """``value`` as plain data, exactly as it would arrive from a child (a round trip).

    Raises :class:`NotPlainData` (a ``TypeError``) for values that cannot cross.
    """
    return _decode(_encode(value))


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """What one call of the learner's function gave, as plain data.

    ``status``: "ok" | "error" | "timeout" | "crashed" | "memory" | "missing". ``value``: the
    return value (``None`` unless ok). ``error``: "" when ok, else the learner's trimmed
    traceback or what happened ("timed out after 10 s", "process ended: sys.exit(3)", "ran
    out of memory (limit 2048 MB)"). ``args_after``: the positional arguments as they were
    after the call (plain data; a function argument is ``None``), so the parent can detect
    in-place modification. ``seconds``: the call's duration. ``stdout``: its captured output
    (stdout and stderr), truncated.
    """

    status: str
    value: PlainData = None
    error: str = ""
    args_after: tuple = ()
    seconds: float = 0.0
    stdout: str = ""


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


# ----------------------------------------------------------------------------- the child


class _CappedText(io.TextIOBase):
    """A text stream keeping the first ``limit`` characters written and counting the rest."""

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def take(self) -> tuple[str, int]:
        text, dropped = "".join(self.parts), self.dropped
        self.parts, self.kept, self.dropped = [], 0, 0
        return text, dropped


class _Child:
    """The server loop of the child process (never returns: ends with ``os._exit``)."""

    def __init__(
        self, rfd: int, wfd: int, workdir: str, limits: dict, output_limit: int, drop: bool
    ):
        self.rfd, self.wfd = rfd, wfd
        self.drop = drop
        self.workdir = workdir
        self.limits = limits
        self.output_limit = output_limit
        self.functions: dict[str, Callable] = {}
        self.filename = "<learner>"

    # -- set-up
    def isolate(self) -> None:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big file: EFBIG, not death
        keep = sorted({self.rfd, self.wfd})
        lo = 3
        for fd in keep:
            os.closerange(lo, fd)
            lo = fd + 1
        os.closerange(lo, max(lo, _max_fd()))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if self.drop:
            _drop_privileges(self.workdir)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)  # no setuid program gives the privileges back
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote gone: so is this child
        os.chdir(self.workdir)
        for var in ("HOME", "TMPDIR"):  # temporary files land where they are counted
            os.environ[var] = self.workdir
        tempfile.tempdir = self.workdir
        sys.path.insert(0, self.workdir)  # files the code writes there (%%writefile) import
        self.out_path = os.path.join(self.workdir, ".dlmath-output")
        out = os.open(self.out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        self.out_pos = 0
        self.capture = _CappedText(self.output_limit)
        sys.stdin = io.StringIO("")
        sys.stdout = sys.stderr = self.capture
        sys.__stdout__ = sys.__stderr__ = self.capture
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_LIMIT, _FILE_LIMIT))
        memory = self.limits["memory_bytes"]
        if memory:
            base = _address_space_bytes()
            limit = base + memory
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        self.cpu_backstop()

    def cpu_backstop(self) -> None:
        """Soft CPU limit = CPU used so far + timeout + 5 s (SIGXCPU kills); hard: 1 h more."""
        used = resource.getrusage(resource.RUSAGE_SELF)
        used = used.ru_utime + used.ru_stime
        soft = int(used + self.limits["timeout"] + 5)
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_CPU)
            if hard == resource.RLIM_INFINITY:
                hard = soft + 3600
            resource.setrlimit(resource.RLIMIT_CPU, (min(soft, hard), hard))

    def output(self) -> str:
        """Everything printed since the last call: Python-level, then fd-level, truncated."""
        text, dropped = self.capture.take()
        try:
            size = os.path.getsize(self.out_path)
            with open(self.out_path, "rb") as fh:
                fh.seek(self.out_pos)
                raw = fh.read(self.output_limit)
            dropped += max(0, size - self.out_pos - len(raw))
            self.out_pos = size
            text += raw.decode("utf-8", "replace")
        except OSError:
            pass
        if len(text) > self.output_limit:
            dropped += len(text) - self.output_limit
            text = text[: self.output_limit]
        if dropped:
            text += f"\n... [output truncated: {dropped} more characters]"
        return text

    # -- talking
    def send(self, obj: dict, tag: dict) -> None:
        """Send the reply ``obj`` with ``tag`` (the request's seq, name and case index)."""
        try:
            data = _frame(_encode({**obj, **tag}))
        except NotPlainData as exc:
            data = _frame(_encode({"status": "error", "error": str(exc), **tag}))
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]

    def receive(self) -> Any:
        header = _read_exact(self.rfd, _HEADER.size)
        if header is None:
            return None
        (n,) = _HEADER.unpack(header)
        payload = _read_exact(self.rfd, n)
        return None if payload is None else _decode(payload, build_functions=True)

    # -- the work
    def trimmed(self, exc: BaseException) -> str:
        return _trim_traceback(exc, self.filename)

    def load_source(self, source: str, filename: str) -> dict:
        self.filename = filename
        module = types.ModuleType("submission")
        module.__file__ = os.path.join(self.workdir, os.path.basename(filename))
        sys.modules["submission"] = module
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        error = ""
        try:
            code = compile(source, filename, "exec")
        except SyntaxError as exc:
            where = f"line {exc.lineno}" if exc.lineno else "somewhere"
            text = (exc.text or "").strip()
            error = f"SyntaxError at {where}: {exc.msg}" + (f"\n    {text}" if text else "")
            return {"names": [], "load_error": error, "load_output": self.output()}
        try:
            exec(code, module.__dict__)
        except SystemExit as exc:
            error = f"process ended: sys.exit({_exit_arg(exc)}) while loading"
        except MemoryError:
            error = self.memory_message() + " while loading"
        except BaseException as exc:
            error = "exception while loading:\n" + self.trimmed(exc)
        self.functions = {
            name: obj
            for name, obj in list(module.__dict__.items())
            if not name.startswith("__") and _defined_here(obj, filename, module.__name__)
        }
        return {
            "names": sorted(self.functions),
            "load_error": error,
            "load_output": self.output(),
        }

    def memory_message(self) -> str:
        return f"ran out of memory (limit {self.limits['memory_bytes'] // 2**20} MB)"

    def call(self, name: str, args: tuple, kwargs: dict) -> dict:
        fn = self.functions.get(name)
        if fn is None:
            return {"status": "missing", "error": f"{name} is not defined", "stdout": ""}
        status, value, error = "ok", None, ""
        start = time.perf_counter()
        try:
            value = fn(*args, **kwargs)
        except SystemExit as exc:
            status, error = "crashed", f"process ended: sys.exit({_exit_arg(exc)})"
        except MemoryError:
            status, error = "memory", self.memory_message()
        except RecursionError as exc:
            status, error = "error", self.trimmed(exc)
        except BaseException as exc:
            status, error = "error", self.trimmed(exc)
        seconds = time.perf_counter() - start
        after = tuple(None if callable(a) else a for a in args)
        reply = {"status": status, "error": error, "seconds": seconds, "stdout": self.output()}
        try:
            _encode(value)
        except NotPlainData as exc:
            if status == "ok":
                reply.update(status="error", error=str(exc))
            value = None
        except MemoryError:
            reply.update(status="memory", error=self.memory_message())
            value = None
        try:
            _encode(after)
        except (NotPlainData, MemoryError):
            after = ()
        reply.update(value=value if reply["status"] == "ok" else None, args_after=after)
        return reply

    def serve(self) -> None:
        while True:
            request = self.receive()
            if request is None or request.get("op") == "close":
                return
            if request.get("op") == "call":
                name, seq = request["name"], request.get("seq")
                for index, (args, kwargs) in enumerate(request["cases"]):
                    self.cpu_backstop()
                    reply = self.call(name, tuple(args), dict(kwargs))
                    self.send(reply, {"seq": seq, "name": name, "index": index})


def _exit_arg(exc: SystemExit) -> str:
    code = exc.code
    return "" if code is None else repr(code)


def _defined_here(obj: Any, filename: str, module_name: str) -> bool:
    """A top-level callable that the learner's code itself defined (not an import)."""
    if isinstance(obj, types.ModuleType) or not callable(obj):
        return False
    code = getattr(obj, "__code__", None)
    if code is not None:
        return code.co_filename == filename
    return getattr(obj, "__module__", None) == module_name


def _trim_traceback(exc: BaseException, filename: str, limit: int = 4000) -> str:
    """The traceback from the learner's first frame on (the sandbox's own frames dropped)."""
    tb = traceback.TracebackException.from_exception(exc, capture_locals=False)
    frames = [f for f in tb.stack if os.path.abspath(f.filename) != _THIS_FILE]
    first = next((i for i, f in enumerate(frames) if f.filename == filename), None)
    frames = frames[first:] if first is not None else frames
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.StackSummary.from_list(frames[-12:]).format()
    lines += list(tb.format_exception_only())
    text = "".join(lines).rstrip()
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(soft if soft != resource.RLIM_INFINITY else 4096, 65536)


def _address_space_bytes() -> int:
    """The current virtual size of this process (``VmSize``), in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ----------------------------------------------------------------------------- privileges


_PR_SET_PDEATHSIG = 1
_PR_SET_KEEPCAPS = 8
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_CAP_DAC_READ_SEARCH = 2
_CAP_VERSION_3 = 0x20080522


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: int = 0) -> bool:
    """Linux ``prctl(option, arg)``; False where it failed or is not available."""
    import ctypes

    try:
        return _libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _keep_only_read_search() -> bool:
    """``capset``: effective = permitted = {CAP_DAC_READ_SEARCH}, nothing inheritable."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]

    header, data = Header(_CAP_VERSION_3, 0), (Data * 2)()
    data[0].effective = data[0].permitted = 1 << _CAP_DAC_READ_SEARCH
    try:
        return _libc().capset(ctypes.byref(header), data) == 0
    except (OSError, AttributeError):
        return False


def _unprivileged_ids() -> tuple[int, int]:
    """(uid, gid) of ``nobody``/``nogroup`` (``nobody``'s own group where there is none)."""
    import grp
    import pwd

    user = pwd.getpwnam("nobody")
    try:
        return user.pw_uid, grp.getgrnam("nogroup").gr_gid
    except KeyError:
        return user.pw_uid, user.pw_gid


def _drop_privileges(workdir: str) -> None:
    """As root: become ``nobody:nogroup`` (no supplementary groups), at most
    ``_NPROC_LIMIT`` processes, keeping only ``CAP_DAC_READ_SEARCH`` (it may *read* any
    file, so Python's own modules still import wherever Python is installed, but it cannot
    write the grader's files nor signal its processes). Fails closed: exit 70."""
    uid, gid = _unprivileged_ids()
    os.chown(workdir, uid, gid)
    os.chmod(workdir, 0o700)
    resource.setrlimit(resource.RLIMIT_NPROC, (_NPROC_LIMIT, _NPROC_LIMIT))
    _prctl(_PR_SET_KEEPCAPS, 1)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _keep_only_read_search()  # without it only world-readable modules import
    _prctl(_PR_SET_KEEPCAPS, 0)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        os._exit(70)


# ----------------------------------------------------------------------------- the zygote


def _descendants(root: int) -> list[int]:
    """Live (not zombie) processes below ``root``, read from ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    live: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, state, ppid = int(entry), fields[0], int(fields[1])
        children.setdefault(ppid, []).append(pid)
        if state not in (b"Z", b"X"):
            live.add(pid)
    found, stack = [], [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            stack.append(pid)
            if pid in live:
                found.append(pid)
    return found


def _reap_all(statuses: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        statuses[pid] = status


def _sweep(statuses: dict[int, int], seconds: float = 3.0) -> None:
    """SIGKILL every descendant of this (subreaper) process and reap them, until none is
    left: a double fork or ``setsid`` only re-parents a process to us."""
    me, deadline = os.getpid(), time.monotonic() + seconds
    while True:
        found = _descendants(me)
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _reap_all(statuses)
        if not found or time.monotonic() > deadline:
            return
        time.sleep(0.002)


def _send_msg(sock: socket.socket, msg: dict, fds: Sequence[int] = ()) -> None:
    socket.send_fds(sock, [json.dumps(msg).encode()], list(fds))


class _ZygoteLoop:
    """The zygote's work: fork a learner child on "spawn" (its two pipe ends arrive as
    fds), end it and every process it left on "end", end everything when the grader goes
    (EOF on the socket)."""

    def __init__(self, sock: socket.socket, start_child: Callable[[int, int, str], None]):
        self.sock, self.start_child = sock, start_child
        self.child: tuple[int, str] | None = None  # (pid, working directory)
        self.statuses: dict[int, int] = {}

    def run(self) -> None:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's: we follow its EOF
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):  # not the caller's handlers
            signal.signal(sig, signal.SIG_DFL)
        keep = self.sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, max(keep + 1, _max_fd()))
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        try:
            self.serve()
        finally:
            self.end(0.0)
            _sweep(self.statuses)

    def serve(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            except OSError:
                return
            if not data:
                return
            msg = json.loads(data)
            if msg.get("op") == "spawn" and len(fds) == 2:
                self.end(0.0)
                _send_msg(self.sock, self.spawn(fds[0], fds[1]))
            elif msg.get("op") == "end":
                _send_msg(self.sock, self.end(float(msg.get("grace", 0.0))))
            else:
                for fd in fds:
                    os.close(fd)
                _send_msg(self.sock, {"error": "unknown request"})

    def spawn(self, rfd: int, wfd: int) -> dict:
        workdir = tempfile.mkdtemp(prefix="dlmath-learner-")
        pid = os.fork()
        if pid == 0:
            try:
                self.sock.close()
                self.start_child(rfd, wfd, workdir)
            finally:
                os._exit(70)
        os.close(rfd)
        os.close(wfd)
        self.child = (pid, workdir)
        return {"pid": pid, "workdir": workdir}

    def end(self, grace: float) -> dict:
        """Wait up to ``grace`` s for the child to end by itself, else SIGKILL its group;
        then kill and reap every descendant, remove its directory. Its wait status."""
        if self.child is None:
            return {"status": None, "killed": False}
        (pid, workdir), self.child = self.child, None
        killed, status = False, self.statuses.pop(pid, None)
        deadline = time.monotonic() + grace
        while status is None:
            try:
                done, st = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                status = st
                break
            if time.monotonic() >= deadline:
                if killed:
                    break  # unkillable for 5 s (stuck in the kernel): leave it to the sweep
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                killed, deadline = True, time.monotonic() + 5.0
            time.sleep(0.001)
        _sweep(self.statuses)
        self.statuses.clear()
        shutil.rmtree(workdir, ignore_errors=True)
        return {"status": status, "killed": killed}


class _Zygote:
    """A clean process forked when the :class:`Learner` is created, before the caller has
    made any case or reference; every learner child is forked from it, so a restarted
    child never holds a copy of the grader's later memory (its stack, its references)."""

    def __init__(self, start_child: Callable[[int, int, str], None]):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork" (3.12+)
            pid = os.fork()
        if pid == 0:
            code = 70
            try:
                mine.close()
                _ZygoteLoop(theirs, start_child).run()
                code = 0
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self.sock, self.alive = pid, mine, True

    def ask(self, msg: dict, fds: Sequence[int] = (), timeout: float = 10.0) -> dict | None:
        """Send a request, wait for its answer at most ``timeout`` s; None (and the zygote
        ended) when it does not answer."""
        if not self.alive:
            return None
        try:
            _send_msg(self.sock, msg, fds)
            if _ready(self.sock.fileno(), select.POLLIN, timeout):
                data = self.sock.recv(1 << 16)
                if data:
                    return json.loads(data)
        except (OSError, ValueError):
            pass
        self.close(patience=0.0)
        return None

    def close(self, patience: float = 5.0) -> None:
        """Hang up (the zygote ends its child and everything it left), reap it; SIGKILL it
        when it has not ended within ``patience`` s."""
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(OSError):
            self.sock.close()
        deadline, killed = time.monotonic() + patience, False
        while True:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            if time.monotonic() >= deadline:
                if killed:
                    return  # it will be reaped by whoever adopts it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                killed, deadline = True, time.monotonic() + 2.0
            time.sleep(0.001)


# ----------------------------------------------------------------------------- the parent


def _ready(fd: int, event: int, seconds: float) -> bool:
    """Whether ``fd`` is ready (or hung up) within ``seconds``: poll, so any fd number works."""
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(max(0.0, seconds) * 1000))


def _tree_bytes(path: str, max_entries: int = 10_000) -> float:
    """Disk blocks used under ``path`` in bytes (sparse files count what they use);
    infinite past ``max_entries`` entries (a flood of empty files)."""
    total, entries, stack = 0, 0, [path]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                entries += 1
                if entries > max_entries:
                    return math.inf
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                total += st.st_blocks * 512
    return total


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class _Process:
    """One learner child (forked by the zygote): its pipes and working directory; reading
    replies against a deadline and a byte budget, watching the directory's size."""

    def __init__(self, zygote: _Zygote, disk_bytes: int):
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            reply = zygote.ask({"op": "spawn"}, fds=[req_r, rep_w])
        finally:
            os.close(req_r)
            os.close(rep_w)
        if not reply or "pid" not in reply:
            os.close(req_w)
            os.close(rep_r)
            raise _Died("the sandbox could not start a process")
        self.zygote = zygote
        self.pid, self.workdir = int(reply["pid"]), str(reply["workdir"])
        self.wfd, self.rfd = req_w, rep_r
        self.head = b""
        self.budget = 0
        self.disk_bytes = disk_bytes
        self.alive = True

    def write(self, payload: bytes, deadline: float) -> None:
        view = memoryview(_frame(payload))
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            if _ready(self.wfd, select.POLLOUT, left):
                try:
                    n = os.write(self.wfd, view[: 1 << 16])
                except (BrokenPipeError, OSError):
                    raise _Died from None
                view = view[n:]

    def check_disk(self) -> None:
        if _tree_bytes(self.workdir) > self.disk_bytes:
            raise _Died(
                f"wrote more than {self.disk_bytes // 2**20} MB of files into its working "
                "directory (the limit)"
            )

    def _wait(self, deadline: float) -> None:
        """Until the reply pipe is readable; _Timeout at ``deadline``; the disk use is
        looked at every ``_POLL`` s meanwhile."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            if _ready(self.rfd, select.POLLIN, min(left, _POLL)):
                return
            self.check_disk()

    def read(self, deadline: float) -> Any:
        """The next frame's decoded payload, or raise _Timeout / _Died. A frame is read into
        one buffer of its announced size, which must fit in what is left of ``budget``."""
        while len(self.head) < _HEADER.size:
            self._wait(deadline)
            chunk = os.read(self.rfd, _HEADER.size - len(self.head))
            if not chunk:
                raise _Died
            self.head += chunk
        (n,) = _HEADER.unpack(self.head)
        if n > self.budget:
            raise _Died(
                f"sent a reply of {n / 2**20:.0f} MB (more than the "
                f"{self.budget / 2**20:.0f} MB allowed)"
            )
        buffer = bytearray(n)
        view, pos = memoryview(buffer), 0
        while pos < n:
            self._wait(deadline)
            got = os.readv(self.rfd, [view[pos:]])
            if not got:
                raise _Died
            pos += got
        self.head = b""
        self.budget -= n
        try:
            return _decode(view)
        except Exception as exc:
            raise _Died(f"sent a malformed reply ({type(exc).__name__})") from None

    def end(self, grace: float = 0.0) -> tuple[int | None, bool]:
        """End the child (after ``grace`` s to end by itself) and everything it started;
        (its wait status or None, whether it had to be killed)."""
        if not self.alive:
            return None, False
        self.alive = False
        if grace <= 0:  # at once, from here (it is the zygote's unreaped child: no pid reuse)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        reply = self.zygote.ask({"op": "end", "grace": grace}, timeout=grace + 10.0)
        for fd in (self.wfd, self.rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.wfd = self.rfd = -1
        if reply is None:  # the zygote is gone: end what we can from here
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            shutil.rmtree(self.workdir, ignore_errors=True)
            return None, True
        status = reply.get("status")
        return (None if status is None else int(status)), bool(reply.get("killed"))


def _death(status: int | None, memory_mb: int, we_killed: bool) -> tuple[str, str]:
    """(status, message) for a child that ended without answering."""
    if status is None:
        return "crashed", "process ended"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return "crashed", f"process ended: exit code {code} (os._exit or similar)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit exceeded"
        if sig == signal.SIGKILL and we_killed:
            return "crashed", "the process closed its connection to the grader (it was killed)"
        if sig == signal.SIGKILL:
            return "memory", f"killed (out of memory? limit {memory_mb} MB)"
        return "crashed", f"process killed by {_signal_name(sig)}"
    return "crashed", "process ended"


class Learner:
    """A learner's code, loaded in its own child process with limits. A context manager.

    ``names``: the top-level callables the learner's code defines. ``load_error``: "" or why
    loading failed (syntax error with its line, exception at import with its traceback,
    ``sys.exit``/``os._exit``, timeout, memory). ``load_output``: what loading printed.

    Creating it forks the *zygote* (see the module docstring); every child, the first and
    each restart, is forked from that zygote, never from the caller's later state.
    """

    def __init__(
        self,
        target,
        *,
        timeout: float,
        memory_mb: int,
        output_limit: int,
        disk_mb: int = _DISK_MB,
        unprivileged: bool = False,
    ):
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"'timeout' must be a positive number of seconds; got {timeout!r}.")
        if not (isinstance(memory_mb, int) and memory_mb > 0):
            raise ValueError(f"'memory_mb' must be a positive integer (MB); got {memory_mb!r}.")
        if not (isinstance(output_limit, int) and output_limit > 0):
            raise ValueError(
                f"'output_limit' must be a positive integer (characters); got {output_limit!r}."
            )
        if not (isinstance(disk_mb, int) and disk_mb > 0):
            raise ValueError(f"'disk_mb' must be a positive integer (MB); got {disk_mb!r}.")
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        self.output_limit = output_limit
        self.disk_mb = disk_mb
        self._limits = {"memory_bytes": memory_mb * 2**20, "timeout": self.timeout}
        #: whether the children run as ``nobody`` (when this process is root and the code
        #: is a file's: :meth:`from_source`)
        self.unprivileged = bool(unprivileged and os.geteuid() == 0)
        limits, drop = self._limits, self.unprivileged

        def start_child(rfd: int, wfd: int, workdir: str) -> None:  # runs in the child
            child = _Child(rfd, wfd, workdir, limits, output_limit, drop)
            child.isolate()
            child.send(target(child), {"seq": 0, "name": "", "index": 0})
            child.serve()
            os._exit(0)

        self._proc: _Process | None = None
        self._seq = 0
        self.restarts = 0
        self.start_seconds = 0.0
        self._zygote = _Zygote(start_child)
        self.names, self.load_error, self.load_output = self._start()

    # -- construction
    @classmethod
    def from_source(
        cls,
        source: str,
        *,
        filename: str = "submission.py",
        timeout: float = 10.0,
        memory_mb: int = 2048,
        output_limit: int = 20_000,
        disk_mb: int = _DISK_MB,
    ) -> Learner:
        """Load ``source`` (a script) in a fresh child; tracebacks name ``filename``.
        As root, the child runs as ``nobody`` (see the module docstring)."""
        if not isinstance(source, str):
            raise TypeError(f"'source' must be str (the code); got {type(source).__name__}.")

        def target(child: _Child) -> dict:
            return child.load_source(source, filename)

        return cls(
            target, timeout=timeout, memory_mb=memory_mb, output_limit=output_limit,
            disk_mb=disk_mb, unprivileged=True,
        )  # fmt: skip

    @classmethod
    def from_namespace(
        cls,
        functions: dict[str, Callable],
        *,
        timeout: float = 10.0,
        memory_mb: int = 2048,
        output_limit: int = 20_000,
    ) -> Learner:
        """For ``check(fn)`` in a notebook: fork this process; the functions (and the globals
        they use) live on in the child, which only calls them and sends plain data back."""
        if not isinstance(functions, dict) or not all(callable(f) for f in functions.values()):
            raise TypeError(
                f"'functions' must be a dict of name -> callable; got {type(functions).__name__}."
            )
        functions = dict(functions)

        def target(child: _Child) -> dict:
            child.functions = functions
            return {"names": sorted(functions), "load_error": "", "load_output": ""}

        return cls(target, timeout=timeout, memory_mb=memory_mb, output_limit=output_limit)

    def _budget(self) -> int:
        """Bytes of replies accepted per load or call_many: no more than the child's memory."""
        return self._limits["memory_bytes"] + _REPLY_SLACK

    def _start(self) -> tuple[frozenset, str, str]:
        start = time.perf_counter()
        try:
            proc = _Process(self._zygote, self.disk_mb * 2**20)
        except _Died as exc:
            return frozenset(), f"{exc} while loading", ""
        proc.budget = self._budget()
        deadline = time.monotonic() + self.timeout
        try:
            reply = proc.read(deadline)
            if not (isinstance(reply, dict) and reply.get("seq") == 0):
                raise _Died("sent a reply that does not answer the request")
            proc.check_disk()
        except _Timeout:
            proc.end()
            return frozenset(), f"timed out after {self.timeout:g} s while loading", ""
        except _Died as exc:
            raw, killed = proc.end(0.0 if str(exc) else 0.5)
            status, message = _death(raw, self.memory_mb, we_killed=killed)
            detail = str(exc) or message
            if status == "memory":
                detail = f"ran out of memory (limit {self.memory_mb} MB)"
            return frozenset(), f"{detail} while loading", ""
        self._proc = proc
        self.start_seconds = time.perf_counter() - start
        names = frozenset(str(n) for n in reply.get("names", []))
        return names, str(reply.get("load_error", "")), str(reply.get("load_output", ""))

    # -- calling
    def call_many(self, name: str, cases: list[tuple[tuple, dict]]) -> list[Outcome]:
        """Call learner function ``name`` once per case ``(args, kwargs)`` in one round trip.

        The wall-clock limit ``timeout`` applies to this whole call. On a timeout or a crash
        the child is killed and the remaining cases get that status; the next ``call_many``
        starts a fresh child (reloading the source, forked from the zygote). Arguments are
        plain data or :class:`Fn`; the child works on its own copies. Each reply must carry
        this request's sequence number, ``name`` and case index, or the child is dropped.
        """
        if not isinstance(name, str):
            raise TypeError(f"'name' must be str; got {type(name).__name__}.")
        cases = [(tuple(a), dict(k)) for a, k in cases]
        if not cases:
            return []
        if name not in self.names:
            return [Outcome("missing", error=f"{name} is not defined")] * len(cases)
        self._seq += 1
        seq = self._seq
        try:
            payload = _encode(
                {"op": "call", "seq": seq, "name": name, "cases": [list(c) for c in cases]}
            )
        except NotPlainData as exc:
            raise TypeError(f"'cases' must hold plain data or Fn only; {exc}") from None
        if self._proc is None:
            names, error, _ = self._start()
            self.restarts += 1
            if self._proc is None or name not in names:
                why = error or f"{name} is no longer defined"
                return [Outcome("crashed", error=f"could not restart: {why}")] * len(cases)
        proc = self._proc
        proc.budget = self._budget()
        start = time.monotonic()
        deadline = start + self.timeout
        outcomes: list[Outcome] = []
        try:
            proc.write(payload, deadline)
            while len(outcomes) < len(cases):
                reply = proc.read(deadline)
                if not (
                    isinstance(reply, dict)
                    and reply.get("seq") == seq
                    and reply.get("name") == name
                    and reply.get("index") == len(outcomes)
                ):
                    raise _Died("sent a reply that does not answer the request (a stray frame)")
                outcomes.append(
                    Outcome(
                        status=str(reply.get("status", "error")),
                        value=reply.get("value"),
                        error=str(reply.get("error", "")),
                        args_after=tuple(reply.get("args_after") or ()),
                        seconds=float(reply.get("seconds", 0.0)),
                        stdout=str(reply.get("stdout", "")),
                    )
                )
            proc.check_disk()
        except _Timeout:
            proc.end()
            self._proc = None
            rest = Outcome("timeout", error=f"timed out after {self.timeout:g} s")
            outcomes += [rest] * (len(cases) - len(outcomes))
        except _Died as exc:
            raw, killed = proc.end(0.0 if str(exc) else 0.5)
            self._proc = None
            status, message = _death(raw, self.memory_mb, we_killed=killed)
            if str(exc):
                status, message = "error", str(exc)
            if status == "memory":
                message = f"ran out of memory (limit {self.memory_mb} MB)"
            rest = Outcome(status, error=message, seconds=time.monotonic() - start)
            outcomes += [rest] * (len(cases) - len(outcomes))
        return outcomes

    def _drop(self) -> None:
        if self._proc is not None:
            self._proc.end()
            self._proc = None

    def close(self) -> None:
        """End the child, everything it started, and the zygote; remove the working
        directory."""
        self._drop()
        zygote = getattr(self, "_zygote", None)
        if zygote is not None:
            zygote.close()

    def __enter__(self) -> Learner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:  # noqa: SIM105 (contextlib itself may be gone at interpreter shutdown)
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "running" if self._proc is not None else "stopped"
        return f"Learner({len(self.names)} functions, {state})"
