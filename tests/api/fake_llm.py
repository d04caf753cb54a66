"""A small local stand-in for an OpenAI-compatible chat-completions endpoint
(the one stand-in the test suite allows itself): it answers pace's plan requests with
valid plans, or, at will, slowly, with HTTP 500, with garbage, or with JSON
that breaks the plan schema or the user's exclusions.

In tests:   llm = FakeLLM(); llm.start(); ... llm.mode = "error"; ... llm.stop()
By hand:    python3 tests/api/fake_llm.py --port 8099 [--mode good] [--delay 0]
            then PACE_LLM_URL=http://127.0.0.1:8099/v1/chat/completions

Modes: good, slow (good after `delay` seconds), error (500), garbage (200,
not JSON), badschema (200, JSON without the sessions/meals pace needs),
excluded (200, a nutrition plan naming an excluded food), notchat (200, not
a chat completion).
"""

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("good", "slow", "error", "garbage", "badschema", "excluded", "notchat")

# Plant foods that fit every diet; one is chosen that no exclusion mentions.
_FOODS = ["lentil soup", "quinoa bowl", "oatmeal with berries", "chickpea curry", "brown rice",
          "steamed broccoli", "baked sweet potato", "black bean chili", "apple", "mixed salad"]


def _mentions(text, exclusion):
    e = exclusion.strip().lower()
    if e.endswith("s") and not e.endswith("ss"):
        e = e[:-1]
    return bool(e) and e in text.lower()


def _workout(constraints):
    weeks = []
    minutes = min(45, constraints["max_session_minutes"])
    for w in range(constraints["weeks"]):
        sessions = []
        for i in range(constraints["sessions_per_week"]):
            sessions.append({
                "name": f"LLM session {i + 1}",
                "estimated_minutes": minutes,
                "exercises": [
                    {"name": "Goblet squat", "sets": 3, "reps": 10, "rest_seconds": 90},
                    {"name": "Push-up", "sets": 3, "reps": 12, "rest_seconds": 60},
                ],
            })
        weeks.append({"week": w + 1, "sessions": sessions})
    return {"weeks": weeks}


def _nutrition(constraints, excluded_food=None):
    target = constraints["suggested_kcal"]
    protein = constraints["suggested_protein_g"]
    fat = round(target * 0.3 / 9)
    carbs = round((target - 4 * protein - 9 * fat) / 4)
    foods = [f for f in _FOODS if not any(_mentions(f, x) for x in constraints.get("exclude_foods", []))]
    days = []
    for d in range(7):
        meals = []
        for m in range(constraints["meals_per_day"]):
            items = [{"food": foods[(d + m) % len(foods)], "grams": 250}]
            if excluded_food and d == 0 and m == 0:
                items.append({"food": excluded_food, "grams": 30})
            meals.append({"name": f"meal {m + 1}", "items": items})
        days.append({"day": d + 1, "meals": meals})
    return {"target_kcal": target, "protein_g": protein, "fat_g": fat, "carbs_g": carbs, "days": days}


class FakeLLM:
    def __init__(self, mode="good", delay=0.0, port=0):
        self.mode = mode
        self.delay = delay
        self.requests = []  # parsed request bodies, in arrival order
        self.headers = []   # their headers (dict, lower-case names)
        self._lock = threading.Lock()
        self._port = port
        self._server = None
        self._thread = None

    # -- lifecycle
    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    mode, delay = fake.mode, fake.delay
                status, payload = fake._answer(mode, delay, body)
                try:
                    data = payload.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError, socket.timeout):
                    pass  # the client gave up (a timeout test)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._server = Server(("127.0.0.1", self._port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def count(self):
        with self._lock:
            return len(self.requests)

    # -- answers
    def _answer(self, mode, delay, body):
        if mode == "slow":
            time.sleep(delay)
            mode = "good"
        if mode == "error":
            return 500, json.dumps({"error": {"message": "the model is overloaded", "type": "server_error"}})
        if mode == "notchat":
            return 200, json.dumps({"hello": "world"})
        if mode == "garbage":
            return 200, self._chat("Sure! Here is your plan: {weeks: [oops")
        try:
            user = json.loads(body["messages"][1]["content"])
        except (TypeError, KeyError, IndexError, ValueError):
            return 400, json.dumps({"error": {"message": "bad request"}})
        c = user["constraints"]
        if mode == "badschema":
            return 200, self._chat(json.dumps({"summary": "a plan", "content": {"weeks": [], "days": []}}))
        if user["task"] == "workout":
            content = _workout(c)
        else:
            excluded = c["exclude_foods"][0] if mode == "excluded" and c.get("exclude_foods") else None
            content = _nutrition(c, excluded)
        answer = {"summary": f"An LLM {user['task']} plan for {c['weeks']} weeks", "content": content}
        # Models like to fence their JSON; pace strips the fence.
        return 200, self._chat("```json\n" + json.dumps(answer) + "\n```")

    @staticmethod
    def _chat(text):
        return json.dumps({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        })


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--mode", choices=MODES, default="good")
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    llm = FakeLLM(args.mode, args.delay, args.port).start()
    print(f"fake LLM on {llm.url} ({args.mode})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        llm.stop()


if __name__ == "__main__":
    main()
