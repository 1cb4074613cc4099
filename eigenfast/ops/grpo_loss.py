"""The GRPO policy loss: clipped surrogate with clip-higher, optional dual-clip, optional KL to a reference.

Layers: a plain autograd reference (`grpo_loss_reference`); a fused Triton kernel (in `_grpo_kernels`) and a
closed-form torch twin, both of which compute the loss, its gradient with respect to `logp` and the metric
sums in one pass over the tokens; one autograd Function that saves that gradient; the public `grpo_loss`.

Conventions (per active token, d = logp - old_logp, r = exp(d), A the advantage):
- surrogate: `-min(r*A, clip(r, 1 - clip_low, 1 + clip_high)*A)`; with `dual_clip=c` (c > 1), tokens with
  A < 0 are capped at `-c*A` (the loss stops growing and its gradient is 0 there);
- KL to the reference, dr = logp - ref_logp: k1 = dr, k2 = dr²/2, k3 = exp(-dr) + dr - 1;
- `approx_kl` metric: k3 estimate of KL(old || current) = (r - 1) - d, a mean over active tokens;
- advantages arrive already normalised (see `eigenfast.ops.advantages` for the std and eps conventions);
  this module applies no std and no eps of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from eigenfast.ops._triton_utils import resolve_backend

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
KL_ESTIMATORS = ("k1", "k2", "k3")
_N_STATS = 8  # loss, clip low, clip high, ratio, approx kl, ref kl, dual clip, pad


@dataclass(frozen=True)
class GRPOConfig:
    clip_low: float = 0.2
    clip_high: float = 0.28
    dual_clip: float | None = None
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    backend: str = "torch"  # already resolved: "triton" or "torch"


# ------------------------------------------------------------------------------------------------ reference


def _row_weights(mask: torch.Tensor, agg: str) -> torch.Tensor:
    """Per-sequence factor w_b: loss = sum_bt w_b * mask_bt * loss_bt.

    token-mean: 1 / (active tokens in the batch). seq-mean-token-mean: 1 / (len_b * sequences with at least
    one active token). seq-mean-token-sum: 1 / (sequences with at least one active token).
    seq-mean-token-sum-norm (Dr.GRPO): the constant 1 / (B * T), T the padded length.
    """
    b, t = mask.shape
    lengths = mask.to(torch.float32).sum(1)
    if agg == "token-mean":
        return (1.0 / lengths.sum().clamp(min=1.0)).expand(b).contiguous()
    n_seq = (lengths > 0).sum().clamp(min=1).to(torch.float32)
    if agg == "seq-mean-token-mean":
        return 1.0 / (lengths.clamp(min=1.0) * n_seq)
    if agg == "seq-mean-token-sum":
        return (1.0 / n_seq).expand(b).contiguous()
    return torch.full((b,), 1.0 / max(1, b * t), dtype=torch.float32, device=mask.device)


def grpo_loss_reference(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logp: torch.Tensor | None = None,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    dual_clip: float | None = None,
    kl_coef: float = 0.0,
    kl_estimator: str = "k3",
    agg: str = "token-mean",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Plain autograd version of `grpo_loss`, the yardstick for the fused paths."""
    active = mask.bool()
    m = active.to(logp.dtype)
    adv = (advantages[:, None] if advantages.dim() == 1 else advantages).to(logp.dtype)
    d = torch.where(active, logp - old_logp, 0.0)
    ratio = torch.exp(d)
    pg = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - clip_low, 1 + clip_high))
    if dual_clip is not None:
        pg = torch.where(adv < 0, torch.minimum(pg, -adv * dual_clip), pg)
    kl = torch.zeros_like(pg)
    if ref_logp is not None:
        dr = torch.where(active, logp - ref_logp, 0.0)
        kl = {"k1": dr, "k2": 0.5 * dr * dr, "k3": torch.exp(-dr) + dr - 1}[kl_estimator]
        pg = pg + kl_coef * kl
    w = _row_weights(mask, agg).to(logp.dtype)[:, None]
    loss = (torch.where(active, pg, 0.0) * w * m).sum()
    n = m.sum().clamp(min=1)
    with torch.no_grad():
        metrics = {
            "clip_frac_low": (((adv < 0) & (ratio < 1 - clip_low)) & active).sum() / n,
            "clip_frac_high": (((adv > 0) & (ratio > 1 + clip_high)) & active).sum() / n,
            "ratio_mean": (ratio * m).sum() / n,
            "approx_kl": ((ratio - 1 - d) * m).sum() / n,
            "n_tokens": m.sum(),
        }
        if ref_logp is not None:
            metrics["kl_ref"] = (kl * m).sum() / n
    return loss, metrics


