"""A scripted OpenAI-compatible judge server on 127.0.0.1 that records every request it sees."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOP = [("A", -0.1), ("B", -2.5), ("a", -4.0), (" A", -5.0), ("M", -6.5)]  # the fake first token


class JudgeServer(ThreadingHTTPServer):
    """Chat completions: the reply text is `verdict: <last message>`; with logprobs asked, the
    first token's top-k from TOP. `script` gives the status of the next requests (200 after);
    `fail_after=N` answers 400 to every request after N successful ones (a crash stand-in).
    `seen` records (status, body, Authorization) of every request; `delay` seconds are spent
    on each, `max_in_flight` is the most requests it held at once. `answer(body) -> (text, top)`,
    when set, scripts the reply per request instead."""

    daemon_threads = True

    def __init__(self, script=(), fail_after=None):
        super().__init__(("127.0.0.1", 0), JudgeHandler)
        self.script, self.fail_after = list(script), fail_after
        self.seen, self.lock = [], threading.Lock()
        self.delay, self.in_flight, self.max_in_flight = 0.0, 0, 0
        self.answer = None

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def ok(self):
        return [body for status, body, _ in self.seen if status == 200]


class JudgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        time.sleep(server.delay)
        with server.lock:
            server.in_flight -= 1
            status = server.script.pop(0) if server.script else 200
            if status == 200 and server.fail_after is not None:
                if len(server.ok()) >= server.fail_after:
                    status = 400
            server.seen.append((status, body, self.headers.get("Authorization")))
        if status == 200:
            text, scripted_top = "verdict: " + body["messages"][-1]["content"], TOP
            if server.answer is not None:
                text, scripted_top = server.answer(body)
            choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            choice["finish_reason"] = "stop"
            if body.get("logprobs"):
                k = body["top_logprobs"]
                top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in scripted_top[:k]]
                first = {**top[0], "top_logprobs": top}
                choice["logprobs"] = {"content": [first]}
            payload = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [choice],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
            }
        else:
            payload = {"error": {"message": f"scripted {status}", "type": "x"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass
