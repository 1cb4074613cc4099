import pytest

from eigenfast.llm.tiny import save_tiny_model


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    """A tiny random Qwen2 model + locally trained tokenizer, saved once per session."""
    return save_tiny_model(tmp_path_factory.getbasetemp() / "tiny-model")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_path)


@pytest.fixture(scope="session")
def mock_domain(tau2_dir):
    from eigenfast.domains import load_tau2

    return load_tau2("mock", tau2_dir)


@pytest.fixture(scope="session")
def tiny_hf(tiny_path):
    from eigenfast.llm.hf import HFBackend

    return HFBackend(str(tiny_path))
