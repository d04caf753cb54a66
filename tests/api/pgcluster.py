"""Throwaway PostgreSQL clusters of a test's own, through scripts/pg.sh: for
the tests that stop, freeze or replicate a server (test_pg_*.py), which must
not touch the cluster the rest of the suite shares. Every process signalled
here is one of the cluster's own (pg.sh pids), started by the test."""

import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse

from harness import REPO

PG_SH = str(REPO / "scripts" / "pg.sh")


def _pg_sh(*args, timeout=120):
    p = subprocess.run([PG_SH, *[str(a) for a in args]], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"pg.sh {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout.strip()


def _state_dir():
    # Not under pytest's tmp_path: other pytest runs on the machine may
    # rotate that away, and a cluster whose state is gone cannot be stopped.
    return tempfile.mkdtemp(prefix="pace-pgstate.")


class Cluster:
    def __init__(self, state):
        self.state = state
        self.frozen = []

    @classmethod
    def start(cls):
        state = _state_dir()
        try:
            _pg_sh("start", state)
        except BaseException:
            _pg_sh("stop", state)
            shutil.rmtree(state, ignore_errors=True)
            raise
        return cls(state)

    @classmethod
    def replica_of(cls, primary):
        state = _state_dir()
        try:
            _pg_sh("replica", primary.state, state)
        except BaseException:
            _pg_sh("stop", state)
            shutil.rmtree(state, ignore_errors=True)
            raise
        return cls(state)

    def url(self, db="postgres"):
        parts = urllib.parse.urlsplit(_pg_sh("url", self.state))
        return urllib.parse.urlunsplit(parts._replace(path="/" + db))

    def psql(self, sql, db="postgres"):
        """Runs sql; returns psql's unaligned, tuples-only output."""
        return _pg_sh("psql", self.state, "-d", db, "-At", "-c", sql)

    def pids(self):
        return [int(p) for p in _pg_sh("pids", self.state).split()]

    def halt(self):
        """Stops the server (pg_ctl -m fast); the data stays."""
        _pg_sh("halt", self.state)

    def resume(self):
        """Starts a halted server again on the same port."""
        _pg_sh("resume", self.state)

    def freeze(self):
        """SIGSTOP to every process of the server: the kernel still completes
        TCP handshakes and acknowledges data, nothing answers. The
        postmaster goes first (pids() lists it first); a backend it forked
        after a listing is caught by the next one, until a listing finds
        nothing new."""
        self.frozen = []
        for _ in range(10):
            new = [pid for pid in self.pids() if pid not in self.frozen]
            if not new:
                break
            for pid in new:
                os.kill(pid, signal.SIGSTOP)
                self.frozen.append(pid)

    def thaw(self):
        for pid in self.frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def stop(self):
        """Stops the server and deletes it (wakes a frozen one first)."""
        self.thaw()
        _pg_sh("stop", self.state)
        shutil.rmtree(self.state, ignore_errors=True)
