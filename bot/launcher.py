"""Start Shopkeeper's processes, report where they are, stop them all on Ctrl-C.

    python -m bot.launcher run     # action server + Rasa server + the voice/text gateway
    python -m bot.launcher shell   # action server + `rasa shell` in this terminal
    python -m bot.launcher cluster --replicas 2   # N of each behind HAProxy (bot/cluster.py)

Ports come from the bot settings (bot/settings.py: SHOPKEEPER_ACTIONS_PORT 5055, SHOPKEEPER_RASA_PORT
5005, SHOPKEEPER_GATEWAY_PORT 8000), the shop database from the catalogue's (SHOPKEEPER_DB) and the
speech model from the voice settings (SHOPKEEPER_ASR_MODEL). Tests use the same ``Services`` class
with their own ports.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.exc import SQLAlchemyError

from bot import backends
from bot.retention import DAY_S, prune_trackers
from bot.settings import BotSettings
from catalog import CatalogSettings, Store, records_url
from voice.settings import VoiceSettings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "shopkeeper.tar.gz"
BIN = Path(sys.executable).parent
PRUNE_EVERY_S = 6 * 3600  # how often the running launcher applies the tracker retention

# TensorFlow (Rasa's TEDPolicy) on one thread per Rasa process, unless the environment says
# otherwise: by default it spreads each small prediction over every core, and under load those
# threads wait for cores that other turns hold (p95 at 50 shoppers, benchmarks/results/load.md).
TENSORFLOW_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the launcher dies, even by SIGKILL (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: stop() still cleans up on every normal exit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LaunchError(RuntimeError):
    """A process failed to start; the message says which and shows its last output."""


@dataclass
class Services:
    actions_port: int = field(default_factory=lambda: BotSettings.from_env().actions_port)
    rasa_port: int = field(default_factory=lambda: BotSettings.from_env().rasa_port)
    gateway_port: int = field(default_factory=lambda: BotSettings.from_env().gateway_port)
    asr_model: str = field(default_factory=lambda: VoiceSettings.from_env().asr_model)
    model: Path = DEFAULT_MODEL
    db: str | None = field(default_factory=lambda: str(CatalogSettings.from_env().db))
    # Rasa and the action server listen here (loopback: the gateway is the only public door).
    internal_host: str = field(default_factory=lambda: BotSettings.from_env().internal_host)
    # Rasa's HTTP API (trackers, /model/parse), on loopback behind this token. The gateway's agent
    # inbox pauses and resumes conversations through it, so an empty setting gets a random token per run.
    rasa_token: str = field(default_factory=lambda: BotSettings.from_env().rasa_token or secrets.token_urlsafe(24))
    # The staff's agent inbox (/agent): the setting, else a random token per run, printed in the banner.
    agent_token: str = field(default_factory=lambda: BotSettings.from_env().agent_token or secrets.token_urlsafe(12))
    # Where Rasa keeps conversations, locks and events (bot/backends.py); "" = SQLite beside the shop database.
    tracker_url: str = field(default_factory=lambda: BotSettings.from_env().tracker_url)
    lock_url: str = field(default_factory=lambda: BotSettings.from_env().lock_url)
    broker_url: str = field(default_factory=lambda: BotSettings.from_env().event_broker_url)
    retention_days: float = field(default_factory=lambda: BotSettings.from_env().tracker_retention_days)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shopkeeper-")))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def internal(self) -> BotSettings:
        return BotSettings(internal_host=self.internal_host, rasa_port=self.rasa_port, actions_port=self.actions_port)

    @property
    def rasa_url(self) -> str:
        return self.internal.rasa_url

    @property
    def actions_url(self) -> str:
        return self.internal.actions_url

    @property
    def gateway_url(self) -> str:
        return f"http://localhost:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        env = {**TENSORFLOW_THREADS, **os.environ, "RASA_TELEMETRY_ENABLED": "false"}
        if self.db:
            env["SHOPKEEPER_DB"] = str(Path(self.db).resolve())
        return env

    @property
    def trackers(self) -> str:
        """The tracker store's URL: the setting, else a SQLite file beside the shop database."""
        return self.tracker_url or backends.default_tracker_url(self.db or CatalogSettings.from_env().db)

    def endpoints_file(self, actions_url: str = "", name: str = "endpoints") -> Path:
        """endpoints.yml for a Rasa server: its action server, tracker store, lock store and event broker."""
        config = backends.endpoints(
            actions_url or self.actions_url, self.trackers, self.lock_url, self.broker_url, self.retention_days * DAY_S
        )
        path = self.log_dir / f"{name}.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        path.chmod(0o600)  # it may hold database passwords
        return path

    def check_backends(self) -> None:
        """Stop with a message naming the setting when a configured store cannot be reached."""
        try:
            backends.check_reachable(self.trackers, self.lock_url, self.broker_url)
        except backends.BackendError as exc:
            raise LaunchError(f"Cannot start Rasa: {exc}") from None

    def prune_trackers(self) -> None:
        """The retention job: forget conversations idle for longer than ``retention_days``."""
        try:
            deleted = prune_trackers(self.trackers, self.retention_days * DAY_S)
        except Exception as exc:  # noqa: BLE001 - a failed clean-up must never stop the shop
            print(f"  tracker retention skipped: {exc}", file=sys.stderr)
            return
        if deleted:
            print(f"  forgot {deleted} conversation(s) idle for more than {self.retention_days:g} days")
        try:
            shop = Store(self.db)
        except (OSError, sqlite3.Error) as exc:
            print(f"  shop retention skipped: {exc}", file=sys.stderr)
            return
        try:
            shop.identity.forget_old()  # spent codes, lapsed proofs, old outbox mail
        except SQLAlchemyError as exc:
            print(f"  shop retention skipped: {backends.first_line(exc)}", file=sys.stderr)
        finally:
            shop.close()

    def _spawn(self, name: str, command: list[str], **extra_env: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        # A new session per child so Ctrl-C here stops each whole process tree, once.
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env(), **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.processes[name] = process
        return process

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _wait(self, name: str, url: str, timeout: float) -> None:
        process = self.processes[name]
        deadline = time.monotonic() + timeout
        print(f"  waiting for {name} at {url} ", end="", flush=True)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                print("failed")
                raise LaunchError(f"{name} exited with code {process.returncode}:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        print("ready")
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            print(".", end="", flush=True)
            time.sleep(1)
        print("timed out")
        raise LaunchError(f"{name} was not ready after {timeout:.0f} s:\n{self.log_tail(name)}")

    def internal_url(self, port: int) -> str:
        return f"http://{self.internal.reachable_internal_host}:{port}"

    def prepare_records(self) -> None:
        """Migrate the shop's records (customers, orders...) before an action server uses them."""
        url = records_url(self.db or CatalogSettings.from_env().db)
        try:
            version = backends.prepare_records(url)
        except backends.BackendError as exc:
            raise LaunchError(f"Cannot start the action server: {exc}") from None
        print(f"  shop records: schema version {version} at {backends.Backend('', url).shown}")

    def start_actions(self, timeout: float = 60, name: str = "actions", port: int | None = None) -> None:
        port = port or self.actions_port
        self.prepare_records()
        # rasa-sdk has no host option; Sanic reads SANIC_HOST (default 0.0.0.0: every interface).
        command = [str(BIN / "python"), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
        self._spawn(name, command, SANIC_HOST=self.internal_host)
        self._wait(name, f"{self.internal_url(port)}/health", timeout)

    def actions_running(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.actions_url}/health", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def start_rasa(
        self, timeout: float = 240, name: str = "rasa", port: int | None = None, actions_url: str = ""
    ) -> None:
        """Start a Rasa server (``name``, ``port``, ``actions_url`` for another replica on the same stores)."""
        if not self.model.exists():
            raise LaunchError(f"No trained model at {self.model}; run `make train`.")
        self.check_backends()
        port = port or self.rasa_port
        self._spawn(
            name,
            [
                str(BIN / "rasa"),
                "run",
                "--model",
                str(self.model),
                "--interface",
                self.internal_host,
                "--port",
                str(port),
                "--endpoints",
                str(self.endpoints_file(actions_url, f"endpoints-{name}")),
                "--credentials",
                str(ROOT / "credentials.yml"),
                # No --cors: nothing but the gateway (same machine) talks to Rasa.
                "--enable-api",
                # One argument: a random token may start with "-", which argparse reads as an option.
                f"--auth-token={self.rasa_token}",
            ],
        )
        print("  (loading the model takes a minute or two on a small machine)")
        # "/" answers once the model is loaded (Rasa loads it before it starts serving).
        self._wait(name, f"{self.internal_url(port)}/", timeout)

    def start_gateway(
        self, timeout: float = 300, name: str = "gateway", port: int | None = None, rasa_urls: str = ""
    ) -> None:
        """Start a gateway (``name``, ``port``, and the Rasa servers it spreads turns over, for a cluster)."""
        port = port or self.gateway_port
        redis_url = BotSettings.from_env().gateway_redis_url
        if redis_url:
            try:
                backends.check_redis("SHOPKEEPER_GATEWAY_REDIS_URL", redis_url)
            except backends.BackendError as exc:
                raise LaunchError(f"Cannot start the gateway: {exc}") from None
        command = [
            str(BIN / "python"),
            "-m",
            "bot.gateway",
            "--port",
            str(port),
            "--rasa-url",
            rasa_urls or self.rasa_url,
            "--actions-url",
            self.actions_url,
            "--asr-model",
            self.asr_model,
        ]
        self._spawn(name, command, SHOPKEEPER_RASA_TOKEN=self.rasa_token, SHOPKEEPER_AGENT_TOKEN=self.agent_token)
        gateway_url = f"http://localhost:{port}"
        self._wait(name, f"{gateway_url}/health", timeout)
        # The speech model loads in the background; wait so the first voice turn is not slow.
        print("  waiting for the speech model ", end="", flush=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.processes[name].poll() is None:
            try:
                with urllib.request.urlopen(f"{gateway_url}/health", timeout=5) as response:
                    asr = json.load(response)["asr"]
                if asr["ready"] or asr["error"]:
                    print("ready" if asr["ready"] else f"failed: {asr['error']} (text chat still works)")
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError):
                pass
            print(".", end="", flush=True)
            time.sleep(1)
        print("not ready yet (voice turns wait for it)")

    def start_analytics(self, timeout: float = 30) -> None:
        """The conversation-analytics consumer of the event broker (only when one is configured)."""
        self.check_backends()
        command = [str(BIN / "python"), "-m", "bot.analytics", "consume", "--broker-url", self.broker_url]
        process = self._spawn("analytics", [*command, "--tracker-url", self.trackers])
        print("  waiting for the analytics consumer ", end="", flush=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if "Counting conversation events" in self.log_tail("analytics"):
                print("ready")
                return
            time.sleep(0.5)
        print("failed")
        raise LaunchError(f"analytics did not start:\n{self.log_tail('analytics')}")

    def start(self, gateway: bool = True) -> None:
        self.check_backends()  # a wrong store setting stops the start before anything runs
        self.start_actions()
        if self.broker_url:
            self.start_analytics()
        self.start_rasa()
        if gateway:
            self.start_gateway()

    def kill(self, name: str) -> None:
        """SIGKILL one process and its children, as a crash would (for fault tests)."""
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            print(f"  stopped {name}")
        self.processes.clear()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def banner(services: Services) -> str:
    return f"""
Shopkeeper is running.
  Gateway       {services.gateway_url}  (socket.io text + voice, POST /api/transcribe, /health, /docs)
  Rasa server   {services.rasa_url}  (REST: POST /webhooks/rest/webhook, socket.io: /socket.io; HTTP API with a token)
  Actions       {services.actions_url}
  Shop database {services.env().get("SHOPKEEPER_DB", "catalog/shop.db")}
  Conversations {backends.Backend("SHOPKEEPER_TRACKER_URL", services.trackers).shown}  (kept across restarts)
  Logs          {services.log_dir}

Talk to it:
  {services.gateway_url}/  the chat in a browser (type, or press the microphone)
  {services.gateway_url}/demo  a shop page with the chat bubble
  {services.gateway_url}/agent  the staff's inbox for conversations handed to a person (token: {services.agent_token})
  on any page: <script src="{services.gateway_url}/widget.js"></script>
  python -m voice.client --url {services.gateway_url} --text "hi" --file my_question.wav
  make shell                      (a chat in this terminal; run it in a second terminal)
  curl -s {services.rasa_url}/webhooks/rest/webhook -d '{{"sender": "me", "message": "red running shoes under 100"}}'

Press Ctrl-C to stop everything.
"""


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.launcher", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["run", "shell", "cluster"])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--replicas", type=int, default=2, help="cluster: how many of each process")
    args = parser.parse_args(argv)
    services = Services(model=args.model)
    # SIGTERM (e.g. from a test or CI) stops the children the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)  # the terminal closed
    try:
        print("Starting Shopkeeper...")
        if args.mode == "shell":
            if not services.model.exists():
                raise LaunchError(f"No trained model at {services.model}; run `make train`.")
            # Beside a running `make run`: reuse its action server.
            if services.actions_running():
                print(f"  using the action server already running at {services.actions_url}")
            else:
                services.start_actions()
            # rasa shell talks to a private server of its own; any free port will do.
            services.rasa_port = free_port()
            services.check_backends()
            # `rasa shell` runs its own server on rasa_port; talk to it in this terminal.
            return subprocess.call(
                [
                    str(BIN / "rasa"),
                    "shell",
                    "--model",
                    str(services.model),
                    "--endpoints",
                    str(services.endpoints_file()),
                    "--port",
                    str(services.rasa_port),
                ],
                cwd=ROOT,
                env=services.env(),
            )
        if args.mode == "cluster":
            from bot.cluster import Cluster
            from bot.cluster import banner as cluster_banner

            cluster = Cluster(services, replicas=max(1, args.replicas))
            cluster.start(BotSettings.from_env().gateway_redis_url)
            print(cluster_banner(cluster), flush=True)
        else:
            services.start()
            print(banner(services), flush=True)
        next_prune = 0.0
        while all(p.poll() is None for p in services.processes.values()):
            if time.monotonic() >= next_prune:
                services.prune_trackers()
                next_prune = time.monotonic() + PRUNE_EVERY_S
            time.sleep(1)
        dead = [n for n, p in services.processes.items() if p.poll() is not None]
        print(f"{', '.join(dead)} stopped unexpectedly:\n{services.log_tail(dead[0])}", file=sys.stderr)
        return 1
    except LaunchError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        services.stop()


if __name__ == "__main__":
    # Run the imported module's main, so bot.cluster and this code share one LaunchError class.
    from bot.launcher import main as launcher_main

    raise SystemExit(launcher_main())
