"""Triton kernels behind `eigenfast.ops.logprob`. Kept apart so that importing the op module never imports
triton; the launchers in logprob.py import this module on first use."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def logprob_fwd_kernel(
    x_ptr,
    stride_x,
    labels_ptr,
    logp_ptr,
    lse_ptr,
    ent_ptr,
    V,
    inv_t,
    ignore_index,
    RETURN_ENTROPY: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One program per row: a single streaming read of the row with an online log-sum-exp.

    `s` is sum(exp(x - m)) and `t` is sum(exp(x - m) * (x - m)) for the running max `m`, so the entropy
    log(s) - t/s never subtracts two large numbers (logits of 1e4 keep full precision).
    """
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    label = tl.load(labels_ptr + row).to(tl.int64)
    offs0 = tl.arange(0, BLOCK)
    m = tl.full((), float("-inf"), tl.float32)
    s = tl.zeros((), tl.float32)
    t = tl.zeros((), tl.float32)
    for start in range(0, V, BLOCK):
        offs = start + offs0
        x = tl.load(x_row + offs, mask=offs < V, other=float("-inf")).to(tl.float32) * inv_t
        m_new = tl.maximum(m, tl.max(x, axis=0))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp(m - m_safe)
        e = tl.exp(x - m_safe)
        if RETURN_ENTROPY:
            m_old = tl.where(m == float("-inf"), m_safe, m)
            y = tl.where(e > 0, x - m_safe, 0.0)
            t = alpha * (t + (m_old - m_safe) * s) + tl.sum(e * y, axis=0)
        s = s * alpha + tl.sum(e, axis=0)
        m = m_new
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    lse = m_safe + tl.log(s)
    active = label != ignore_index
    safe_label = tl.where(active, label, 0)
    x_label = tl.load(x_row + safe_label).to(tl.float32) * inv_t
    tl.store(logp_ptr + row, tl.where(active, x_label - lse, 0.0))
    tl.store(lse_ptr + row, lse)
    if RETURN_ENTROPY:
        tl.store(ent_ptr + row, tl.where(active, tl.log(s) - t / s, 0.0))


@triton.jit
def logprob_bwd_kernel(
    x_ptr,
    stride_x,
    grad_ptr,
    stride_g,
    labels_ptr,
    lse_ptr,
    ent_ptr,
    g_logp_ptr,
    g_ent_ptr,
    V,
    inv_t,
    ignore_index,
    HAS_ENTROPY_GRAD: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """d/dx of g*logp[label] + ge*entropy, one program per row; `grad_ptr` may alias `x_ptr` (in place).

    With y = log softmax(x): dlogp/dx = onehot - p and dH/dx = -p * (y + H). Entries with p == 0 get
    exactly 0 even where y is -inf.
    """
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    g_row = grad_ptr + row * stride_g
    label = tl.load(labels_ptr + row).to(tl.int64)
    active = label != ignore_index
    g = tl.where(active, tl.load(g_logp_ptr + row).to(tl.float32), 0.0)
    lse = tl.load(lse_ptr + row)
    lse = tl.where(lse == float("-inf"), 0.0, lse)
    ge = 0.0
    ent = 0.0
    if HAS_ENTROPY_GRAD:
        ge = tl.where(active, tl.load(g_ent_ptr + row).to(tl.float32), 0.0)
        ent = tl.load(ent_ptr + row)
    offs0 = tl.arange(0, BLOCK)
    for start in range(0, V, BLOCK):
        offs = start + offs0
        inside = offs < V
        y = tl.load(x_row + offs, mask=inside, other=float("-inf")).to(tl.float32) * inv_t - lse
        p = tl.exp(y)
        coef = g
        if HAS_ENTROPY_GRAD:
            coef = g + ge * (tl.where(p > 0, y, 0.0) + ent)
        grad = -p * coef
        grad = tl.where(offs == label, grad + g, grad) * inv_t
        tl.store(g_row + offs, grad.to(grad_ptr.dtype.element_ty), mask=inside)
