"""`vllm`: an in-process `vllm.LLM`, token-in/token-out, with `load_weights` for the RL weight sync.

UNTESTED: vLLM cannot run on any machine this project has (no wheel in the GPU image, too large to carry), so
this is written against vLLM's documented API (`LLM.generate` with `TokensPrompt`, `SamplingParams(logprobs=0)`,
`LLM.apply_model`; with the V1 engine's worker processes, `apply_model` may need
`VLLM_ENABLE_V1_MULTIPROCESSING=0` or vLLM's collective-RPC weight-transfer API instead). To use a vLLM server instead, which *is* tested, run `vllm serve` and pass
`openai:MODEL@http://host:port/v1`. Importing this module does not import vLLM; constructing the backend does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eigenfast.llm.base import ChatRequest, Completion
from eigenfast.llm.batching import MicroBatcher
from eigenfast.llm.template import render_ids


class VLLMBackend:
    def __init__(self, path: str, *, max_batch: int = 256, seed: int = 0, **engine_options: Any):
        try:
            import vllm
        except ImportError as exc:
            raise ImportError("the vllm backend needs vLLM (pip install 'eigenfast[vllm]'); "
                              "or serve the model with `vllm serve` and use openai:MODEL@URL") from exc
        self._vllm = vllm
        self.name = f"vllm:{path}"
        self.llm = vllm.LLM(model=path, seed=seed, **engine_options)
        self.tokenizer = self.llm.get_tokenizer()
        self._batcher: MicroBatcher[ChatRequest, Completion] = MicroBatcher(self._run, max_batch)

    async def complete(self, request: ChatRequest) -> Completion:
        if request.prompt_ids is None:
            request.prompt_ids = render_ids(self.tokenizer, request.messages, request.tools,
                                            add_generation_prompt=True)
        return await self._batcher.submit(request)

    def _run(self, requests: list[ChatRequest]) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=r.prompt_ids) for r in requests]
        params = [self._vllm.SamplingParams(temperature=r.params.temperature, top_p=r.params.top_p,
                                            max_tokens=r.params.max_new_tokens, seed=r.seed,
                                            logprobs=0 if r.params.logprobs else None) for r in requests]
        outs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        results = []
        for req, out in zip(requests, outs, strict=True):
            o = out.outputs[0]
            ids = list(o.token_ids)
            lps = [step[t].logprob for step, t in zip(o.logprobs, ids, strict=True)] if o.logprobs else None
            results.append(Completion(text=o.text, finish_reason="length" if o.finish_reason == "length" else "stop",
                                      token_ids=ids, logprobs=lps, prompt_ids=list(req.prompt_ids or [])))
        return results

    def load_weights(self, weights: Iterable[tuple[str, Any]]) -> None:
        """Load new policy weights (name, tensor) into the engine in place, then drop stale prefix-cache KV."""
        named = list(weights)
        self.llm.apply_model(lambda model: model.load_weights(named))
        self.llm.reset_prefix_cache()

    async def close(self) -> None:
        await self._batcher.wait_idle()
