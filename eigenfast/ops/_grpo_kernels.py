"""Triton kernel behind `eigenfast.ops.grpo_loss`; imported only when the Triton path runs."""

from __future__ import annotations

import triton
import triton.language as tl

N_STATS = 8  # loss, clip low, clip high, ratio, approx kl, ref kl, dual clip, (pad)


@triton.jit
def grpo_fwd_bwd_kernel(
    logp_ptr, old_ptr, adv_ptr, mask_ptr, ref_ptr, row_w_ptr, grad_ptr, part_ptr,
    T, s_logp, s_old, s_adv_b, s_adv_t, s_mask, s_ref, s_grad,
    lo, hi, dual, kl_coef,
    HAS_REF: tl.constexpr, KL: tl.constexpr, DUAL: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Loss, d loss / d logp and metric partial sums for one block of one sequence, in one pass.

    Partial sums go to this program's own slot of `part_ptr` (no atomics), so the result is deterministic.
    KL: 1, 2, 3 for the k1, k2, k3 estimators.
    """
    b = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1)
    offs = j * BLOCK + tl.arange(0, BLOCK)
    inside = offs < T
    mk = tl.load(mask_ptr + b * s_mask + offs, mask=inside, other=0).to(tl.float32)
    act = mk > 0
    lp = tl.where(act, tl.load(logp_ptr + b * s_logp + offs, mask=inside, other=0).to(tl.float32), 0.0)
    old = tl.where(act, tl.load(old_ptr + b * s_old + offs, mask=inside, other=0).to(tl.float32), 0.0)
    a = tl.where(
        act, tl.load(adv_ptr + b * s_adv_b + offs * s_adv_t, mask=inside, other=0).to(tl.float32), 0.0
    )
    d = lp - old
    r = tl.exp(d)
    pg1 = -a * r
    pg2 = -a * tl.minimum(tl.maximum(r, lo), hi)
    pg = tl.maximum(pg1, pg2)
    gpg = tl.where(pg1 >= pg2, -a * r, 0.0)
    n_dual = 0.0
    if DUAL:
        pg3 = -a * dual
        use = (a < 0) & (pg3 < pg)
        pg = tl.where(use, pg3, pg)
        gpg = tl.where(use, 0.0, gpg)
        n_dual = tl.sum(tl.where(act & use, 1.0, 0.0), axis=0)
    kl = tl.zeros_like(lp)
    gkl = tl.zeros_like(lp)
    if HAS_REF:
        ref = tl.where(act, tl.load(ref_ptr + b * s_ref + offs, mask=inside, other=0).to(tl.float32), 0.0)
        dr = lp - ref
        if KL == 1:
            kl = dr
            gkl = tl.full(dr.shape, 1.0, tl.float32)
        elif KL == 2:
            kl = 0.5 * dr * dr
            gkl = dr
        else:
            er = tl.exp(-dr)
            kl = er + dr - 1.0
            gkl = 1.0 - er
    w = tl.load(row_w_ptr + b) * mk
    loss_tok = tl.where(act, (pg + kl_coef * kl) * w, 0.0)
    grad = tl.where(act, (gpg + kl_coef * gkl) * w, 0.0)
    tl.store(grad_ptr + b * s_grad + offs, grad, mask=inside)
    slot = part_ptr + (b * tl.num_programs(1) + j) * 8
    tl.store(slot + 0, tl.sum(loss_tok, axis=0))
    tl.store(slot + 1, tl.sum(tl.where(act & (a < 0) & (r < lo), 1.0, 0.0), axis=0))
    tl.store(slot + 2, tl.sum(tl.where(act & (a > 0) & (r > hi), 1.0, 0.0), axis=0))
    tl.store(slot + 3, tl.sum(tl.where(act, r, 0.0), axis=0))
    tl.store(slot + 4, tl.sum(tl.where(act, r - 1.0 - d, 0.0), axis=0))
    tl.store(slot + 5, tl.sum(tl.where(act, kl, 0.0), axis=0))
    tl.store(slot + 6, n_dual)
    tl.store(slot + 7, 0.0)
