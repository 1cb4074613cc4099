"""Token log-probs, forward and forward+backward: eigenfast vs torch eager vs Liger-Kernel.

- `token_logprobs` (logits in): eager is `log_softmax(logits.float())` + `gather`; Liger is its Triton cross
  entropy with reduction="none" (logp = -loss), CUDA only, so "n/a" on a CPU.
- `linear_token_logprobs` (hidden in): eager materialises `hidden @ weight.T`; Liger is the chunked selective
  log-prob autograd Function that its fused-linear PPO/GRPO losses use (torch code, runs on a CPU).
On CUDA the table adds the forward's read bandwidth of the logits (N*V*itemsize / fwd time) for token_logprobs,
as a share of `--hbm-gbps` (H200: 4800).

    python bench/logprob.py                     # small CPU sizes, under ~2 minutes
    python bench/logprob.py --json out.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _measure  # noqa: E402

VARIANTS = ("eigenfast", "eager", "liger")
CPU_SIZES = {"token": [(1024, 0, 32768), (512, 0, 151936)], "linear": [(512, 256, 32768), (512, 256, 151936)]}
QUICK_SIZES = {"token": [(64, 0, 1000)], "linear": [(64, 32, 1000)]}
GPU_SIZES = {
    "token": [(n, 0, v) for n in (1024, 4096, 16384) for v in (32768, 151936)],
    "linear": [(n, h, v) for n in (1024, 4096, 16384) for h in (1024, 4096) for v in (32768, 151936)],
}


def _step_fn(spec: dict):
    from eigenfast.ops import linear_token_logprobs, token_logprobs

    device = torch.device(spec["device"])
    dtype = getattr(torch, spec["dtype"])
    n, h, v, variant = spec["n"], spec["h"], spec["v"], spec["variant"]
    g = torch.Generator(device="cpu").manual_seed(0)
    labels = torch.randint(0, v, (n,), generator=g).to(device)
    upstream = torch.randn(n, generator=g).to(device)
    if spec["op"] == "token":
        logits = (torch.randn(n, v, generator=g) * 2).to(device, dtype).requires_grad_(True)
        leaves = [logits]

        def eager():
            return torch.log_softmax(logits.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)

        def liger():
            from liger_kernel.transformers.functional import liger_cross_entropy

            if device.type != "cuda":
                raise RuntimeError("Liger's cross entropy is a Triton kernel: CUDA only")
            return -liger_cross_entropy(logits, labels, reduction="none")

        forward = {"eigenfast": lambda: token_logprobs(logits, labels), "eager": eager, "liger": liger}[
            variant
        ]
    else:
        hidden = (torch.randn(n, h, generator=g) * 0.5).to(device, dtype).requires_grad_(True)
        weight = (torch.randn(v, h, generator=g) / h**0.5).to(device, dtype).requires_grad_(True)
        leaves = [hidden, weight]

        def eager():
            logits = hidden @ weight.t()
            return torch.log_softmax(logits.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)

        def liger():
            from liger_kernel.chunked_loss.fused_linear_ppo import _ChunkedSelectiveLogProbFunction

            return _ChunkedSelectiveLogProbFunction.apply(hidden, weight, labels, None, 1.0, 4096)

        def ours():
            return linear_token_logprobs(hidden, weight, labels)

        forward = {"eigenfast": ours, "eager": eager, "liger": liger}[variant]
    checksums = []

    def reset():
        for leaf in leaves:
            leaf.grad = None

    def step():
        logp = forward()
        checksums.append(logp.float().sum().item())
        return lambda: logp.backward(upstream.to(logp.dtype))

    return step, reset, checksums


def main() -> int:
    parser = _measure.op_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script")
    parser.add_argument("--hbm-gbps", type=float, default=4800.0, help="peak memory bandwidth (H200: 4800)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.worker:
        _measure.worker(_step_fn, json.loads(args.worker), "checksum")
        return 0
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    dtype = args.dtype or ("bfloat16" if on_cuda else "float32")
    itemsize = torch.empty(0, dtype=getattr(torch, dtype)).element_size()
    sizes = QUICK_SIZES if args.quick else (GPU_SIZES if on_cuda else CPU_SIZES)
    print(_measure.machine_note(device), f"| dtype {dtype} | repeats {args.repeats} | {__file__}")
    results, rows = [], []
    for op, op_sizes in sizes.items():
        for n, h, v in op_sizes:
            cell = {}
            for variant in VARIANTS:
                if variant == "liger" and op == "token" and not on_cuda:
                    cell[variant] = {"error": "CUDA only"}
                    continue
                spec = dict(op=op, variant=variant, n=n, h=h, v=v, device=args.device, dtype=dtype,
                            repeats=args.repeats, warmup=True)  # fmt: skip
                cell[variant] = _measure.run_worker(__file__, spec)
                results.append({**spec, **cell[variant]})
            ef, ea, li = (cell[k] for k in VARIANTS)
            gbps = None
            if op == "token" and "fwd_s" in ef:
                gbps = n * v * itemsize / ef["fwd_s"] / 1e9
                ef["read_gbps"] = gbps
            name = f"token {n}x{v}" if op == "token" else f"linear {n}x{h}x{v}"
            rows.append([
                name,
                *_measure.variant_columns((ef, ea, li), ".4f"),
                _measure.fmt(_measure.ratio(ea.get("fwd_s"), ef.get("fwd_s")), ".2f"),
                _measure.fmt(_measure.ratio(ea.get("fwd_bwd_s"), ef.get("fwd_bwd_s")), ".2f"),
                _measure.fmt(_measure.ratio(li.get("fwd_bwd_s"), ef.get("fwd_bwd_s")), ".2f"),
                _measure.fmt(_measure.ratio(ef.get("peak_mb"), ea.get("peak_mb")), ".3f"),
                _measure.fmt(_measure.ratio(ef.get("peak_mb"), li.get("peak_mb")), ".3f"),
                _measure.fmt(gbps, ".1f"),
                _measure.fmt(100 * gbps / args.hbm_gbps if gbps is not None and on_cuda else None, ".0f"),
            ])  # fmt: skip
            failed = {k: d["error"] for k, d in cell.items() if "error" in d and d["error"] != "CUDA only"}
            if failed:
                print(f"  {name}: failed: {failed}")
            sums = [d["checksum"] for d in cell.values() if "checksum" in d]
            print(f"  {name}: sum of log-probs agree within {max(sums) - min(sums):.2e} (of {sums[0]:.1f})")
    headers = ["op NxHxV", "fwd ef", "fwd eager", "fwd liger", "f+b ef", "f+b eager", "f+b liger",
               "MB ef", "MB eager", "MB liger", "eager/ef fwd", "eager/ef f+b", "liger/ef f+b", "ef/eager MB",
               "ef/liger MB", "ef fwd GB/s", "% HBM"]  # fmt: skip
    print("times in s (min over repeats); MB = extra peak memory of one fwd+bwd above the inputs "
          "(CPU: VmHWM after clear_refs; CUDA: max_memory_allocated)")  # fmt: skip
    _measure.print_table(headers, rows)
    if args.json:
        args.json.write_text(json.dumps({"bench": "logprob", "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
