"""grpo_loss backends against the autograd reference: loss, gradient and metrics, for every aggregation."""

import itertools

import pytest
import torch

from eigenfast.ops._triton_utils import triton_installed
from eigenfast.ops.grpo_loss import AGGREGATIONS, grpo_loss, grpo_loss_reference

BACKENDS = [
    "torch",
    pytest.param("triton", marks=pytest.mark.skipif(not triton_installed(), reason="no triton")),
]
TOL = {"atol": 1e-6, "rtol": 1e-5}  # fp32 arithmetic against a float64 reference on the same fp32 inputs


def _batch(b=4, t=13, per_token_adv=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(b, t, generator=g) * 3
    logp = old + torch.randn(b, t, generator=g) * 0.3  # ratios on both sides of the clip range
    ref = old + torch.randn(b, t, generator=g) * 0.2
    adv = torch.randn(b, t, generator=g) if per_token_adv else torch.randn(b, generator=g)
    mask = torch.rand(b, t, generator=g) < 0.8
    mask[-1] = False  # a sequence with no active token
    mask[0, 5:] = False  # a short one
    logp[~mask] = float("-inf")  # padding must not leak into loss, gradient or metrics
    return logp, old, adv, mask, ref


def _grad(fn, logp, *args, **kw):
    x = logp.detach().clone().requires_grad_(True)
    loss, metrics = fn(x, *args, **kw)
    loss.backward()
    return loss, x.grad, metrics


KL_CASES = [(0.0, "k3", False), (0.1, "k1", True), (0.1, "k2", True), (0.1, "k3", True)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("agg", AGGREGATIONS)
@pytest.mark.parametrize(("kl_coef", "estimator", "use_ref"), KL_CASES)
def test_matches_reference(backend, agg, kl_coef, estimator, use_ref):
    for dual_clip, per_token_adv in itertools.product((None, 3.0), (False, True)):
        logp, old, adv, mask, ref = _batch(per_token_adv=per_token_adv, seed=len(agg))
        kw = dict(ref_logp=ref if use_ref else None, kl_coef=kl_coef, kl_estimator=estimator, agg=agg,
                  dual_clip=dual_clip, clip_low=0.2, clip_high=0.28)  # fmt: skip
        ref_kw = {**kw, "ref_logp": ref.double() if use_ref else None}
        r_loss, r_grad, r_metrics = _grad(
            grpo_loss_reference, logp.double(), old.double(), adv.double(), mask, **ref_kw
        )
        loss, grad, metrics = _grad(grpo_loss, logp, old, adv, mask, backend=backend, **kw)
        torch.testing.assert_close(loss.double(), r_loss, **TOL)
        assert grad.dtype == logp.dtype
        torch.testing.assert_close(grad.double(), r_grad, **TOL)
        assert torch.equal(grad[~mask], torch.zeros_like(grad[~mask]))
        for key, value in r_metrics.items():
            torch.testing.assert_close(metrics[key].double(), value.double(), **TOL, msg=key)
        assert ("clip_frac_dual" in metrics) == (dual_clip is not None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clipped_ratios_get_zero_gradient(backend):
    old = torch.zeros(1, 6)
    # r = e^2 with A > 0 (clipped high), r = e^-2 with A < 0 (clipped low), r = e^5 with A < 0 (dual clip),
    # then the unclipped sides: r = e^-2 with A > 0, r = e^2 with A < 0 (no dual clip), r = 1.
    logp = torch.tensor([[2.0, -2.0, 5.0, -2.0, 1.0, 0.0]])
    adv = torch.tensor([[1.0, -1.0, -1.0, 1.0, -1.0, 1.0]])
    mask = torch.ones(1, 6, dtype=torch.bool)
    loss, grad, metrics = _grad(grpo_loss, logp, old, adv, mask, dual_clip=10.0, agg="seq-mean-token-sum",
                                backend=backend)  # fmt: skip
    assert grad[0, :3].tolist() == [0.0, 0.0, 0.0]
    expected = torch.tensor([-(torch.e**-2), torch.e, -1.0])  # -A * r on the unclipped tokens
    torch.testing.assert_close(grad[0, 3:], expected)
    assert metrics["clip_frac_high"].item() == pytest.approx(1 / 6)
    assert metrics["clip_frac_low"].item() == pytest.approx(1 / 6)  # r < 0.8 with A < 0: token 1 only
    assert metrics["clip_frac_dual"].item() == pytest.approx(1 / 6)
    r_loss, r_grad, _ = _grad(
        grpo_loss_reference, logp, old, adv, mask, dual_clip=10.0, agg="seq-mean-token-sum"
    )
    torch.testing.assert_close(loss, r_loss)
    torch.testing.assert_close(grad, r_grad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_mask_and_bf16(backend):
    logp, old, adv, _, ref = _batch()
    loss, grad, metrics = _grad(
        grpo_loss, logp, old, adv, torch.zeros_like(logp, dtype=torch.bool), backend=backend
    )
    assert (
        loss.item() == 0.0 and torch.equal(grad, torch.zeros_like(grad)) and metrics["n_tokens"].item() == 0
    )
    logp, old, adv, mask, ref = _batch(seed=7)
    x = logp.bfloat16()
    loss, grad, _ = _grad(
        grpo_loss, x, old.bfloat16(), adv, mask, ref_logp=ref, kl_coef=0.05, backend=backend
    )
    r_loss, r_grad, _ = _grad(grpo_loss_reference, x.double(), old.bfloat16().double(), adv.double(), mask,
                              ref_logp=ref.double(), kl_coef=0.05)  # fmt: skip
    assert grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss.double(), r_loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad.double(), r_grad, atol=1e-4, rtol=1e-2)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"old_logp": torch.zeros(2, 4)}, "old_logp"),
        ({"advantages": torch.zeros(3)}, "advantages"),
        ({"mask": torch.ones(2, 3, dtype=torch.bool)[:, :2]}, "mask"),
        ({"ref_logp": torch.zeros(3, 2), "kl_coef": 0.1}, "ref_logp"),
        ({"kl_coef": 0.1}, "ref_logp"),
        ({"agg": "mean"}, "agg"),
        ({"kl_estimator": "k4"}, "kl_estimator"),
        ({"dual_clip": 0.5}, "dual_clip"),
        ({"clip_low": 1.5}, "clip_low"),
        ({"advantages": torch.zeros(2, dtype=torch.long)}, "advantages"),
    ],
)
def test_bad_input_names_the_argument(kw, needle):
    args = {
        "old_logp": torch.zeros(2, 3),
        "advantages": torch.zeros(2),
        "mask": torch.ones(2, 3, dtype=torch.bool),
    }
    args.update(kw)
    logp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=needle):
        grpo_loss(logp, args.pop("old_logp"), args.pop("advantages"), args.pop("mask"), **args)
