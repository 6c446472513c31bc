"""(prompt, response) pairs shared by the reward-model and embedding tests: string and
message-list prompts, responses of very different lengths (so batches pad)."""

PROMPTS = [
    "sort 3 1 2",
    [
        {"role": "system", "content": "answer in one word"},
        {"role": "user", "content": "what is the best colour of a tree?"},
    ],
    "count the letters of the first word",
    "hello",
    "write a long sentence about the river and the city at night",
    "why?",
]
RESPONSES = [
    "1 2 3",
    "green",
    "the word is five letters long because it has five letters",
    "hello! here is a short answer.",
    "x",
    "because the dog was red and the cat was blue and the water was light",
]
