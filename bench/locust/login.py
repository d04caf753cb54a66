"""LOAD_USERS users (1,000) log in at once: each waits until all are
spawned, then POST /api/v1/auth/login as LOAD_PREFIX<i> (made beforehand
with `pace user import`). A 503 with Retry-After (the hash pool sheds what
it cannot hash) is an answer, not an error: the user waits Retry-After plus
up to 1 s and tries again (at most LOAD_MAX_TRIES, 60). Errors: no answer
within LOAD_CLIENT_TIMEOUT (30 s), a 503 without Retry-After, any status
but 200 and 503. extra: first-attempt outcomes, tries, and the seconds
until every user was logged in."""
import collections
import itertools
import os

from locust import task
from locust.contrib.fasthttp import FastHttpUser

from common import REC, TIMEOUT, AtOnce, env_int, post_until_answered

USERS = env_int("LOAD_USERS", 1000)
MAX_TRIES = env_int("LOAD_MAX_TRIES", 60)
PREFIX = os.environ.get("LOAD_PREFIX", "lu")
PASSWORD = os.environ.get("LOAD_PASSWORD", "umbrella-quarterly-lantern-42")
gate = AtOnce(USERS)
ids = itertools.count()
first = collections.Counter()
tries = collections.Counter()
REC.extra.update(first_attempt=first, tries=tries)


class LoggingIn(FastHttpUser):
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT

    @task
    def login(self):
        body = {"login": "%s%d" % (PREFIX, next(ids)), "password": PASSWORD}
        gate.wait()
        post_until_answered(self.client, "/api/v1/auth/login", body, "POST /auth/login", 200, MAX_TRIES, first,
                            tries)
        gate.done(self.environment)
