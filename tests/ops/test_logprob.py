"""Every backend of token_logprobs / linear_token_logprobs against the float64 reference, values and grads."""

import os
import subprocess
import sys

import pytest
import torch

from eigenfast.ops import logprob
from eigenfast.ops._triton_utils import triton_installed
from eigenfast.ops.logprob import (
    linear_token_logprobs,
    linear_token_logprobs_reference,
    token_logprobs,
    token_logprobs_reference,
)

BACKENDS = [
    "torch",
    pytest.param("triton", marks=pytest.mark.skipif(not triton_installed(), reason="no triton")),
]
# (atol, rtol) per input dtype: the reference sees the same rounded inputs, so the error is arithmetic only,
# except for gradients, which are returned in the input dtype (bf16 keeps 8 bits).
VALUE_TOL = {torch.float32: (2e-5, 2e-5), torch.bfloat16: (2e-5, 2e-5)}
GRAD_TOL = {torch.float32: (2e-6, 1e-4), torch.bfloat16: (2e-3, 1.6e-2)}


def _loss(out, g_logp, g_ent):
    if isinstance(out, tuple):
        return (out[0].double() * g_logp).sum() + (out[1].double() * g_ent).sum()
    return (out.double() * g_logp).sum()


def _run_rows(fn, logits, labels, g_logp, g_ent, **kw):
    x = logits.detach().clone().requires_grad_(True)
    out = fn(x, labels, **kw)
    _loss(out, g_logp, g_ent).backward()
    return out, x.grad


