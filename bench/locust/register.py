"""LOAD_USERS users (100) register at once: every user waits until all are
spawned, then POST /api/v1/auth/register with its own name. A 503 with
Retry-After (the hash pool is full) is an answer, not an error: the user
waits Retry-After plus up to 1 s and tries again (at most LOAD_MAX_TRIES,
20). Errors: no answer within LOAD_CLIENT_TIMEOUT (30 s), a 503 without
Retry-After, or any status but 201 and 503. extra: first-attempt outcomes,
tries, seconds until every user was registered."""
import collections
import itertools
import os

from locust import task
from locust.contrib.fasthttp import FastHttpUser

from common import REC, TIMEOUT, AtOnce, env_int, post_until_answered

USERS = env_int("LOAD_USERS", 100)
MAX_TRIES = env_int("LOAD_MAX_TRIES", 20)
PREFIX = os.environ.get("LOAD_PREFIX", "reg")
PASSWORD = os.environ.get("LOAD_PASSWORD", "umbrella-quarterly-lantern-42")
gate = AtOnce(USERS)
ids = itertools.count()
first = collections.Counter()
tries = collections.Counter()
REC.extra.update(first_attempt=first, tries=tries)


class Registering(FastHttpUser):
    network_timeout = TIMEOUT
    connection_timeout = TIMEOUT

    @task
    def register(self):
        i = next(ids)
        name = "%s%d" % (PREFIX, i)
        body = {"username": name, "email": name + "@example.com", "password": PASSWORD}
        gate.wait()
        post_until_answered(self.client, "/api/v1/auth/register", body, "POST /auth/register", 201, MAX_TRIES,
                            first, tries)
        gate.done(self.environment)
