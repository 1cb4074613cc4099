import pytest

from eigenfast.llm.spec import BackendSpec, load_backend, parse_spec


def test_parse_specs(monkeypatch):
    assert parse_spec("hf:/models/qwen") == BackendSpec("hf", "/models/qwen")
    assert parse_spec("vllm:Qwen/Qwen2.5-7B") == BackendSpec("vllm", "Qwen/Qwen2.5-7B")
    assert parse_spec("openai:gpt-4.1@http://127.0.0.1:8000/v1") == BackendSpec("openai", "gpt-4.1", "http://127.0.0.1:8000/v1")
    assert parse_spec("openai:org/m@v2@https://h/v1") == BackendSpec("openai", "org/m@v2", "https://h/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://x/v1")
    assert parse_spec("openai:gpt-4.1") == BackendSpec("openai", "gpt-4.1", "http://x/v1")


@pytest.mark.parametrize("bad,why", [("hf", "expected one of"), ("torch:/x", "expected one of"),
                                     ("hf:", "missing the path"), ("openai:@http://h/v1", "missing the model")])
def test_bad_specs_name_the_problem(bad, why):
    with pytest.raises(ValueError, match=why):
        parse_spec(bad)


def test_vllm_backend_is_import_guarded():
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(ImportError, match="openai:MODEL@URL"):
        load_backend("vllm:/nowhere")


def test_importing_llm_and_rollout_stays_light():
    import subprocess
    import sys

    code = ("import sys, eigenfast.llm, eigenfast.rollout; "
            "print([m for m in ('torch', 'transformers', 'vllm', 'httpx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hf_tiny_is_built_locally_once_and_loads(tmp_path, monkeypatch):
    from eigenfast.llm.spec import load_backend, resolve_hf_path

    monkeypatch.setenv("EIGENFAST_CACHE", str(tmp_path))
    assert resolve_hf_path("./some/model") == "./some/model"
    path = resolve_hf_path("tiny")
    assert path == str(tmp_path / "tiny") and (tmp_path / "tiny" / "config.json").exists()
    stamp = (tmp_path / "tiny" / "config.json").stat().st_mtime_ns
    backend = load_backend("hf:tiny")
    assert backend.tokenizer is not None
    assert (tmp_path / "tiny" / "config.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