def _compare_rows(logits, labels, backend, *, temperature=1.0, entropy=True, value_tol=None, grad_tol=None):
    n = logits.shape[0]
    g_logp, g_ent = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    ref_out, ref_grad = _run_rows(
        token_logprobs_reference, logits.double(), labels, g_logp, g_ent,
        temperature=temperature, return_entropy=entropy,
    )  # fmt: skip
    out, grad = _run_rows(
        token_logprobs, logits, labels, g_logp, g_ent,
        temperature=temperature, return_entropy=entropy, backend=backend,
    )  # fmt: skip
    atol, rtol = value_tol or VALUE_TOL[logits.dtype]
    ref_out = ref_out if entropy else (ref_out,)
    out = out if entropy else (out,)
    for r, o in zip(ref_out, out, strict=True):
        assert o.dtype == torch.float32 and o.shape == (n,)
        torch.testing.assert_close(o.double(), r, atol=atol, rtol=rtol)
    atol, rtol = grad_tol or GRAD_TOL[logits.dtype]
    assert grad.dtype == logits.dtype
    torch.testing.assert_close(grad.double(), ref_grad, atol=atol, rtol=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("n", "v"), [(1, 1), (1, 37), (6, 300), (0, 11), (3, 4096 + 5)])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_logprobs_matches_reference(backend, dtype, n, v, temperature):
    torch.manual_seed(n * 1000 + v)
    logits = (torch.randn(n, v) * 3).to(dtype)
    labels = torch.randint(0, v, (n,))
    if n > 2:
        labels[1] = -100
    _compare_rows(logits, labels, backend, temperature=temperature)
    _compare_rows(logits, labels, backend, temperature=temperature, entropy=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_vocab_ignored_rows_and_huge_logits(backend):
    torch.manual_seed(1)
    logits = torch.randn(5, 50) * 4
    logits[:, 10:20] = float("-inf")  # masked vocab
    logits[3] = torch.where(torch.rand(50) < 0.5, 1e4, -1e4)  # +-1e4
    logits[3, 10:20] = float("-inf")
    labels = torch.tensor([0, 25, -100, 49, 7])
    _compare_rows(logits, labels, backend, value_tol=(2e-3, 1e-5))
    all_ignored = torch.full((5,), -100)
    out, grad = _run_rows(token_logprobs, logits, all_ignored, torch.ones(5), torch.ones(5),
                          return_entropy=True, backend=backend)  # fmt: skip
    assert torch.equal(out[0], torch.zeros(5)) and torch.equal(out[1], torch.zeros(5))
    assert torch.equal(grad, torch.zeros_like(logits))


@pytest.mark.parametrize("backend", BACKENDS)
def test_qwen_vocab_small_n(backend):
    torch.manual_seed(2)
    v = 151_936
    logits = torch.randn(2, v) * 2
    labels = torch.tensor([5, v - 1])
    _compare_rows(logits, labels, backend, temperature=0.9)


def _run_linear(fn, hidden, weight, bias, labels, g_logp, g_ent, **kw):
    leaves = [
        t.detach().clone().requires_grad_(True) if t is not None else None for t in (hidden, weight, bias)
    ]
    out = fn(leaves[0], leaves[1], labels, bias=leaves[2], **kw)
    _loss(out, g_logp, g_ent).backward()
    return out, [t.grad if t is not None else None for t in leaves]


def _compare_linear(hidden, weight, bias, labels, backend, *, temperature=1.0, entropy=True, chunk_size=None,
                    value_tol=None, grad_tol=None):  # fmt: skip
    n = hidden.shape[0]
    g_logp, g_ent = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    as64 = [t.double() if t is not None else None for t in (hidden, weight, bias)]
    ref_out, ref_grads = _run_linear(linear_token_logprobs_reference, *as64, labels, g_logp, g_ent,
                                     temperature=temperature, return_entropy=entropy)  # fmt: skip
    out, grads = _run_linear(linear_token_logprobs, hidden, weight, bias, labels, g_logp, g_ent,
                             temperature=temperature, return_entropy=entropy, chunk_size=chunk_size,
                             backend=backend)  # fmt: skip
    atol, rtol = value_tol or VALUE_TOL[hidden.dtype]
    ref_out = ref_out if entropy else (ref_out,)
    out = out if entropy else (out,)
    for r, o in zip(ref_out, out, strict=True):
        assert o.dtype == torch.float32 and o.shape == (n,)
        torch.testing.assert_close(o.double(), r, atol=atol, rtol=rtol)
    atol, rtol = grad_tol or GRAD_TOL[hidden.dtype]
    for name, r, g, src in zip(
        ("hidden", "weight", "bias"), ref_grads, grads, (hidden, weight, bias), strict=True
    ):
        if src is None:
            continue
        assert g.dtype == src.dtype, name
        torch.testing.assert_close(
            g.double(), r, atol=atol, rtol=rtol, msg=lambda m, name=name: f"{name}: {m}"
        )


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 2 tokens x 128 vocab rows, so that small shapes cross many tile edges (V not a multiple)."""
    monkeypatch.setattr(logprob, "_TILE_ELEMENTS", 256)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    ("n", "v", "with_bias"), [(1, 1, True), (0, 40, False), (7, 300, True), (5, 129, False)]
)
@pytest.mark.parametrize("temperature", [1.0, 1.3])
def test_linear_matches_reference(small_tiles, backend, dtype, n, v, with_bias, temperature):
    torch.manual_seed(n * 100 + v)
    h = 24
    hidden = torch.randn(n, h).to(dtype)
    weight = (torch.randn(v, h) * 0.4).to(dtype)
    bias = torch.randn(v).to(dtype) if with_bias else None
    labels = torch.randint(0, v, (n,))
    if n > 3:
        labels[2] = -100
    tol = {}
    if backend == "triton" and dtype == torch.bfloat16:
        # the Triton path keeps its logits chunk in the input dtype (as cuBLAS would), so logits carry bf16 rounding
        tol = {"value_tol": (6e-2, 2e-2), "grad_tol": (2e-2, 5e-2)}
    _compare_linear(hidden, weight, bias, labels, backend, temperature=temperature, chunk_size=3, **tol)
    _compare_linear(hidden, weight, bias, labels, backend, temperature=temperature, entropy=False, **tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_huge_and_masked_logits(small_tiles, backend):
    """Logits of +-1e4 whose max moves from tile to tile, and a bias that masks part of the vocab."""
    torch.manual_seed(3)
    n, h, v = 6, 8, 400
    hidden = torch.randn(n, h)
    weight = torch.randn(v, h) * torch.linspace(1, 2000, v)[:, None]  # later tiles hold larger logits
    bias = torch.zeros(v)
    bias[300:350] = float("-inf")
    labels = torch.tensor([3, 399, -100, 200, 128, 0])
    _compare_linear(hidden, weight, bias, labels, backend, chunk_size=4, value_tol=(2e-2, 1e-5),
                    grad_tol=(2e-2, 1e-4))  # fmt: skip
    ignored = torch.full((n,), -100)
    out, grads = _run_linear(linear_token_logprobs, hidden, weight, bias, ignored, torch.ones(n), torch.ones(n),
                             return_entropy=True, backend=backend)  # fmt: skip
    assert torch.equal(out[0], torch.zeros(n)) and torch.equal(out[1], torch.zeros(n))
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)


def test_linear_qwen_vocab_small_n():
    """V = 151,936 through the default (untuned) tiles of the chunked torch path."""
    torch.manual_seed(4)
    v = 151_936
    hidden = torch.randn(3, 16)
    weight = torch.randn(v, 16) * 0.3
    labels = torch.tensor([0, 77_777, v - 1])
    _compare_linear(hidden, weight, None, labels, "torch", temperature=0.8, grad_tol=(1e-5, 1e-4))


def test_frozen_weight_gets_no_grad():
    hidden = torch.randn(4, 8, requires_grad=True)
    weight = torch.randn(30, 8)
    linear_token_logprobs(hidden, weight, torch.tensor([1, 2, 3, 4]), backend="torch").sum().backward()
    assert weight.grad is None and hidden.grad is not None and hidden.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: token_logprobs(torch.randn(3, 5), torch.tensor([0, 1])), "labels"),
        (lambda: token_logprobs(torch.randn(3, 5), torch.tensor([0.0, 1.0, 2.0])), "labels"),
        (lambda: token_logprobs(torch.randn(3, 5), torch.tensor([0, 5, 1])), "labels"),
        (lambda: token_logprobs(torch.randn(3, 5), torch.tensor([0, -1, 1])), "labels"),
        (lambda: token_logprobs(torch.randn(3, 5).long(), torch.tensor([0, 1, 1])), "logits"),
        (lambda: token_logprobs(torch.randn(3, 5), torch.tensor([0, 1, 1]), temperature=0.0), "temperature"),
        (lambda: token_logprobs(torch.randn(3, 5), torch.tensor([0, 1, 1]), backend="cuda"), "backend"),
        (
            lambda: linear_token_logprobs(torch.randn(3, 4), torch.randn(5, 6), torch.tensor([0, 1, 2])),
            "weight",
        ),
        (
            lambda: linear_token_logprobs(torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 1, 9])),
            "labels",
        ),
        (
            lambda: linear_token_logprobs(
                torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 1, 2]), bias=torch.randn(4)
            ),
            "bias",
        ),  # fmt: skip
        (
            lambda: linear_token_logprobs(
                torch.randn(3, 4), torch.randn(5, 4), torch.tensor([0, 1, 2]), chunk_size=0
            ),
            "chunk_size",
        ),  # fmt: skip
    ],
)
def test_bad_input_names_the_argument(call, needle):
    with pytest.raises(ValueError, match=needle):
        call()


def test_backend_dispatch(monkeypatch):
    x = torch.randn(2, 4)
    labels = torch.tensor([0, 3])
    assert logprob.resolve_backend("auto", x.device) == "torch"  # CPU tensors never pick Triton on "auto"
    monkeypatch.setenv("EIGENFAST_DISABLE_TRITON", "1")
    assert logprob.resolve_backend("triton", x.device) == "torch"
    torch.testing.assert_close(
        token_logprobs(x, labels, backend="triton"), token_logprobs_reference(x, labels)
    )


def test_import_does_not_pull_triton_or_cuda():
    code = (
        "import sys, torch; import eigenfast.ops.logprob, eigenfast.ops.grpo_loss; "
        "assert 'triton' not in sys.modules, 'triton imported'; "
        "assert not torch.cuda.is_initialized(), 'cuda initialised'"
    )
    env = {k: val for k, val in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
