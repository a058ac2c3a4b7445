"""Several of each process on one machine, behind HAProxy: the production layout, started in one go.

    python -m bot.launcher cluster --replicas 2      (or `make cluster`)

For each replica i: an action server, a Rasa server that calls it, and a gateway that spreads its
turns over every Rasa server; one analytics consumer when an event broker is set; HAProxy on the
gateway port in front of the gateways. The Rasa servers share the tracker store
(SHOPKEEPER_TRACKER_URL, PostgreSQL for several hosts) and the Redis lock store (SHOPKEEPER_LOCK_URL);
the gateways share socket.io rooms through Redis (SHOPKEEPER_GATEWAY_REDIS_URL) and one session
secret. HAProxy keeps each browser on one gateway with a cookie (socket.io's long-polling requests
must all reach the gateway that holds the session; websockets need it only for the upgrade) and
takes a gateway out of the rotation when its /health/live stops answering. DEPLOY.md gives the same
layout for several hosts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from bot.launcher import LaunchError, Services, free_port
from bot.settings import BotSettings

# Ports of replica i when the cluster runs with the default layout: actions 5055+i, Rasa 5005+i,
# gateways 8001+i, HAProxy on the gateway port (8000).
ACTIONS_BASE, RASA_BASE, GATEWAY_BASE_OFFSET = 5055, 5005, 1


def haproxy() -> str | None:
    """HAProxy's path; Debian puts it in /usr/sbin, which not every PATH holds."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def haproxy_config(bind_host: str, port: int, gateways: list[int]) -> str:
    """HAProxy in front of the gateways: sticky by cookie, health-checked, websockets kept open.

    The check is the gateway's liveness (/health/live), not /health: /health waits on Rasa, and under
    load a slow Rasa answer would take every gateway out of rotation at once (measured: refused
    connections at 50 shoppers)."""
    servers = "\n".join(
        f"    server gateway-{i} 127.0.0.1:{p} check inter 2s fall 3 rise 2 cookie g{i}" for i, p in enumerate(gateways)
    )
    return f"""# Written by bot/cluster.py for this run.
global
    maxconn 4096

defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h

frontend shop
    bind {bind_host}:{port}
    default_backend gateways

backend gateways
    balance roundrobin
    cookie SK_GATEWAY insert indirect nocache httponly
    option httpchk GET /health/live
    option redispatch
{servers}
"""


@dataclass
class Cluster:
    services: Services
    replicas: int = 2
    fixed_ports: bool = True  # the documented layout; tests take free ports instead
    gateway_ports: list[int] = field(default_factory=list)
    rasa_urls: list[str] = field(default_factory=list)

    def _port(self, base: int, i: int) -> int:
        return base + i if self.fixed_ports else free_port()

    def check(self, gateway_redis_url: str) -> None:
        missing = [
            name
            for name, value in (
                ("SHOPKEEPER_LOCK_URL", self.services.lock_url),
                ("SHOPKEEPER_GATEWAY_REDIS_URL", gateway_redis_url),
            )
            if not value
        ]
        if self.replicas > 1 and missing:
            needs = " and ".join(missing)
            raise LaunchError(f"A cluster of {self.replicas} needs {needs} (Redis URLs); see DEPLOY.md.")
        if not haproxy():
            raise LaunchError("HAProxy is not installed: `sudo apt-get install haproxy` (or `make cluster-tools`).")

    def start(self, gateway_redis_url: str) -> None:
        s = self.services
        self.check(gateway_redis_url)
        actions_urls = []
        for i in range(self.replicas):
            port = self._port(ACTIONS_BASE, i)
            s.start_actions(name=f"actions-{i}", port=port)
            actions_urls.append(s.internal_url(port))
        if s.broker_url:
            s.start_analytics()
        for i in range(self.replicas):
            port = self._port(RASA_BASE, i)
            s.start_rasa(name=f"rasa-{i}", port=port, actions_url=actions_urls[i])
            self.rasa_urls.append(s.internal_url(port))
        for i in range(self.replicas):
            port = self._port(s.gateway_port + GATEWAY_BASE_OFFSET, i)
            s.start_gateway(name=f"gateway-{i}", port=port, rasa_urls=",".join(self.rasa_urls))
            self.gateway_ports.append(port)
        self.start_balancer()

    def start_balancer(self, timeout: float = 30) -> None:
        s = self.services
        config = s.log_dir / "haproxy.cfg"
        config.write_text(
            haproxy_config(BotSettings.from_env().gateway_host, s.gateway_port, self.gateway_ports), encoding="utf-8"
        )
        s._spawn("haproxy", [haproxy() or "haproxy", "-db", "-f", str(config)])
        s._wait("haproxy", f"{s.gateway_url}/health/live", timeout)  # the launcher's own wait: exits and logs
        print(f"  HAProxy on {s.gateway_url} in front of {len(self.gateway_ports)} gateways")


def banner(cluster: Cluster) -> str:
    s = cluster.services
    rasa = ", ".join(cluster.rasa_urls)
    gateways = ", ".join(f"http://localhost:{p}" for p in cluster.gateway_ports)
    return f"""
Shopkeeper is running as a cluster of {cluster.replicas}.
  Shop address  {s.gateway_url}  (HAProxy; the chat at /, socket.io, /api/transcribe)
  Agent inbox   {s.gateway_url}/agent  (token: {s.agent_token})
  Gateways      {gateways}
  Rasa servers  {rasa}
  Logs          {s.log_dir}

Press Ctrl-C to stop everything.
"""
