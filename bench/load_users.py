#!/usr/bin/python3
"""Users, sessions and seed data for bench/load.sh (loopback only).

  load_users.py hash PASSWORD [M_KIB T]
      one argon2id hash (PHC string) made with the system's libargon2, the
      library pace uses; default parameters are pace's (m=19456 KiB, t=2, p=1),
      so the first login does not re-hash.
  load_users.py importfile PREFIX N PASSWORD OUT
      N JSON lines {username, email, password_hash} for `pace user import`:
      PREFIX0 .. PREFIX<N-1>, one hash shared by all (same cost per login).
  load_users.py sessions URL PREFIX FIRST N PASSWORD OUT [--seed TASKS]
      log in users PREFIX<FIRST> .. PREFIX<FIRST+N-1> (16 at a time, under
      pace's hash queue; a 503 is retried after its Retry-After), and with
      --seed give each TASKS tasks and a fitness profile. Writes one line per
      user: "access_token refresh_token username task_id" (task_id 0 when
      none). Prints "N sessions in S s".

Only /usr/bin/python3's standard library (and ctypes for libargon2).
"""
import concurrent.futures
import ctypes
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

PROFILE = {
    "sex": "female", "birth_date": "1990-05-17", "height_cm": 168, "weight_kg": 62,
    "activity_level": "moderate", "goal": "maintain", "experience": "intermediate",
    "days_per_week": 3, "session_minutes": 45, "equipment": "dumbbells",
    "diet": "omnivore", "meals_per_day": 3,
}


def argon2id(password, m_kib=19456, t=2):
    lib = ctypes.CDLL("libargon2.so.1")
    salt = os.urandom(16)
    pw = password.encode()
    encoded = ctypes.create_string_buffer(256)
    fn = lib.argon2id_hash_encoded
    fn.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p,
                   ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t,
                   ctypes.c_char_p, ctypes.c_size_t]
    rc = fn(t, m_kib, 1, pw, len(pw), salt, len(salt), 32, encoded, len(encoded))
    if rc != 0:
        sys.exit("argon2id_hash_encoded failed: %d" % rc)
    return encoded.value.decode()


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.local = threading.local()

    def call(self, method, path, body=None, token=None, tries=30):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body) if body is not None else None
        for _ in range(tries):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                conn.request(method, path, body=data, headers=headers)
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                time.sleep(0.2)
                continue
            if r.status in (429, 503):
                time.sleep(float(r.getheader("Retry-After") or 1))
                continue
            return r.status, (json.loads(raw) if raw else None)
        raise RuntimeError("%s %s: no answer after %d tries" % (method, path, tries))


def sessions(url, prefix, first, n, password, out, seed_tasks):
    c = Client(url)

    def one(i):
        name = "%s%d" % (prefix, i)
        st, pair = c.call("POST", "/api/v1/auth/login", {"login": name, "password": password})
        if st != 200:
            raise RuntimeError("login %s: %s %s" % (name, st, pair))
        tok = pair["access_token"]
        task_id = 0
        if seed_tasks:
            for k in range(seed_tasks):
                st, t = c.call("POST", "/api/v1/tasks",
                               {"title": "task %d of %s" % (k, name), "priority": k % 4}, tok)
                if st != 201:
                    raise RuntimeError("create task: %s %s" % (st, t))
                task_id = t["id"]
            st, p = c.call("PUT", "/api/v1/profile", PROFILE, tok)
            if st != 200:
                raise RuntimeError("put profile: %s %s" % (st, p))
        return "%s %s %s %d" % (tok, pair["refresh_token"], name, task_id)

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        lines = list(ex.map(one, range(first, first + n)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%d sessions in %.1f s" % (n, time.monotonic() - t0))


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "hash":
        m, t = (int(a[2]), int(a[3])) if len(a) > 3 else (19456, 2)
        print(argon2id(a[1], m, t))
    elif a[0] == "importfile":
        prefix, n, password, out = a[1], int(a[2]), a[3], a[4]
        h = argon2id(password)
        with open(out, "w") as f:
            for i in range(n):
                name = "%s%d" % (prefix, i)
                f.write(json.dumps({"username": name, "email": name + "@example.com",
                                    "password_hash": h}) + "\n")
    elif a[0] == "sessions":
        seed = 0
        if "--seed" in a:
            k = a.index("--seed")
            seed = int(a[k + 1])
            del a[k:k + 2]
        sessions(a[1], a[2], int(a[3]), int(a[4]), a[5], a[6], seed)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
