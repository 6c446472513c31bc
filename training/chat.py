"""Prompts and responses as the model sees them: its own chat template, prompt and response split.

One convention for every stage that turns text into tokens (generation, reward scoring, reference
log-probs, training): the prompt is the conversation rendered with `add_generation_prompt=True`;
the response is what the template adds when the assistant's answer is appended (the answer and
the template's end-of-turn tokens, e.g. `<|im_end|>` or `<|eot_id|>`). Both are tokenised without
extra special tokens (the template already holds BOS where the model wants one). The log-prob of
a response is the sum over exactly these response tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

Message = dict[str, str]


def as_messages(prompt: str | Sequence[Message]) -> list[Message]:
    """A prompt string becomes one user turn; a message list is taken as it is."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def prompt_text(tokenizer, prompt: str | Sequence[Message]) -> str:
    """The conversation rendered up to the start of the assistant's answer."""
    return tokenizer.apply_chat_template(
        as_messages(prompt), tokenize=False, add_generation_prompt=True
    )


def split_text(tokenizer, prompt: str | Sequence[Message], response: str) -> tuple[str, str]:
    """(prompt text, response text): the template rendered with and without the answer.

    Raises ValueError when the template does not render the prompt as a prefix of the whole
    conversation (templates that rewrite earlier turns cannot be split this way)."""
    head = prompt_text(tokenizer, prompt)
    whole = tokenizer.apply_chat_template(
        [*as_messages(prompt), {"role": "assistant", "content": response}], tokenize=False
    )
    if not whole.startswith(head):
        raise ValueError(
            "chat template: the prompt rendered with add_generation_prompt=True is not a prefix "
            "of the conversation with the answer appended"
        )
    return head, whole[len(head) :]


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text`, no special tokens added."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_prompt(tokenizer, prompt: str | Sequence[Message]) -> list[int]:
    return encode(tokenizer, prompt_text(tokenizer, prompt))


def encode_pair(
    tokenizer, prompt: str | Sequence[Message], response: str
) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) under the convention above."""
    head, tail = split_text(tokenizer, prompt, response)
    return encode(tokenizer, head), encode(tokenizer, tail)


def conversation_text(tokenizer, prompt: str | Sequence[Message], response: str) -> str:
    """The whole conversation, the assistant's answer appended, rendered with the template (what
    a reward model reads)."""
    return tokenizer.apply_chat_template(
        [*as_messages(prompt), {"role": "assistant", "content": response}], tokenize=False
    )


def last_user_text(prompt: str | Sequence[Message]) -> str:
    """The prompt as one string: itself, or the content of the last user turn of a message list."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    if not users:
        raise ValueError("prompt: the message list has no user turn")
    return users[-1]


def check_pairs(prompts: Sequence, responses: Sequence) -> None:
    """ValueError unless prompts and responses are aligned lists and every response is a string."""
    if len(prompts) != len(responses):
        raise ValueError(
            f"pairs: {len(prompts)} prompts but {len(responses)} responses (one prompt per response)"
        )
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        if not isinstance(r, str):
            raise ValueError(f"pairs: response {i} is {type(r).__name__}, not str")
        if not isinstance(p, str) and not (
            isinstance(p, Sequence) and all(isinstance(m, dict) for m in p)
        ):
            raise ValueError(f"pairs: prompt {i} is neither a string nor a list of messages")
