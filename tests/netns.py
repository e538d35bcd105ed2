"""Several hosts on one machine, for the tests: Linux network namespaces (`ip netns`), each with its
own network stack, one veth link and one address on a private switch. The switch is a bridge in a
namespace of its own, so the machine's firewall and forwarding rules never see the traffic; the
only change outside the namespaces is one veth in the test's own namespace, through which the test
reaches the hosts. No host has a route anywhere else.

Needs root and iproute2 (`ip`, `tc`, with the kernel's tbf qdisc); skip_reason() says why not where
it cannot run. Names carry the test process's id, so a crashed earlier run does not collide, and
close() removes everything: the processes started on the hosts, the namespaces and their links.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from .postgres import TemporaryPostgres

PREFIX = "10.231"  # the hosts' subnet is 10.231.X.0/24, X one no interface here uses


def ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run("ip", *arguments, check=check)


def tc(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run("tc", *arguments, check=check)


def _run(*command: str, check: bool) -> subprocess.CompletedProcess:
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")
    return done


def skip_reason() -> str | None:
    """Why the namespaces cannot be made here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (CI runs the tests as root)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (Debian's iproute2; scripts/test-deps.sh installs it)"
    probe = f"ugprobe{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    try:
        ip("-n", probe, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1")
        shaped = tc("-n", probe, "qdisc", "add", "dev", "probe0", "root", "tbf", "rate", "1mbit", "burst", "4kb",
                    "latency", "100ms", check=False)
        if shaped.returncode != 0:
            return f"the kernel has no tbf qdisc (sch_tbf) to slow a link: {shaped.stderr.strip()}"
    finally:
        ip("netns", "del", probe, check=False)
    return None


def _free_subnet() -> str:
    used = ip("-4", "-o", "addr").stdout + ip("-4", "route").stdout
    start = 20 + os.getpid() % 200
    for number in [*range(start, 250), *range(2, start)]:
        if f"{PREFIX}.{number}." not in used:
            return f"{PREFIX}.{number}"
    raise RuntimeError(f"every {PREFIX}.X.0/24 subnet is in use here")


class Host:
    """A namespace with one link, eth0, at address on the network."""

    def __init__(self, namespace: str, address: str):
        self.namespace, self.address = namespace, address
        self.processes: list[subprocess.Popen] = []

    def command(self, *arguments: str) -> list[str]:
        """A command line that runs arguments on this host (`ip netns exec` execs them: same pid)."""
        return ["ip", "netns", "exec", self.namespace, *arguments]

    def start(self, arguments: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
        """A process on this host, its output appended to log; stopped by close() at the latest."""
        with log.open("ab") as out:
            process = subprocess.Popen(self.command(*arguments), env={**os.environ, **(env or {})}, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def link(self, up: bool) -> None:
        ip("-n", self.namespace, "link", "set", "dev", "eth0", "up" if up else "down")

    def slow(self, rate: str) -> None:
        """Limit what this host sends to rate (tc's units: 32kbit)."""
        tc("-n", self.namespace, "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", rate, "burst", "4kb",
           "latency", "2s")

    def unslow(self) -> None:
        tc("-n", self.namespace, "qdisc", "del", "dev", "eth0", "root", check=False)

    def sysctl(self, name: str, value: int) -> None:
        """Set a network setting of this namespace only (net.* settings are per namespace)."""
        path = "/proc/sys/" + name.replace(".", "/")  # /proc/sys/net is the reading process's namespace's
        _run(*self.command("sh", "-c", 'echo "$1" > "$2"', "sysctl", str(value), path), check=True)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
        # Anything else still running in the namespace was started from here (PostgreSQL's own
        # processes are stopped before): ended by id before the namespace goes.
        for pid in ip("netns", "pids", self.namespace, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        ip("netns", "del", self.namespace, check=False)


class Network:
    """A switch and the hosts on it; use as a context manager (close() tears everything down)."""

    def __init__(self):
        self.tag = f"ug{os.getpid()}"  # also the test's own link's name (at most 15 characters)
        self.subnet = _free_subnet()
        self.cidr = f"{self.subnet}.0/24"
        self.address = f"{self.subnet}.1"  # the test's own address on the network
        self.switch = f"{self.tag}-switch"
        self.hosts: dict[str, Host] = {}

    def __enter__(self) -> Network:
        try:
            ip("netns", "add", self.switch)
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "dev", "br0", "up")
            ip("link", "add", self.tag, "type", "veth", "peer", "name", "up0", "netns", self.switch)
            ip("-n", self.switch, "link", "set", "dev", "up0", "master", "br0", "up")
            ip("addr", "add", f"{self.address}/24", "dev", self.tag)
            ip("link", "set", "dev", self.tag, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def host(self, name: str) -> Host:
        """A new host on the switch, its only link eth0 (and loopback)."""
        assert re.fullmatch(r"[a-z0-9]{1,12}", name) and name not in self.hosts, name
        number = len(self.hosts) + 2
        host = Host(f"{self.tag}-{name}", f"{self.subnet}.{number}")
        ip("netns", "add", host.namespace)
        self.hosts[name] = host
        ip("link", "add", "eth0", "netns", host.namespace, "type", "veth", "peer", "name", f"port{number}",
           "netns", self.switch)
        ip("-n", self.switch, "link", "set", "dev", f"port{number}", "master", "br0", "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        ip("-n", host.namespace, "link", "set", "dev", "eth0", "up")
        ip("-n", host.namespace, "link", "set", "dev", "lo", "up")
        return host

    def close(self) -> None:
        for host in reversed(self.hosts.values()):
            host.close()
        self.hosts.clear()
        ip("netns", "del", self.switch, check=False)  # takes the switch's ends of every link with it
        ip("link", "del", self.tag, check=False)


class NamespacedPostgres(TemporaryPostgres):
    """tests/postgres.py's throwaway PostgreSQL server, run on a host: it listens on the host's
    address (and its Unix socket) and trusts clients from the network."""

    def __init__(self, bin_dir: Path, host: Host, cidr: str):
        super().__init__(bin_dir, settings=f"-c listen_addresses='{host.address}'")
        self.host, self.cidr = host, cidr
        self.as_user = [*host.command(), *self.as_user]

    def start_server(self) -> None:
        rules = self.data / "pg_hba.conf"
        rule = f"host all all {self.cidr} trust\n"
        if rule not in rules.read_text():
            with rules.open("a") as out:
                out.write(rule)
        super().start_server()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host.address}:5432/{database}"
