"""Token refresh under load: LOAD_USERS users (200), each holding one session
from LOAD_TOKENS (lines "access refresh username task_id", one per user;
sessions of their own, not shared with anything else of the run). Each user,
every LOAD_REFRESH_PERIOD seconds (0.5, constant pacing), POST
/api/v1/auth/refresh with its current refresh token (strict rotation: the
answer's refresh token is the next one), then GET /api/v1/users/me with the
new access token. Errors: anything but 200 (a 401 refresh_token_reused would
mean a lost rotation), no answer within LOAD_CLIENT_TIMEOUT. bench/load.sh
runs wrk's hold.lua beside it as the load the refreshes happen under."""
import itertools
import os

from locust import constant_pacing, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from common import TIMEOUT, env_float, read_lines

SESSIONS = read_lines(os.environ["LOAD_TOKENS"])
ids = itertools.count()


class Refreshing(FastHttpUser):
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT
    wait_time = constant_pacing(env_float("LOAD_REFRESH_PERIOD", 0.5))

    def on_start(self):
        i = next(ids)
        if i >= len(SESSIONS):
            raise StopUser()
        self.access, self.refresh = SESSIONS[i][0], SESSIONS[i][1]

    @task
    def refresh_then_read(self):
        with self.client.post("/api/v1/auth/refresh", json={"refresh_token": self.refresh},
                              name="POST /auth/refresh", catch_response=True) as r:
            if r.status_code != 200:
                r.failure("refresh answered %s" % r.status_code)
                return
            pair = r.json()
            self.access, self.refresh = pair["access_token"], pair["refresh_token"]
        with self.client.get("/api/v1/users/me", headers={"Authorization": "Bearer " + self.access},
                             name="GET /users/me (new token)", catch_response=True) as r:
            if r.status_code != 200:
                r.failure("new access token answered %s" % r.status_code)
