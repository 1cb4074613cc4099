"""Forward+backward of a GRPO step from the last hidden states: eigenfast vs torch eager vs Liger-Kernel.

- eigenfast: `linear_token_logprobs` (fused lm_head, never holds [N, V]) then `grpo_loss`;
- eager: the materialised `hidden @ weight.T`, `log_softmax` + `gather`, then the reference loss;
- Liger: `LigerFusedLinearGRPOLoss(compiled=False, chunk_size=1)`, one sequence per chunk.
All three use clip 0.2/0.28, no KL, token-mean (Liger's "dapo"), sequences of 256 tokens.

    python bench/grpo_loss.py                 # small CPU sizes, under ~2 minutes
    python bench/grpo_loss.py --goal          # the goal sizes: N=2048,H=256 and N=4096,H=1024, V=151,936
    python bench/grpo_loss.py --sizes 1024x4096x32768 --json out.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _measure  # noqa: E402

SEQ_LEN = 256
VARIANTS = ("eigenfast", "eager", "liger")
CPU_SIZES = [(512, 256, 32768), (512, 256, 151936), (1024, 512, 32768)]
GOAL_SIZES = [(2048, 256, 151936), (4096, 1024, 151936)]
GPU_SIZES = [(n, h, v) for n in (1024, 4096, 16384) for h in (1024, 4096) for v in (32768, 151936)]
CLIP = {"clip_low": 0.2, "clip_high": 0.28}


def _inputs(spec: dict):
    device = torch.device(spec["device"])
    dtype = getattr(torch, spec["dtype"])
    n, h, v = spec["n"], spec["h"], spec["v"]
    b = max(1, n // SEQ_LEN)
    t = n // b
    g = torch.Generator(device="cpu").manual_seed(0)
    hidden = (torch.randn(b * t, h, generator=g) * 0.5).to(device, dtype).requires_grad_(True)
    weight = (torch.randn(v, h, generator=g) / h**0.5).to(device, dtype).requires_grad_(True)
    labels = torch.randint(0, v, (b * t,), generator=g).to(device)
    old = (-torch.rand(b, t, generator=g) * 12).to(device)
    adv = torch.randn(b, generator=g).to(device)
    mask = (torch.rand(b, t, generator=g) < 0.9).to(device)
    return hidden, weight, labels, old, adv, mask, b, t


def _step_fn(spec: dict):
    from eigenfast.ops import grpo_loss, linear_token_logprobs
    from eigenfast.ops.grpo_loss import grpo_loss_reference

    hidden, weight, labels, old, adv, mask, b, t = _inputs(spec)
    losses = []

    def eigenfast_step():
        logp = linear_token_logprobs(hidden, weight, labels).view(b, t)
        loss, _ = grpo_loss(logp, old, adv, mask, **CLIP)
        return loss

    def eager_step():
        logits = hidden @ weight.t()
        logp = torch.log_softmax(logits.float(), dim=-1).gather(1, labels[:, None]).view(b, t)
        loss, _ = grpo_loss_reference(logp, old, adv, mask, **CLIP)
        return loss

    def liger_step():
        from liger_kernel.chunked_loss import LigerFusedLinearGRPOLoss

        module = LigerFusedLinearGRPOLoss(
            beta=0.0, compiled=False, use_ref_model=False, chunk_size=1, epsilon_low=0.2, epsilon_high=0.28,
            loss_type="dapo",
        )  # fmt: skip
        loss, _ = module(hidden.view(b, t, -1), weight, labels.view(b, t), mask, adv, old_per_token_logps=old)
        return loss

    forward = {"eigenfast": eigenfast_step, "eager": eager_step, "liger": liger_step}[spec["variant"]]

    def reset():
        hidden.grad = None
        weight.grad = None

    def step():
        loss = forward()
        losses.append(loss.item())
        return loss.backward

    return step, reset, losses


def main() -> int:
    parser = _measure.op_parser(__doc__)
    parser.add_argument("--goal", action="store_true", help="run the goal sizes (slow on a CPU)")
    parser.add_argument("--sizes", help="NxHxV[,NxHxV...]")
    parser.add_argument("--repeats", type=int, help="timed runs per cell (default 3, 1 with --goal on CPU)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.worker:
        _measure.worker(_step_fn, json.loads(args.worker), "loss")
        return 0
    device = torch.device(args.device)
    on_cpu = device.type == "cpu"
    dtype = args.dtype or ("float32" if on_cpu else "bfloat16")
    if args.sizes:
        sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    else:
        sizes = GOAL_SIZES if args.goal else (CPU_SIZES if on_cpu else GPU_SIZES)
    slow = args.goal and on_cpu
    repeats = args.repeats or (1 if slow else 3)
    print(_measure.machine_note(device), f"| dtype {dtype} | repeats {repeats} | {__file__}")
    results, rows = [], []
    for n, h, v in sizes:
        cell = {}
        for variant in VARIANTS:
            spec = dict(variant=variant, n=n, h=h, v=v, device=args.device, dtype=dtype, repeats=repeats,
                        warmup=not slow)  # fmt: skip
            cell[variant] = _measure.run_worker(__file__, spec)
            results.append({**spec, **cell[variant]})
        ef, ea, li = (cell[k] for k in VARIANTS)
        rows.append([
            f"{n}x{h}x{v}",
            *_measure.variant_columns((ef, ea, li), ".3f"),
            _measure.fmt(_measure.ratio(ea.get("fwd_bwd_s"), ef.get("fwd_bwd_s")), ".2f"),
            _measure.fmt(_measure.ratio(li.get("fwd_bwd_s"), ef.get("fwd_bwd_s")), ".2f"),
            _measure.fmt(_measure.ratio(ef.get("peak_mb"), ea.get("peak_mb")), ".3f"),
            _measure.fmt(_measure.ratio(ef.get("peak_mb"), li.get("peak_mb")), ".3f"),
            _measure.fmt(_measure.ratio(li.get("peak_mb"), ea.get("peak_mb")), ".3f"),
        ])  # fmt: skip
        errors = {k: d["error"] for k, d in cell.items() if "error" in d}
        losses = {k: d["loss"] for k, d in cell.items() if "loss" in d}
        if errors:
            print(f"  {n}x{h}x{v}: failed: {errors}")
        if losses:
            spread = max(losses.values()) - min(losses.values())
            print(
                f"  {n}x{h}x{v}: losses agree within {spread:.2e} ({', '.join(f'{k} {x:.6f}' for k, x in losses.items())})"
            )
    headers = ["NxHxV", "fwd ef", "fwd eager", "fwd liger", "f+b ef", "f+b eager", "f+b liger",
               "MB ef", "MB eager", "MB liger", "eager/ef time", "liger/ef time", "ef/eager MB", "ef/liger MB",
               "liger/eager MB"]  # fmt: skip
    print("times in s (min over repeats); MB = extra peak memory of one fwd+bwd above the inputs "
          "(CPU: VmHWM after clear_refs; CUDA: max_memory_allocated); Liger's fwd already contains its backward")  # fmt: skip
    _measure.print_table(headers, rows)
    if args.json:
        args.json.write_text(json.dumps({"bench": "grpo_loss", "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
