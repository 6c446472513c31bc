"""The in-process judge (offline runs): a transformers model through the generation backend's
`complete`, whose log-probs are the model's log_softmax over raw logits (before temperature).

The chat template is the model's own (`training.chat.prompt_text`); usage counts the rendered
prompt's tokens and the generated tokens (EOS included), as the local server reports them.
"""

from __future__ import annotations

from evaluation.judge.base import Judge, JudgeReply, JudgeRequest
from evaluation.judge.cache import JudgeCache
from training.generation.sampling import Sampling


class TransformersJudge(Judge):
    name = "transformers"

    def __init__(self, generator, *, model: str, cache: JudgeCache | None = None, prices=None):
        # one model in this process: the generator serialises calls anyway
        super().__init__(model, cache, concurrency=1, prices=prices)
        self.generator = generator

    @classmethod
    def from_spec(
        cls, spec, *, cache: JudgeCache | None = None, num_threads: int | None = None, prices=None
    ) -> TransformersJudge:
        from training.generation.transformers_backend import TransformersGenerator

        generator = TransformersGenerator.from_spec(spec, batch_size=1, num_threads=num_threads)
        return cls(generator, model=spec.name_or_path, cache=cache, prices=prices)

    def identity(self) -> dict:
        return {"backend": self.name, "model_path": self.model}

    def send(self, request: JudgeRequest) -> JudgeReply:
        from training.chat import encode

        if request.model != self.model:
            raise ValueError(
                f"transformers judge: this judge runs {self.model!r}, not {request.model!r}"
            )
        (text,) = self.generator.render([list(request.messages)])
        sampling = Sampling(temperature=request.temperature, max_new_tokens=request.max_tokens)
        ((completion,),) = self.generator.complete(
            [text], sampling, top_logprobs=request.top_logprobs
        )
        top = None
        if request.top_logprobs is not None:
            # the first step's top-k, even when the token drawn there was EOS
            top = tuple((t.token, t.logprob) for t in completion.logprobs[0].top)
        prompt_tokens = len(encode(self.generator.tokenizer, text))
        return JudgeReply(completion.text, top, prompt_tokens, len(completion.token_ids))

    def close(self) -> None:
        self.generator.close()
