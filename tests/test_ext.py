import os
import subprocess
import sys

import pytest

from eigenfast import _ext

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def py(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**ENV, **env}, timeout=120)


def test_import_is_light():
    """`import eigenfast` (and the records/config/io/ext modules) must not pull torch, vLLM or Ray, nor touch CUDA."""
    code = (
        "import sys, eigenfast, eigenfast.records, eigenfast.config, eigenfast.io, eigenfast._ext, eigenfast.ops\n"
        "eigenfast._ext.status()\n"
        "bad = [m for m in ('torch', 'vllm', 'ray', 'triton') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    proc = py(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_import_does_not_initialise_cuda():
    pytest.importorskip("torch")
    proc = py("import eigenfast, eigenfast.ops, eigenfast.cli; import torch; "
              "print(torch.cuda.is_initialized())")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_disable_switch_forces_fallback():
    proc = py("from eigenfast import _ext; s = _ext.status(); print(s.state, _ext.native() is None)",
              EIGENFAST_DISABLE_EXT="1", EIGENFAST_REQUIRE_NATIVE="1")
    assert proc.stdout.split() == ["disabled", "True"], proc.stderr


HIDE_C = "import sys; sys.modules['eigenfast._C'] = None\n"  # the import system's own "not available"
BREAK_C = (
    "import sys, importlib.abc\n"
    "class Broken(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == 'eigenfast._C':\n"
    "            raise ImportError('undefined symbol: _ZN3foo')\n"
    "sys.meta_path.insert(0, Broken())\n"
)
REPORT = "from eigenfast import _ext; s = _ext.status(); print(s.state, '|', s.reason)"


def test_require_native_turns_a_missing_extension_into_an_error():
    assert py(HIDE_C + REPORT, EIGENFAST_REQUIRE_NATIVE="0", EIGENFAST_DISABLE_EXT="0").stdout.startswith("not built |")
    proc = py(HIDE_C + REPORT, EIGENFAST_REQUIRE_NATIVE="1", EIGENFAST_DISABLE_EXT="0")
    assert proc.returncode != 0 and "EIGENFAST_REQUIRE_NATIVE=1 but the C++ extension is not built" in proc.stderr


def test_broken_extension_is_told_apart_from_missing():
    proc = py(BREAK_C + REPORT, EIGENFAST_REQUIRE_NATIVE="0", EIGENFAST_DISABLE_EXT="0")
    assert proc.stdout.startswith("broken | ImportError: undefined symbol"), proc.stderr
    proc = py(BREAK_C + REPORT, EIGENFAST_REQUIRE_NATIVE="1", EIGENFAST_DISABLE_EXT="0")
    assert proc.returncode != 0 and "extension is broken: ImportError: undefined symbol" in proc.stderr


@pytest.mark.skipif(os.environ.get("EIGENFAST_DISABLE_EXT") == "1", reason="extension disabled on purpose")
def test_compiled_extension_loads_when_built():
    status = _ext.status()
    if not status.active and os.environ.get("EIGENFAST_REQUIRE_NATIVE") != "1":
        pytest.skip(f"extension {status.state}: {status.reason}")
    assert status.active and _ext.native().__version__