# --------------------------------------------------------------------------------- fused forward + backward


def _triton_fwd_bwd(logp, old, adv, mask, ref, row_w, cfg: GRPOConfig):
    from eigenfast.ops import _grpo_kernels

    b, t = logp.shape
    block = max(16, min(1024, 1 << (max(t, 1) - 1).bit_length()))
    n_blocks = -(-t // block) if t else 0
    grad = torch.empty(b, t, dtype=torch.float32, device=logp.device)
    parts = torch.zeros(max(1, b * n_blocks), _N_STATS, dtype=torch.float32, device=logp.device)
    if b and t:
        has_ref = ref is not None
        ref_t = ref if has_ref else logp
        _grpo_kernels.grpo_fwd_bwd_kernel[(b, n_blocks)](
            logp, old, adv, mask, ref_t, row_w, grad, parts,
            t, logp.stride(0), old.stride(0), adv.stride(0), adv.stride(1), mask.stride(0), ref_t.stride(0),
            grad.stride(0), 1.0 - cfg.clip_low, 1.0 + cfg.clip_high, float(cfg.dual_clip or 0.0), cfg.kl_coef,
            HAS_REF=has_ref, KL=KL_ESTIMATORS.index(cfg.kl_estimator) + 1, DUAL=cfg.dual_clip is not None,
            BLOCK=block,
        )  # fmt: skip
    return grad, parts.sum(0)


def _torch_fwd_bwd(logp, old, adv, mask, ref, row_w, cfg: GRPOConfig):
    """Closed-form twin of the kernel: the same formulas, whole-tensor ops, fp32."""
    act = mask > 0
    mk = mask.to(torch.float32)
    lp = torch.where(act, logp.float(), 0.0)
    d = lp - torch.where(act, old.float(), 0.0)
    a = torch.where(act, adv.float(), 0.0)
    r = torch.exp(d)
    lo, hi = 1.0 - cfg.clip_low, 1.0 + cfg.clip_high
    pg1 = -a * r
    pg2 = -a * r.clamp(lo, hi)
    pg = torch.maximum(pg1, pg2)
    gpg = torch.where(pg1 >= pg2, pg1, 0.0)
    n_dual = torch.zeros((), device=logp.device)
    if cfg.dual_clip is not None:
        pg3 = -a * cfg.dual_clip
        use = (a < 0) & (pg3 < pg)
        pg = torch.where(use, pg3, pg)
        gpg = torch.where(use, 0.0, gpg)
        n_dual = (use & act).sum()
    kl = torch.zeros_like(lp)
    gkl = torch.zeros_like(lp)
    if ref is not None:
        dr = lp - torch.where(act, ref.float(), 0.0)
        if cfg.kl_estimator == "k1":
            kl, gkl = dr, torch.ones_like(dr)
        elif cfg.kl_estimator == "k2":
            kl, gkl = 0.5 * dr * dr, dr
        else:
            er = torch.exp(-dr)
            kl, gkl = er + dr - 1.0, 1.0 - er
    w = row_w[:, None] * mk
    loss = torch.where(act, (pg + cfg.kl_coef * kl) * w, 0.0).sum()
    grad = torch.where(act, (gpg + cfg.kl_coef * gkl) * w, 0.0)
    stats = torch.stack(
        [
            loss,
            (act & (a < 0) & (r < lo)).sum().float(),
            (act & (a > 0) & (r > hi)).sum().float(),
            torch.where(act, r, 0.0).sum(),
            torch.where(act, r - 1.0 - d, 0.0).sum(),
            torch.where(act, kl, 0.0).sum(),
            n_dual.float(),
            torch.zeros((), device=logp.device),
        ]
    )
    return grad, stats


class _GRPOLossFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logp, old_logp, advantages, mask, ref_logp, row_w, cfg: GRPOConfig):
        ref = ref_logp if ref_logp.numel() else None
        fused = _triton_fwd_bwd if cfg.backend == "triton" else _torch_fwd_bwd
        grad, stats = fused(logp, old_logp, advantages, mask, ref, row_w, cfg)
        ctx.save_for_backward(grad)
        ctx.logp_dtype = logp.dtype
        stats = stats.detach()
        ctx.mark_non_differentiable(stats)
        return stats[0].clone(), stats

    @staticmethod
    def backward(ctx, grad_loss, _grad_stats):
        (grad,) = ctx.saved_tensors
        return (grad * grad_loss).to(ctx.logp_dtype), None, None, None, None, None, None


