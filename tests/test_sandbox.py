"""The sandbox: a learner's code in its own limited process, plain data across the pipe.

Each hostile submission of the grading issue is run here (infinite loop, sys.exit, os._exit,
syntax error, 10 MB of printing, 16 GB allocation, exception at import, redefined comparison
functions, lying ndarray subclasses, object arrays, non-data objects). Expected values are
closed forms written in the test.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest

from dlmath.exercises.sandbox import FUNCTIONS, Fn, Learner, Outcome, to_plain

FAST = {"timeout": 1.0}


def learner(source: str, **kwargs) -> Learner:
    return Learner.from_source(source, **{**FAST, **kwargs})


def one(lrn: Learner, name: str, *args, **kwargs) -> Outcome:
    (out,) = lrn.call_many(name, [(args, kwargs)])
    return out


GOOD = """
import numpy as np
def add(a, b):
    return a + b
"""


def test_plain_values_cross_with_true_values_and_types():
    with learner(GOOD) as lrn:
        assert lrn.names == frozenset({"add"}) and lrn.load_error == ""
        X = np.arange(6.0).reshape(2, 3)
        out = one(lrn, "add", X, X)
        assert out.status == "ok" and out.error == ""
        assert type(out.value) is np.ndarray and out.value.shape == (2, 3)
        np.testing.assert_array_equal(out.value, 2 * np.arange(6.0).reshape(2, 3))
        outs = lrn.call_many("add", [((1, 2), {}), ((0.5,), {"b": 0.25}), (("a", "b"), {})])
        assert [o.value for o in outs] == [3, 0.75, "ab"]
        assert type(outs[0].value) is int and type(outs[1].value) is float


def test_nested_containers_and_numpy_scalars_round_trip():
    value = {"W1": np.eye(2, dtype=np.float32), "pair": (1, [2.5, None, True]), "s": "x"}
    back = to_plain(value)
    assert back["W1"].dtype == np.float32 and back["W1"].tolist() == [[1, 0], [0, 1]]
    assert back["pair"] == (1, [2.5, None, True]) and back["s"] == "x"
    scalar = to_plain(np.float64(2.5))
    assert type(scalar) is np.ndarray and scalar.shape == () and float(scalar) == 2.5
    assert to_plain(np.str_("minimum")) == "minimum" and type(to_plain(np.str_("a"))) is str
    assert math.isnan(to_plain(float("nan"))) and to_plain(-math.inf) == -math.inf


def test_in_place_modification_is_seen_by_the_parent_and_parent_arrays_stay_intact():
    src = "def double_in_place(a):\n    a *= 2\n    return None\n"
    a = np.array([1.0, 2.0])
    with learner(src) as lrn:
        out = one(lrn, "double_in_place", a)
    assert out.status == "ok" and out.value is None
    np.testing.assert_array_equal(out.args_after[0], [2.0, 4.0])
    np.testing.assert_array_equal(a, [1.0, 2.0])  # the parent's array is untouched


def test_functions_cross_as_fn_and_match_their_closed_forms():
    src = "def call(f, x):\n    return f(x)\n"
    A = np.array([[2.0, 1.0], [1.0, 3.0]])
    b = np.array([1.0, -1.0])
    x = np.array([0.5, -2.0])
    with learner(src) as lrn:
        outs = lrn.call_many(
            "call",
            [
                ((Fn("quadratic", {"A": A, "b": b}), x), {}),
                ((Fn("sum_sin"), x), {}),
                ((Fn("rosenbrock"), x), {}),
                ((Fn("logsumexp"), x), {}),
            ],
        )
    assert all(o.status == "ok" for o in outs), outs
    expect = [
        0.5 * (2 * 0.25 + 2 * 0.5 * -2.0 + 3 * 4.0) + (0.5 + 2.0),
        math.sin(0.5) + math.sin(-2.0),
        100 * (-2.0 - 0.25) ** 2 + (1 - 0.5) ** 2,
        math.log(math.exp(0.5) + math.exp(-2.0)),
    ]
    np.testing.assert_allclose([o.value for o in outs], expect, rtol=1e-14)
    assert outs[0].args_after[0] is None  # a function argument is not echoed back
    assert set(FUNCTIONS) >= {"quadratic", "sum_sin", "rosenbrock", "logsumexp"}


def test_infinite_loop_times_out_and_the_learner_restarts_for_the_next_call():
    src = GOOD + "def spin():\n    while True:\n        pass\n"
    with learner(src, timeout=0.5) as lrn:
        start = time.monotonic()
        outs = lrn.call_many("spin", [((), {}), ((), {})])
        elapsed = time.monotonic() - start
        assert [o.status for o in outs] == ["timeout", "timeout"]
        assert outs[0].error == "timed out after 0.5 s"
        assert 0.5 <= elapsed < 3.0
        assert one(lrn, "add", 2, 3).value == 5  # a fresh child answers
        assert lrn.restarts == 1


def test_sys_exit_in_a_call_is_reported_and_the_rest_still_runs():
    src = GOOD + "import sys\ndef leave():\n    sys.exit(3)\n"
    with learner(src) as lrn:
        out = one(lrn, "leave")
        assert (out.status, out.error) == ("crashed", "process ended: sys.exit(3)")
        assert one(lrn, "add", 1, 1).value == 2


def test_os_exit_kills_the_child_the_remaining_cases_share_the_status_and_it_restarts():
    src = GOOD + "import os\ndef vanish():\n    os._exit(4)\n"
    with learner(src) as lrn:
        outs = lrn.call_many("vanish", [((), {}), ((), {})])
        assert [o.status for o in outs] == ["crashed", "crashed"]
        assert "exit code 4" in outs[0].error
        assert one(lrn, "add", 2, 2).value == 4
        assert lrn.restarts == 1


def test_segfault_is_a_crash_with_the_signal_named():
    src = GOOD + "import ctypes\ndef segv():\n    ctypes.string_at(0)\n"
    with learner(src) as lrn:
        out = one(lrn, "segv")
        assert out.status == "crashed" and "SIGSEGV" in out.error
        assert one(lrn, "add", 1, 2).value == 3


def test_syntax_error_names_the_line():
    with learner("x = 1\ndef f(:\n    pass\n") as lrn:
        assert lrn.names == frozenset()
        assert lrn.load_error.startswith("SyntaxError at line 2")
        assert one(lrn, "f").status == "missing"


def test_exception_at_import_keeps_what_was_defined_before_and_shows_the_traceback():
    src = "def early(x):\n    return x\n\nraise RuntimeError('boom at import')\n\ndef late(x):\n"
    src += "    return x\n"
    with learner(src) as lrn:
        assert lrn.names == frozenset({"early"})
        assert "RuntimeError: boom at import" in lrn.load_error
        assert 'submission.py", line 4' in lrn.load_error
        assert "sandbox.py" not in lrn.load_error  # trimmed to the learner's code
        assert one(lrn, "early", 7).value == 7
        assert one(lrn, "late", 7).status == "missing"


def test_sys_exit_and_os_exit_at_import():
    with learner("def f():\n    return 1\nimport sys\nsys.exit(2)\n") as lrn:
        assert lrn.load_error == "process ended: sys.exit(2) while loading"
        assert one(lrn, "f").value == 1
    with learner("import os\nos._exit(5)\n") as lrn:
        assert "exit code 5" in lrn.load_error and lrn.names == frozenset()


def test_infinite_loop_at_import_times_out():
    with learner("while True:\n    pass\n", timeout=0.5) as lrn:
        assert lrn.load_error == "timed out after 0.5 s while loading"
        assert lrn.names == frozenset()


def test_ten_megabytes_of_printing_is_truncated():
    src = (
        "import os, sys\n"
        "print('x' * 5_000_000)\n"
        "def shout():\n"
        "    for _ in range(1000):\n"
        "        print('y' * 10_000)\n"
        "    os.write(1, b'z' * 1_000_000)\n"
        "    return 1\n"
    )
    with learner(src, output_limit=1000, timeout=5.0) as lrn:
        assert lrn.load_error == ""
        assert lrn.load_output.startswith("x" * 1000)
        assert len(lrn.load_output) < 1100 and "output truncated" in lrn.load_output
        out = one(lrn, "shout")
        assert out.status == "ok" and out.value == 1
        assert out.stdout.startswith("y" * 1000) and len(out.stdout) < 1100
        # 1000 * 10_001 printed + 1_000_000 written to fd 1, minus the 1000 kept
        assert f"{1000 * 10_001 + 1_000_000 - 1000} more characters" in out.stdout


def test_allocating_16_gb_is_a_memory_error_not_a_machine_swap():
    src = GOOD + "import numpy as np\ndef hog():\n    return np.ones(2 * 2**30)\n"
    with learner(src, memory_mb=512) as lrn:
        out = one(lrn, "hog")
        assert (out.status, out.error) == ("memory", "ran out of memory (limit 512 MB)")
        assert one(lrn, "add", 1, 1).value == 2
    with learner("import numpy as np\nbig = np.ones(2 * 2**30)\n", memory_mb=512) as lrn:
        assert lrn.load_error == "ran out of memory (limit 512 MB) while loading"


def test_redefined_comparison_functions_do_not_reach_the_parent():
    src = """
