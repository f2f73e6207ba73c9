"""A fake OpenAI-compatible server on 127.0.0.1 for the generative tests (bounded, in a thread)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

TITLES = ["Usual Suspects, The", "Heat", "Toy Story", "Jaws", "Fargo", "Alien", "Casablanca", "Vertigo"]
YEARS = [1995, 1995, 1995, 1975, 1996, 1979, 1942, 1958]
FIXED_REPLY = ("Here are my picks:\n1. The Usual Suspects (1995)\n2. Heat\n3. Nonexistent Movie\n"
               "4. heat (1995)\n5. Toy Story\n6. \"Jaws\" - a classic")


class FakeServer:
    """Tiny OpenAI-compatible server; its behaviour is chosen by words in the prompt."""

    def __init__(self) -> None:
        self.requests = 0
        self.per_prompt: Counter = Counter()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                with server.lock:
                    server.requests += 1
                    server.per_prompt[prompt] += 1
                    n = server.per_prompt[prompt]
                if "KEY" in prompt and self.headers.get("Authorization") != "Bearer sekret":
                    return self._send(401, '{"error": "bad key"}')
                if "SLOW" in prompt and n == 1:
                    time.sleep(1.0)
                if "NOTJSON" in prompt and ("ONCE" not in prompt or n == 1):
                    return self._send(200, "<html>oops</html>")
                if "MISSING" in prompt:
                    return self._send(200, json.dumps({"choices": []}))
                if "BUSY" in prompt and n == 1:
                    return self._send(503, "{}")
                if "FIXED" in prompt:
                    text = FIXED_REPLY
                else:  # a deterministic permutation of the catalogue chosen by the prompt, + one invented title
                    seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
                    order = np.random.default_rng(seed).permutation(len(TITLES))
                    text = "\n".join(f"{i + 1}. {TITLES[j]}" for i, j in enumerate(order)) + "\n9. Made Up Film"
                if "/completions" in self.path and "chat" not in self.path:
                    return self._send(200, json.dumps({"choices": [{"text": text}]}))
                return self._send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
