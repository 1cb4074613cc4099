"""Per-token log-probabilities (and entropies) of chosen labels, without the full fp32 log-softmax.

Layers, top to bottom: plain torch references; Triton launchers (kernels in `_logprob_kernels`); chunked
torch paths for machines without Triton; one autograd Function per op taking the tensors plus a frozen
`LogprobConfig`; the public functions, which validate and dispatch on `backend`.

`linear_token_logprobs` fuses the lm_head: it never holds `[N, V]` logits. It streams tiles of the weight,
keeps only each row's log-sum-exp (and entropy), and recomputes the tiles in the backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from eigenfast.ops._triton_utils import resolve_backend

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_TILE_ELEMENTS = 1 << 21  # fp32 tile of the torch paths: 8 MiB
_TRITON_TILE_BYTES = 1 << 28  # logits chunk of the Triton linear path: 256 MiB
_ENTROPY_FLOOR = -1.0e4  # log-probs below this have p == 0 exactly; clamping avoids 0 * -inf


@dataclass(frozen=True)
class LogprobConfig:
    temperature: float = 1.0
    ignore_index: int = -100
    return_entropy: bool = False
    backend: str = "torch"  # already resolved: "triton" or "torch"
    chunk_size: int | None = None


# ----------------------------------------------------------------------------------------------- references


def token_logprobs_reference(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 1.0,
    ignore_index: int = -100,
    return_entropy: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Materialised `log_softmax` + `gather`: short, obviously right, and memory hungry."""
    x = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature
    logp_all = torch.log_softmax(x, dim=-1)
    active = labels != ignore_index
    safe = torch.where(active, labels, 0).long()
    logp = torch.where(active, logp_all.gather(1, safe[:, None]).squeeze(1), 0.0)
    if not return_entropy:
        return logp
    finite = torch.isfinite(logp_all)
    logp_f = torch.where(finite, logp_all, 0.0)
    entropy = -torch.where(finite, logp_f.exp() * logp_f, 0.0).sum(-1)
    return logp, torch.where(active, entropy, 0.0)


def linear_token_logprobs_reference(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    temperature: float = 1.0,
    ignore_index: int = -100,
    return_entropy: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The eager lm_head: `hidden @ weight.T` materialised, then the reference above."""
    logits = hidden @ weight.t()
    if bias is not None:
        logits = logits + bias
    return token_logprobs_reference(
        logits, labels, temperature=temperature, ignore_index=ignore_index, return_entropy=return_entropy
    )


# ------------------------------------------------------------------------------------------ Triton launchers


def _kernels():
    from eigenfast.ops import _logprob_kernels

    return _logprob_kernels


def _block(v: int) -> int:
    return max(16, min(4096, 1 << (max(v, 1) - 1).bit_length()))


def _warps(v: int) -> int:
    return 8 if _block(v) >= 2048 else 4


def _triton_rows_forward(
    x: torch.Tensor, labels: torch.Tensor, cfg: LogprobConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, v = x.shape
    logp = torch.empty(n, dtype=torch.float32, device=x.device)
    lse = torch.empty_like(logp)
    ent = torch.empty_like(logp) if cfg.return_entropy else logp.new_empty(0)
    if n:
        _kernels().logprob_fwd_kernel[(n,)](
            x, x.stride(0), labels, logp, lse, ent if cfg.return_entropy else logp, v,
            1.0 / cfg.temperature, cfg.ignore_index, RETURN_ENTROPY=cfg.return_entropy, BLOCK=_block(v),
            num_warps=_warps(v),
        )  # fmt: skip
    return logp, lse, ent


def _triton_rows_backward(
    x: torch.Tensor,
    out: torch.Tensor,
    labels: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    cfg: LogprobConfig,
) -> None:
    n, v = x.shape
    if not n:
        return
    has_ent = g_ent is not None
    _kernels().logprob_bwd_kernel[(n,)](
        x, x.stride(0), out, out.stride(0), labels, lse, ent if has_ent else lse, g_logp,
        g_ent if has_ent else g_logp, v, 1.0 / cfg.temperature, cfg.ignore_index,
        HAS_ENTROPY_GRAD=has_ent, BLOCK=_block(v), num_warps=_warps(v),
    )  # fmt: skip


# --------------------------------------------------------------------------------- chunked torch, logits in


def _rows_log_softmax(logits: torch.Tensor, r0: int, r1: int, acc: torch.dtype, inv_t: float) -> torch.Tensor:
    x = logits[r0:r1]
    x = x.to(acc) * inv_t if inv_t != 1.0 else x.to(acc)
    return torch.log_softmax(x, dim=1)  # one fused kernel; a new tile, the input is never written


def _torch_rows_forward(
    logits: torch.Tensor, labels: torch.Tensor, cfg: LogprobConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row chunks of at most one fp32 tile; only [N] vectors survive a chunk. The backward recomputes the
    chunk's log-softmax, so nothing but the log-probs (and entropies) is kept."""
    n, v = logits.shape
    acc = torch.promote_types(logits.dtype, torch.float32)
    logp = torch.zeros(n, dtype=acc, device=logits.device)
    ent = torch.zeros_like(logp) if cfg.return_entropy else logp.new_empty(0)
    rows = max(1, _TILE_ELEMENTS // max(v, 1))
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        y = _rows_log_softmax(logits, r0, r1, acc, 1.0 / cfg.temperature)
        lab = labels[r0:r1]
        active = lab != cfg.ignore_index
        picked = y.gather(1, torch.where(active, lab, 0).long()[:, None]).squeeze(1)
        logp[r0:r1] = torch.where(active, picked, 0.0)
        if cfg.return_entropy:
            p = torch.exp(y)
            h = -(p * y.clamp_(min=_ENTROPY_FLOOR)).sum(1)
            ent[r0:r1] = torch.where(active, h, 0.0)
    return logp, logp.new_empty(0), ent


def _torch_rows_backward(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    cfg: LogprobConfig,
) -> torch.Tensor:
    n, v = logits.shape
    acc = torch.promote_types(logits.dtype, torch.float32)
    grad = torch.empty_like(logits)
    direct = grad.dtype == acc  # write p straight into the output rows, no copy
    inv_t = 1.0 / cfg.temperature
    rows = max(1, _TILE_ELEMENTS // max(v, 1))
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        lab = labels[r0:r1]
        active = lab != cfg.ignore_index
        g = torch.where(active, g_logp[r0:r1].to(acc), 0.0)
        y = _rows_log_softmax(logits, r0, r1, acc, inv_t)
        p = torch.exp(y, out=grad[r0:r1]) if direct else torch.exp(y)
        if g_ent is None:
            p.mul_(-g[:, None])
        else:
            ge = torch.where(active, g_ent[r0:r1].to(acc), 0.0)
            y.clamp_(min=_ENTROPY_FLOOR).mul_(ge[:, None]).add_((g + ge * ent[r0:r1])[:, None])
            p.mul_(y).neg_()
        p.scatter_add_(1, torch.where(active, lab, 0).long()[:, None], g[:, None])
        if inv_t != 1.0:
            p.mul_(inv_t)
        if not direct:
            grad[r0:r1] = p
    return grad


class _TokenLogprobsFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor, cfg: LogprobConfig):
        if cfg.backend == "triton":
            logp, lse, ent = _triton_rows_forward(logits, labels, cfg)
        else:
            logp, lse, ent = _torch_rows_forward(logits, labels, cfg)
        ctx.cfg = cfg
        ctx.save_for_backward(logits, labels, lse, ent)
        if not cfg.return_entropy:
            ctx.mark_non_differentiable(ent)
        return logp, ent

    @staticmethod
    def backward(ctx, g_logp: torch.Tensor, g_ent: torch.Tensor | None):
        logits, labels, lse, ent = ctx.saved_tensors
        cfg: LogprobConfig = ctx.cfg
        g_logp = g_logp.contiguous()
        g_ent = g_ent.contiguous() if cfg.return_entropy and g_ent is not None else None
        if cfg.backend == "triton":
            grad = torch.empty_like(logits)
            _triton_rows_backward(logits, grad, labels, lse, ent, g_logp, g_ent, cfg)
        else:
            grad = _torch_rows_backward(logits, labels, ent, g_logp, g_ent, cfg)
        return grad, None, None


# ---------------------------------------------------------------------------- chunked torch, fused lm_head


def _tiles(n: int, v: int, chunk_size: int | None) -> tuple[int, int]:
    rows = max(1, min(n, chunk_size or 1024))
    cols = max(128, (_TILE_ELEMENTS // rows) // 128 * 128)
    return rows, min(cols, max(v, 1))


def _as_acc(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _scaled_rows(hidden: torch.Tensor, r0: int, r1: int, inv_t: float) -> torch.Tensor:
    h = _as_acc(hidden[r0:r1])
    return h * inv_t if inv_t != 1.0 else h


def _linear_torch_forward(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    labels: torch.Tensor,
    cfg: LogprobConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Online log-sum-exp over (token chunk x vocab chunk) tiles.

    Each row keeps a reference shift `m` within 20 of its running max, so a tile needs one max pass, one
    in-place exp and one sum; the tile is re-shifted only when its max drifts above `m + 20` (or on the
    row's first finite value). `s` = sum exp(x - m), `t` = sum exp(x - m) * (x - m).
    """
    n, _ = hidden.shape
    v = weight.shape[0]
    acc = torch.promote_types(_as_acc(hidden).dtype, _as_acc(weight).dtype)
    inv_t = 1.0 / cfg.temperature
    rows, cols = _tiles(n, v, cfg.chunk_size)
    dev = hidden.device
    logp = torch.zeros(n, dtype=acc, device=dev)
    lse = torch.empty(n, dtype=acc, device=dev)
    ent = torch.zeros(n, dtype=acc, device=dev) if cfg.return_entropy else logp.new_empty(0)
    b_s = None if bias is None else _as_acc(bias).to(acc) * inv_t
    buf = torch.empty(rows * cols, dtype=acc, device=dev)
    buf2 = torch.empty_like(buf) if cfg.return_entropy else None
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        nr = r1 - r0
        h_s = _scaled_rows(hidden, r0, r1, inv_t).to(acc)
        m = torch.zeros(nr, dtype=acc, device=dev)
        s = torch.zeros_like(m)
        t = torch.zeros_like(m)
        for v0 in range(0, v, cols):
            v1 = min(v, v0 + cols)
            w_c = weight[v0:v1].to(acc)
            tile = buf[: nr * (v1 - v0)].view(nr, v1 - v0)
            if b_s is None:
                torch.addmm(-m[:, None], h_s, w_c.t(), out=tile)
            else:
                torch.addmm(b_s[v0:v1], h_s, w_c.t(), out=tile)
                tile.sub_(m[:, None])
            tmax = tile.amax(1)
            delta = torch.where(torch.isfinite(tmax) & ((tmax > 20.0) | (s == 0)), tmax, 0.0)
            if bool(delta.any()):
                tile.sub_(delta[:, None])
                scale = torch.where(s > 0, torch.exp(-delta), 0.0)
                if cfg.return_entropy:
                    t = (t - delta * s) * scale
                s = s * scale
                m = m + delta
            if cfg.return_entropy:
                e = torch.exp(tile, out=buf2[: tile.numel()].view_as(tile))
                s += e.sum(1)
                t += tile.clamp_(min=_ENTROPY_FLOOR).mul_(e).sum(1)
            else:
                s += tile.exp_().sum(1)
        z = torch.where(s > 0, m + torch.log(s), float("-inf"))
        lse[r0:r1] = z
        lab = labels[r0:r1]
        active = lab != cfg.ignore_index
        safe = torch.where(active, lab, 0).long()
        x_label = (h_s * weight[safe].to(acc)).sum(1)
        if b_s is not None:
            x_label += b_s[safe]
        logp[r0:r1] = torch.where(active, x_label - z, 0.0)
        if cfg.return_entropy:
            ent[r0:r1] = torch.where(active, torch.log(s) - t / s, 0.0)
    return logp, lse, ent


def _linear_torch_backward(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    labels: torch.Tensor,
    lse: torch.Tensor,
    ent: torch.Tensor,
    g_logp: torch.Tensor,
    g_ent: torch.Tensor | None,
    cfg: LogprobConfig,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Recompute each tile as log p (the -lse rides in the GEMM's bias slot), exponentiate in place and feed
    it to two accumulating GEMMs. Without entropy the row factor -g is moved out of the tile: onto the hidden
    rows for grad_weight and onto the accumulated product for grad_hidden."""
    n, h_dim = hidden.shape
    v = weight.shape[0]
    acc = lse.dtype
    inv_t = 1.0 / cfg.temperature
    need_h, need_w, need_b = needs
    need_b = need_b and bias is not None
    rows, cols = _tiles(n, v, cfg.chunk_size)
    dev = hidden.device
    grad_h = torch.empty(n, h_dim, dtype=acc, device=dev) if need_h else None
    grad_w = torch.zeros(weight.shape, dtype=acc, device=dev) if need_w else None
    grad_b = torch.zeros(v, dtype=acc, device=dev) if need_b else None
    b_s = None if bias is None else _as_acc(bias).to(acc) * inv_t
    buf = torch.empty(rows * cols, dtype=acc, device=dev)
    buf2 = torch.empty_like(buf) if g_ent is not None else None
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        nr = r1 - r0
        lab = labels[r0:r1]
        active = lab != cfg.ignore_index
        safe = torch.where(active, lab, 0).long()
        g = torch.where(active, g_logp[r0:r1].to(acc), 0.0)
        z = lse[r0:r1]
        neg_z = torch.where(torch.isfinite(z), -z, 0.0)[:, None]
        h_s = _scaled_rows(hidden, r0, r1, inv_t).to(acc)
        if g_ent is None:
            h_w = h_s * (-g)[:, None]  # grad_weight rows, factor -g folded in
            col_w = -g
        else:
            ge = torch.where(active, g_ent[r0:r1].to(acc), 0.0)
            row_c = (g + ge * ent[r0:r1])[:, None]
            h_w = h_s
            col_w = None
        a = torch.zeros(nr, h_dim, dtype=acc, device=dev) if need_h else None
        for v0 in range(0, v, cols):
            v1 = min(v, v0 + cols)
            w_c = weight[v0:v1].to(acc)
            tile = buf[: nr * (v1 - v0)].view(nr, v1 - v0)
            if b_s is None:
                torch.addmm(neg_z, h_s, w_c.t(), out=tile)
            else:
                torch.addmm(b_s[v0:v1], h_s, w_c.t(), out=tile)
                tile.add_(neg_z)
            if g_ent is None:
                tile.exp_()  # p; the coefficient is -g * p
            else:
                p = torch.exp(tile, out=buf2[: tile.numel()].view_as(tile))
                tile.clamp_(min=_ENTROPY_FLOOR).mul_(ge[:, None]).add_(row_c).mul_(p).neg_()
            if need_h:
                a.addmm_(tile, w_c)
            if need_w:
                grad_w[v0:v1].addmm_(tile.t(), h_w)
            if need_b:
                if col_w is None:
                    grad_b[v0:v1] += tile.sum(0)
                else:
                    grad_b[v0:v1].addmv_(tile.t(), col_w)
        if need_h:
            if g_ent is None:
                a.mul_(col_w[:, None])
            a.add_(weight[safe].to(acc) * g[:, None])
            grad_h[r0:r1] = a.mul_(inv_t)
        if need_w:
            grad_w.index_add_(0, safe, h_s * g[:, None])
        if need_b:
            grad_b.index_add_(0, safe, g)
    if grad_b is not None:
        grad_b.mul_(inv_t)
    return grad_h, grad_w, grad_b


# ------------------------------------------------------------------------------ Triton path, fused lm_head


def _triton_chunk_rows(n: int, v: int, elem: int, chunk_size: int | None) -> int:
    if chunk_size:
        return max(1, min(n, chunk_size))
    return max(1, min(n, _TRITON_TILE_BYTES // max(1, v * elem)))


def _chunk_logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.addmm(bias, h, weight.t()) if bias is not None else h @ weight.t()


def _linear_triton_forward(hidden, weight, bias, labels, cfg):
    n = hidden.shape[0]
    v = weight.shape[0]
    rows = _triton_chunk_rows(n, v, hidden.element_size(), cfg.chunk_size)
    parts = [
        _triton_rows_forward(_chunk_logits(hidden[r0 : r0 + rows], weight, bias), labels[r0 : r0 + rows], cfg)
        for r0 in range(0, n, rows)
    ]
    if not parts:
        return tuple(hidden.new_empty(0, dtype=torch.float32) for _ in range(3))
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


def _linear_triton_backward(hidden, weight, bias, labels, lse, ent, g_logp, g_ent, cfg, needs):
    n = hidden.shape[0]
    v = weight.shape[0]
    need_h, need_w, need_b = needs
    need_b = need_b and bias is not None
    rows = _triton_chunk_rows(n, v, hidden.element_size(), cfg.chunk_size)
    grad_h = torch.empty_like(hidden) if need_h else None
    # weight-dtype accumulators, like the autograd of the eager lm_head (each GEMM accumulates in fp32)
    grad_w = torch.zeros_like(weight) if need_w else None
    grad_b = torch.zeros(v, dtype=torch.float32, device=weight.device) if need_b else None
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        h = hidden[r0:r1]
        tile = _chunk_logits(h, weight, bias)
        _triton_rows_backward(
            tile, tile, labels[r0:r1], lse[r0:r1], ent[r0:r1] if g_ent is not None else ent,
            g_logp[r0:r1], g_ent[r0:r1] if g_ent is not None else None, cfg,
        )  # fmt: skip
        if need_h:
            torch.mm(tile, weight, out=grad_h[r0:r1])
        if need_w:
            grad_w.addmm_(tile.t(), h)
        if need_b:
            grad_b += tile.sum(0, dtype=torch.float32)
    return grad_h, grad_w, grad_b


class _LinearTokenLogprobsFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, labels, cfg: LogprobConfig):
        fwd = _linear_triton_forward if cfg.backend == "triton" else _linear_torch_forward
        logp, lse, ent = fwd(hidden, weight, bias, labels, cfg)
        ctx.cfg = cfg
        ctx.has_bias = bias is not None
        ctx.save_for_backward(
            hidden, weight, bias if bias is not None else hidden.new_empty(0), labels, lse, ent
        )
        if not cfg.return_entropy:
            ctx.mark_non_differentiable(ent)
        return logp.float(), ent.float() if cfg.return_entropy else ent

    @staticmethod
    def backward(ctx, g_logp, g_ent):
        hidden, weight, bias, labels, lse, ent = ctx.saved_tensors
        cfg: LogprobConfig = ctx.cfg
        bias = bias if ctx.has_bias else None
        g_logp = g_logp.contiguous()
        g_ent = g_ent.contiguous() if cfg.return_entropy and g_ent is not None else None
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2])
        bwd = _linear_triton_backward if cfg.backend == "triton" else _linear_torch_backward
        gh, gw, gb = bwd(hidden, weight, bias, labels, lse, ent, g_logp, g_ent, cfg, needs)
        return (
            None if gh is None else gh.to(hidden.dtype),
            None if gw is None else gw.to(weight.dtype),
            None if gb is None else gb.to(bias.dtype),
            None,
            None,
        )


# ------------------------------------------------------------------------------------------------ public API


def _check_labels(labels: torch.Tensor, n: int, v: int, ignore_index: int) -> None:
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be int64 or int32, got {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    if n:
        bad = (labels != ignore_index) & ((labels < 0) | (labels >= v))
        if bool(bad.any()):
            first = labels[bad][0].item()
            raise ValueError(f"labels out of range [0, {v}) (and not ignore_index={ignore_index}): {first}")


def _check_float(name: str, t: torch.Tensor, ndim: int) -> None:
    if t.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be float16, bfloat16, float32 or float64, got {t.dtype}")
    if t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _finish(logp: torch.Tensor, ent: torch.Tensor, return_entropy: bool):
    return (logp, ent) if return_entropy else logp


def token_logprobs(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 1.0,
    ignore_index: int = -100,
    return_entropy: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """fp32 `log softmax(logits / temperature)[label]` per row, and the row's entropy when asked.

    Rows labelled `ignore_index` get 0 for both. Differentiable with respect to `logits`. The torch path
    works on row chunks of at most 8 MiB of fp32, so it never holds the full fp32 log-softmax.
    """
    _check_float("logits", logits, 2)
    _check_temperature(temperature)
    n, v = logits.shape
    _check_labels(labels, n, v, ignore_index)
    resolved = resolve_backend(backend, logits.device)
    if resolved == "triton" and logits.dtype == torch.float64:
        raise ValueError("logits: the triton backend takes float16, bfloat16 or float32")
    cfg = LogprobConfig(temperature, ignore_index, return_entropy, resolved)
    x = logits if logits.stride(-1) == 1 else logits.contiguous()
    logp, ent = _TokenLogprobsFn.apply(x, labels.contiguous(), cfg)
    return _finish(logp.float(), ent.float() if return_entropy else ent, return_entropy)


def linear_token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    temperature: float = 1.0,
    ignore_index: int = -100,
    return_entropy: bool = False,
    chunk_size: int | None = None,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """`token_logprobs(hidden @ weight.T + bias, labels)` without ever holding the `[N, V]` logits.

    `chunk_size` is the number of tokens per chunk (default: 1024 on the torch path, a 256 MiB logits chunk
    on the Triton path). The torch path also cuts the vocab so one tile is 8 MiB of fp32. Gradients flow to
    `hidden`, `weight` and `bias`; the weight's is skipped when it does not require grad (frozen lm_head).
    """
    _check_float("hidden", hidden, 2)
    _check_float("weight", weight, 2)
    _check_temperature(temperature)
    n, h_dim = hidden.shape
    v = weight.shape[0]
    if weight.shape[1] != h_dim:
        raise ValueError(f"weight must have shape (V, {h_dim}) to match hidden, got {tuple(weight.shape)}")
    if bias is not None:
        _check_float("bias", bias, 1)
        if bias.shape != (v,):
            raise ValueError(f"bias must have shape ({v},), got {tuple(bias.shape)}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    _check_labels(labels, n, v, ignore_index)
    resolved = resolve_backend(backend, hidden.device)
    if resolved == "triton":
        if hidden.dtype == torch.float64:
            raise ValueError("hidden: the triton backend takes float16, bfloat16 or float32")
        if weight.dtype != hidden.dtype or (bias is not None and bias.dtype != hidden.dtype):
            raise ValueError("weight and bias must have hidden's dtype on the triton backend")
    cfg = LogprobConfig(temperature, ignore_index, return_entropy, resolved, chunk_size)
    logp, ent = _LinearTokenLogprobsFn.apply(
        hidden.contiguous(), weight.contiguous(), bias, labels.contiguous(), cfg
    )
    return _finish(logp, ent, return_entropy)