import math
import numpy as np
import numpy.testing
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
def wrong(x):
    return x + 1.0
"""
    originals = (np.allclose, np.isclose, np.testing.assert_allclose, math.isclose)
    x = np.array([1.0, 2.0])
    with learner(src) as lrn:
        out = one(lrn, "wrong", x)
    assert (np.allclose, np.isclose, np.testing.assert_allclose, math.isclose) == originals
    assert out.status == "ok"
    assert not np.allclose(out.value, x)  # the parent's comparison sees the true values
    np.testing.assert_array_equal(out.value, [2.0, 3.0])


def test_an_ndarray_subclass_with_lying_operators_arrives_as_a_plain_array():
    src = """
import numpy as np
class Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
    def __sub__(self, other):
        return np.zeros(self.shape)
    def __rsub__(self, other):
        return np.zeros(self.shape)
    def __array__(self, dtype=None, copy=None):
        return np.zeros(self.shape)
    def tobytes(self, *a, **k):
        return bytes(self.nbytes)
def liar(x):
    return (np.asarray(x) * 10).view(Liar)
"""
    with learner(src) as lrn:
        out = one(lrn, "liar", np.array([1.0, 2.0]))
    assert out.status == "ok" and type(out.value) is np.ndarray
    assert out.value.tolist() == [10.0, 20.0]
    assert np.abs(out.value - np.array([1.0, 2.0])).max() == 18.0


def test_object_arrays_and_non_data_objects_are_errors():
    src = """
