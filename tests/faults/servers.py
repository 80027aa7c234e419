"""Real servers for fault and contract tests, each on a free loopback port in a temp dir:
a Redis, a PostgreSQL cluster, and the service itself under gunicorn. None of them is the
machine's shared Redis or PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1] if glob.glob("/usr/lib/postgresql/*/bin") else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # as abrupt as a crash
            self.proc.wait(10)

    def keys(self, pattern: str) -> list[bytes]:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2).keys(pattern)


class PostgresServer:
    """A throw-away cluster. initdb refuses to run as root, so as root it runs as `postgres`."""

    def __init__(self, workdir: Path) -> None:
        # Its own directory outside pytest's (mode 700, which `postgres` cannot enter).
        self.dir = Path(tempfile.mkdtemp(prefix="hotcrm-pg-")) / "data"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [os.path.join(PG_BIN, args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"{args[0]} failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")

    def init(self) -> PostgresServer:
        os.chmod(self.dir.parent, 0o755)  # noqa: S103  (postgres must enter it; it holds nothing secret)
        self.dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> PostgresServer:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.dir), "-o", options, "-l", str(self.dir / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        if (self.dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.dir), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir.parent, ignore_errors=True)


class AppServer:
    """The service under gunicorn, with its own database, migrated and holding the built-in
    models and a token."""

    def __init__(self, workdir: Path, *, secret_key: str, fixture: Path, database_url: str = "",
                 redis_url: str = "", workers: int = 1, extra_env: dict[str, str] | None = None) -> None:
        self.dir = workdir
        self.port = free_port()
        self.fixture = fixture
        self.workers = workers
        self.log = workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        env = {k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "REDIS_URL", "HOTCRM_ENV", "DJANGO_SETTINGS_MODULE"}}
        env |= {"SECRET_KEY": secret_key, "HOTCRM_VAR_DIR": str(workdir / "var"),
                "CACHE_KEY_PREFIX": f"hotcrm-fault-{self.port}", "THROTTLE_RATE": "1000000/min",
                "PROVIDER_ALLOWED_HOSTS": "127.0.0.1,localhost"}
        if database_url:
            env["DATABASE_URL"] = database_url
        if redis_url:
            env["REDIS_URL"] = redis_url
        self.env = env | (extra_env or {})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=300)
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def prepare(self, *token_args: str) -> str:
        """Migrate, load the built-in models; return a new token's key. One process for the
        three commands: each start of Django with the ML stack costs seconds."""
        script = (
            "import sys, django; django.setup(); from django.core.management import call_command;"
            "call_command('migrate', interactive=False, verbosity=0);"
            "call_command('loaddata', sys.argv[1], verbosity=0);"
            "call_command('create_api_token', 'fault-tests', *sys.argv[2:])"
        )
        result = subprocess.run([sys.executable, "-c", script, str(self.fixture), *token_args], cwd=ROOT,
                                env=self.env | {"DJANGO_SETTINGS_MODULE": "hotcrm_ai.settings"},
                                capture_output=True, text=True, timeout=300)
        if result.returncode:
            raise RuntimeError(f"preparing the app failed:\n{result.stderr[-3000:]}")
        return result.stdout.strip().splitlines()[-1]

    def start(self) -> AppServer:
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "hotcrm_ai.wsgi", "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--timeout", "30",
             "--no-control-socket"],  # several servers run at once; none needs it
            cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout=60)
        return self

    def worker_pids(self) -> set[int]:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return {int(pid) for pid in children}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def client(self, key: str, timeout: float = 60.0) -> httpx.Client:
        # Generous: this machine runs other test suites at the same time.
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Token {key}"}, timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
