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
