"""The project-local PostgreSQL 15 cluster under `$LISTINGS_HOME/pg`: init, start, stop, status, URLs.

Used by `make demo` and the test suite; `LISTINGS_DATABASE_URL` points at any other server instead.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from listings.db.engine import LOCAL_SUPERUSER, local_cluster_url
from listings.private_files import write_private

log = logging.getLogger(__name__)

SUPERUSER = LOCAL_SUPERUSER
POSTGIS_PACKAGE = "postgresql-15-postgis-3"


class LocalPostgresError(RuntimeError):
    pass


def _pg_bindir() -> Path:
    configured = os.environ.get("LISTINGS_PG_BINDIR")
    if configured:
        return Path(configured)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    preferred = [c for c in candidates if "/15/" in c] or candidates
    if not preferred:
        found = shutil.which("postgres")
        if found:
            return Path(found).parent
        raise LocalPostgresError("PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin)")
    return Path(preferred[0]).parent


def _sharedir(bindir: Path) -> Path:
    # /usr/lib/postgresql/15/bin -> /usr/share/postgresql/15
    return Path("/usr/share/postgresql") / bindir.parent.name


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server started next, below the kernel's ephemeral range: a port
    the kernel hands out (bind to port 0) comes from the range outgoing connections take their local ports
    from, and one of them can take it in the seconds a server needs to start (seen: Airflow's api-server
    failing with "address already in use" while the tests opened connections beside it)."""
    low = _ephemeral_low()
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10_000, low)
        if _port_free(port):
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return low if low > 12_000 else 32768


def shared_buffers_mb() -> int:
    """A quarter of the machine's memory, between 128 MB and 2 GB (PostgreSQL's usual advice)."""
    import psutil

    return int(max(128, min(2048, psutil.virtual_memory().total // (4 * 2**20))))


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # PostgreSQL binds with SO_REUSEADDR too: connections in TIME_WAIT do not make the port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def ensure_postgis(bindir: Path | None = None) -> None:
    """Install PostGIS for this PostgreSQL major version when it is missing (Debian package)."""
    bindir = bindir or _pg_bindir()
    if (_sharedir(bindir) / "extension" / "postgis.control").exists():
        return
    if os.geteuid() != 0:
        raise LocalPostgresError(
            f"PostGIS is missing: install the Debian package {POSTGIS_PACKAGE} (needs root)"
        )
    log.warning("PostGIS missing: installing %s", POSTGIS_PACKAGE)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", POSTGIS_PACKAGE], check=True, env=env)


@dataclass
class ClusterState:
    port: int
    password: str


# Where a cluster goes when the postgres system user cannot reach the project's folder (`_relocate_if_unreachable`).
RELOCATED = Path("/var/lib/listings-pipeline")


def _reachable_by_postgres(folder: Path) -> bool:
    """Whether the postgres system user can enter `folder` (its nearest existing ancestor, and so every
    folder above it)."""
    while not folder.exists():
        folder = folder.parent
    res = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(folder)], capture_output=True)
    return res.returncode == 0


class LocalPostgres:
    """A PostgreSQL cluster owned by the project, listening on 127.0.0.1 only."""

    def __init__(self, root: Path, *, fast: bool = False) -> None:
        self.home = Path(root).absolute()  # where the project keeps it (a symlink when it was relocated)
        self.root = self.home.resolve()
        # fast: no fsync, for throwaway test clusters only.
        self.fast = fast

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def _relocate_if_unreachable(self) -> None:
        """As root, initdb and postgres run as the postgres system user, which cannot enter a project under
        a private folder (root's home is 0700). Such a cluster lives under RELOCATED instead; the project's
        folder holds a symlink to it, so every later command finds it where it looks."""
        if os.geteuid() != 0 or _reachable_by_postgres(self.home.parent):
            return
        target = RELOCATED / f"pg-{hashlib.sha256(str(self.home).encode()).hexdigest()[:16]}"
        target.mkdir(parents=True, exist_ok=True)
        RELOCATED.chmod(0o755)
        if self.home.is_symlink():
            self.home.unlink()
        elif self.home.exists():
            shutil.rmtree(self.home)  # an uninitialised cluster's folder holds nothing to keep
        self.home.parent.mkdir(parents=True, exist_ok=True)
        self.home.symlink_to(target, target_is_directory=True)
        self.root = target
        log.warning(
            "the postgres user cannot reach %s: the cluster's data is in %s", self.home.parent, target
        )

    # --- state -----------------------------------------------------------------------------
    def state(self) -> ClusterState:
        if not self.state_file.exists():
            raise LocalPostgresError(f"no local PostgreSQL under {self.root}: run `listings db start`")
        raw = json.loads(self.state_file.read_text())
        return ClusterState(port=int(raw["port"]), password=str(raw["password"]))

    def _write_state(self, state: ClusterState) -> None:
        write_private(self.state_file, json.dumps({"port": state.port, "password": state.password}))

    def url(self, database: str = "listings", driver: str = "postgresql+psycopg") -> str:
        self.state()  # (a missing cluster: LocalPostgresError)
        return local_cluster_url(self.root, database, driver)

    # --- process control -------------------------------------------------------------------
    def _as_owner(self, args: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root: run them as the postgres system user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def _chown(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        import pwd

        pw = pwd.getpwnam("postgres")
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        res = subprocess.run(
            self._as_owner([str(_pg_bindir() / "pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
            text=True,
        )
        return res.returncode == 0

    def init(self) -> None:
        bindir = _pg_bindir()
        self._relocate_if_unreachable()
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.data.mkdir(exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        self._chown(self.data, self.run_dir)
        password = secrets.token_urlsafe(18)
        pwfile = self.run_dir / "initpw"
        write_private(pwfile, password + "\n")
        self._chown(pwfile)
        try:
            subprocess.run(
                self._as_owner(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        SUPERUSER,
                        f"--pwfile={pwfile}",
                        "-A",
                        "scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as exc:
            raise LocalPostgresError(f"initdb failed: {exc.stderr.strip()}") from exc
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_state(ClusterState(port=free_port(), password=password))

    def start(self) -> ClusterState:
        """Start the cluster (initialising it on first use) and return its state. Idempotent."""
        bindir = _pg_bindir()
        ensure_postgis(bindir)
        if not self.initialized():
            self.init()
        st = self.state()
        if self.running():
            return st
        if not _port_free(st.port):
            st = ClusterState(port=free_port(), password=st.password)
            self._write_state(st)
        if not self.log_file.exists():
            self.log_file.touch()
        self._chown(self.log_file)
        opts = (
            f"-p {st.port} -k {self.run_dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c timezone=UTC"
            # PostgreSQL's 128 MB default does not hold a large catalogue's matching index in memory.
            f" -c shared_buffers={shared_buffers_mb()}MB -c effective_cache_size={2 * shared_buffers_mb()}MB"
        )
        if self.fast:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        res = subprocess.run(
            self._as_owner(
                [
                    str(bindir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log_file),
                    "-o",
                    opts,
                ]
            ),
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise LocalPostgresError(f"PostgreSQL did not start: {res.stderr.strip()}\n{tail}")
        self._wait_ready(st)
        return st

    def _wait_ready(self, st: ClusterState, timeout: float = 30) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url("postgres", driver="postgresql"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if not self.running():
            return
        subprocess.run(
            self._as_owner([str(_pg_bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data)]),
            check=True,
            capture_output=True,
        )

    def ensure_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres", driver="postgresql"), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.home.is_symlink():
            self.home.unlink()
