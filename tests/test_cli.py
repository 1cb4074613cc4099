import json
import os
import subprocess
import sys

import pytest

from eigenfast.cli import main

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "eigenfast", *args], capture_output=True, text=True,
                          env={**ENV, **(env or {})}, timeout=120)


def test_help_for_every_subcommand(capsys):
    from eigenfast.cli import COMMANDS

    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert name in capsys.readouterr().out


def test_exit_codes():
    assert main([]) == 2
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    assert main(["config", "show", "rollout.samples=3"]) == 0
    assert main(["config", "show", "rollout.samples=x"]) == 2


def test_config_error_prints_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rollout:\n  samplez: 1\n")
    proc = run_cli("config", "show", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"eigenfast config: {bad}: rollout.samplez: unknown key"
    assert "Traceback" not in proc.stderr


def test_doctor_reports_extension_state():
    on = run_cli("doctor", "--json")
    assert on.returncode == 0, on.stderr
    rows = {r["path"]: r for r in json.loads(on.stdout)}
    assert {"Triton kernels", "CUDA", "Ray", "numba fallbacks"} <= set(rows)
    assert any("vLLM" in k and "UNTESTED" in rows[k]["note"] for k in rows)
    off = run_cli("doctor", "--json", env={"EIGENFAST_DISABLE_EXT": "1"})
    ext = json.loads(off.stdout)[0]
    assert ext["active"] is False and "EIGENFAST_DISABLE_EXT=1" in ext["note"]