import numpy as np
class Thing:
    pass
def objects():
    return np.array([1, None], dtype=object)
def thing():
    return Thing()
def gen():
    return (i for i in range(3))
def bad_keys():
    return {1: 2}
"""
    with learner(src) as lrn:
        outs = [one(lrn, name) for name in ("objects", "thing", "gen", "bad_keys")]
    assert [o.status for o in outs] == ["error"] * 4
    assert outs[0].error == "returned an array of dtype object, not a numeric array"
    assert outs[1].error == "returned Thing, not an array"
    assert outs[2].error == "returned generator, not an array"
    assert all(o.value is None for o in outs)


def test_learner_exception_gives_a_trimmed_traceback():
    src = "def f(x):\n    return g(x)\n\ndef g(x):\n    return x[10]\n"
    with learner(src) as lrn:
        out = one(lrn, "f", np.zeros(3))
    assert out.status == "error"
    assert out.error.startswith("Traceback (most recent call last):")
    assert 'submission.py", line 5, in g' in out.error and "IndexError" in out.error
    assert "sandbox.py" not in out.error


def test_time_limit_covers_the_whole_call_many_and_kills_forked_grandchildren(tmp_path):
    src = """
import os, time
def slow(x):
    time.sleep(0.2)
    return x
def spawn(path):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    with open(path, 'w') as fh:
        fh.write(str(pid))
    time.sleep(60)