# ------------------------------------------------------------------------------------------------ public API


def _check(name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")


def _validate(
    logp, old_logp, advantages, mask, ref_logp, clip_low, clip_high, dual_clip, kl_coef, kl_estimator, agg
):
    if not isinstance(logp, torch.Tensor) or logp.dim() != 2:
        raise ValueError(f"logp must be a [B, T] tensor, got {getattr(logp, 'shape', type(logp))}")
    if not logp.is_floating_point():
        raise ValueError(f"logp must be floating point, got {logp.dtype}")
    shape = tuple(logp.shape)
    _check("old_logp", old_logp, shape)
    _check("mask", mask, shape)
    if advantages.dim() == 1:
        _check("advantages", advantages, shape[:1])
    else:
        _check("advantages", advantages, shape)
    if ref_logp is not None:
        _check("ref_logp", ref_logp, shape)
    for name, t in (("old_logp", old_logp), ("advantages", advantages), ("ref_logp", ref_logp)):
        if t is not None and not t.is_floating_point():
            raise ValueError(f"{name} must be floating point, got {t.dtype}")
    if (
        mask.dtype != torch.bool
        and not mask.is_floating_point()
        and mask.dtype not in (torch.int32, torch.int64, torch.uint8)
    ):
        raise ValueError(f"mask must be bool, integer or float, got {mask.dtype}")
    if not (0 <= clip_low < 1):
        raise ValueError(f"clip_low must be in [0, 1), got {clip_low}")
    if not clip_high >= 0:
        raise ValueError(f"clip_high must be >= 0, got {clip_high}")
    if dual_clip is not None and not dual_clip > 1:
        raise ValueError(f"dual_clip must be > 1 (or None), got {dual_clip}")
    if kl_estimator not in KL_ESTIMATORS:
        raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {kl_estimator!r}")
    if kl_coef != 0.0 and ref_logp is None:
        raise ValueError("ref_logp is required when kl_coef != 0")
    if agg not in AGGREGATIONS:
        raise ValueError(f"agg must be one of {AGGREGATIONS}, got {agg!r}")


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logp: torch.Tensor | None = None,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    dual_clip: float | None = None,
    kl_coef: float = 0.0,
    kl_estimator: str = "k3",
    agg: str = "token-mean",
    backend: str = "auto",
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """GRPO loss over `[B, T]` token log-probs; differentiable with respect to `logp` only.

    `advantages` is `[B]` (one per sequence, broadcast over its tokens) or `[B, T]`. `mask` marks the tokens
    that count (bool or 0/1). `agg` chooses the normaliser, see `_row_weights`. Returns `(loss, metrics)`,
    metrics being detached scalars: clip_frac_low, clip_frac_high (fractions of active tokens whose gradient
    the clip removes), ratio_mean, approx_kl, n_tokens, plus kl_ref when `ref_logp` is given and
    clip_frac_dual when `dual_clip` is set.
    """
    _validate(
        logp, old_logp, advantages, mask, ref_logp, clip_low, clip_high, dual_clip, kl_coef, kl_estimator, agg
    )
    resolved = resolve_backend(backend, logp.device)
    cfg = GRPOConfig(clip_low, clip_high, dual_clip, kl_coef, kl_estimator, resolved)
    b, t = logp.shape
    adv = advantages[:, None].expand(b, t) if advantages.dim() == 1 else advantages.contiguous()
    mask_f = mask.to(torch.float32).contiguous()
    row_w = _row_weights(mask_f, agg)
    ref = ref_logp.detach().contiguous() if ref_logp is not None else logp.new_empty(0)
    loss, stats = _GRPOLossFn.apply(
        logp.contiguous(), old_logp.detach().contiguous(), adv.detach(), mask_f, ref, row_w, cfg
    )
    n = mask_f.gt(0).sum().float()
    denom = n.clamp(min=1.0)
    metrics = {
        "clip_frac_low": stats[1] / denom,
        "clip_frac_high": stats[2] / denom,
        "ratio_mean": stats[3] / denom,
        "approx_kl": stats[4] / denom,
        "n_tokens": n,
    }
    if ref_logp is not None:
        metrics["kl_ref"] = stats[5] / denom
    if dual_clip is not None:
        metrics["clip_frac_dual"] = stats[6] / denom
    return loss, metrics