"""
    pid_file = tmp_path / "grandchild.pid"
    tmp_path.chmod(0o777)  # as root the learner runs as nobody: let it write here
    with learner(src, timeout=1.5) as lrn:  # 10 x 0.2 s > 1.5 s: the limit is per call_many
        outs = lrn.call_many("slow", [((i,), {}) for i in range(10)])
        statuses = [o.status for o in outs]
        assert statuses[:2] == ["ok", "ok"] and statuses[-1] == "timeout"
        assert one(lrn, "spawn", str(pid_file)).status == "timeout"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid), "the learner's own child survived the timeout"


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait a moment for its reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_working_directory_is_private_and_removed():
    src = "import os\ndef where():\n    open('note.txt', 'w').write('hi')\n    return os.getcwd()\n"
    lrn = learner(src)
    out = one(lrn, "where")
    assert out.status == "ok" and out.value != os.getcwd()
    assert os.path.exists(os.path.join(out.value, "note.txt"))
    lrn.close()
    assert not os.path.exists(out.value)


def test_from_namespace_calls_functions_of_this_process_in_a_child():
    offset = 10.0

    def shifted(x):
        return np.asarray(x) + offset  # a closure over this process's globals

    def cheat(x):
        np.allclose = lambda *a, **k: True  # only the child's numpy
        return x

    original = np.allclose
    with Learner.from_namespace({"shifted": shifted, "cheat": cheat}, timeout=1.0) as lrn:
        assert lrn.names == frozenset({"shifted", "cheat"})
        assert one(lrn, "shifted", np.array([1.0])).value.tolist() == [11.0]
        assert one(lrn, "cheat", 1).value == 1
    assert np.allclose is original


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="'timeout' must be a positive number"):
        Learner.from_source("x = 1", timeout=0)
    with pytest.raises(ValueError, match="'memory_mb' must be a positive integer"):
        Learner.from_source("x = 1", memory_mb=-1)
    with pytest.raises(TypeError, match="'source' must be str"):
        Learner.from_source(b"x = 1")
    with learner(GOOD) as lrn, pytest.raises(TypeError, match="'cases' must hold plain data"):
        lrn.call_many("add", [((object(), 1), {})])
    with pytest.raises(ValueError, match="Fn name must be one of"):
        to_plain(Fn("nope", {}))


# --- hardening (review of issues 10/11): each test reproduces an attack that once worked


STEAL = """
import os, sys, numpy as np
def linear_forward(X, W, b):
    os._exit(1)
def linear_backward(dZ, X, W):
    f = sys._getframe()
    while f is not None:
        if "refs" in f.f_locals and "cases" in f.f_locals:
            for c, r in zip(f.f_locals["cases"], f.f_locals["refs"]):
                if np.array_equal(c.args[0], dZ) and np.array_equal(c.args[1], X):
                    return r
        f = f.f_back
    raise RuntimeError("not found")
"""


def test_a_restarted_child_cannot_read_the_references_from_the_graders_stack():
    from dlmath.exercises.checking import check_source

    report = check_source(STEAL, names=["linear_forward", "linear_backward"], timeout=5)
    by_name = {e.name: e for e in report.exercises}
    assert by_name["linear_forward"].status == "error"
    assert by_name["linear_backward"].status == "error" and by_name["linear_backward"].score == 0
    assert "not found" in by_name["linear_backward"].diagnosis


def test_every_child_is_forked_from_the_zygote_made_before_the_parents_later_objects():
    src = """
import gc, os
def vanish():
    os._exit(1)
def seen():
    mark = "zygote-marker"
    lists = [o for o in gc.get_objects() if type(o) is list and o and type(o[0]) is str]
    return any(o[0] == mark for o in lists)
"""
    with learner(src) as lrn:
        secret = ["zygote-marker", np.arange(3.0)]  # made after the Learner (gc-tracked)
        assert one(lrn, "seen").value is False  # the first child
        assert one(lrn, "vanish").status == "crashed"
        assert one(lrn, "seen").value is False and lrn.restarts == 1  # a restart
    assert secret[0] == "zygote-marker"


def test_closing_every_fd_and_sleeping_cannot_hang_the_grader():
    src = "import os, time\ndef hang():\n    os.closerange(3, 1024)\n    time.sleep(30)\n"
    start = time.monotonic()
    with learner(src, timeout=1.0) as lrn:
        out = one(lrn, "hang")
    assert time.monotonic() - start < 5.0
    assert out.status == "crashed" and "closed its connection" in out.error
    start = time.monotonic()  # the same while loading
    with learner("import os, time\nos.closerange(3, 1024)\ntime.sleep(30)\n") as lrn:
        assert "closed its connection" in lrn.load_error and lrn.names == frozenset()
    assert time.monotonic() - start < 5.0


def test_a_grandchild_in_its_own_session_is_killed_with_the_learner():
    src = """
import os, time
def escape():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork():
            os._exit(0)
        os.write(w, str(os.getpid()).encode())
        time.sleep(30)
        os._exit(0)
    os.waitpid(pid, 0)
    return int(os.read(r, 32))
"""
    with learner(src) as lrn:
        out = one(lrn, "escape")
        assert out.status == "ok"
        assert _running(out.value)  # it escaped the process group (killpg alone misses it)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(out.value):
        time.sleep(0.02)
    assert not _running(out.value), "a setsid'd grandchild outlived the Learner"


def test_as_root_the_child_is_nobody_and_cannot_write_the_graders_files_nor_signal_it(tmp_path):
    import pwd

    grades = tmp_path / "grades.csv"
    grades.write_text("submission,total\n")
    src = """
import os
def attack(path, pid):
    got = [os.getuid()]
    for act in (lambda: open(path, "w").write("x,100\\n"), lambda: os.kill(pid, 0)):
        try:
            act()
            got.append("done")
        except PermissionError:
            got.append("refused")
    import fractions  # a module nobody imported yet: Python's files stay readable
    return got
"""
    with learner(src) as lrn:
        out = one(lrn, "attack", str(grades), os.getpid())
    assert out.status == "ok", out.error
    if os.geteuid() == 0:  # CI and Gradescope run as root
        assert out.value == [pwd.getpwnam("nobody").pw_uid, "refused", "refused"]
        assert grades.read_text() == "submission,total\n"
    else:  # not root: no other uid to drop to (the README's threat model says so)
        assert out.value == [os.getuid(), "done", "done"]


def test_a_forged_or_oversized_frame_on_the_reply_pipe_drops_the_child():
    src = """
import struct, sys
from dlmath.exercises import sandbox
def _wfd():
    f = sys._getframe()
    while not isinstance(f.f_locals.get("self"), sandbox._Child):
        f = f.f_back
    return f.f_locals["self"].wfd
def forge(x):
    frame = sandbox._frame(sandbox._encode({"status": "ok", "value": 1.0, "seq": 999}))
    import os
    os.write(_wfd(), frame)
    return x
def huge(x):
    import os
    os.write(_wfd(), struct.pack("<Q", 100 * 2**20))  # announces 100 MB
    return x
def add(a, b):
    return a + b
"""
    with learner(src, memory_mb=64, timeout=2.0) as lrn:
        outs = lrn.call_many("forge", [((1.0,), {}), ((2.0,), {})])
        assert [o.status for o in outs] == ["error", "error"]
        assert "does not answer the request" in outs[0].error
        start = time.monotonic()
        out = one(lrn, "huge", 1.0)
        assert out.status == "error" and "sent a reply of 100 MB" in out.error
        assert time.monotonic() - start < 1.5  # refused at once, not waited for
        assert one(lrn, "add", 1, 2).value == 3 and lrn.restarts == 2


def test_filling_the_disk_with_many_files_is_stopped_at_the_cap():
    src = """
import os, time
def fill():
    for i in range(64):
        with open(f"f{i}", "wb") as fh:
            fh.write(b"x" * 2**20)
        time.sleep(0.01)
    return "wrote 64 MB"
"""
    with learner(src, disk_mb=8, timeout=5.0) as lrn:
        out = one(lrn, "fill")
    assert out.status == "error" and "more than 8 MB of files" in out.error
