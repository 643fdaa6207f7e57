"""RabbitMQ of the dev stack: the media workers' broker, with an Erlang port mapper of its own.

Debian's `rabbitmq-server` runs as a plain process with everything under its directory: its
database (`mnesia/`), logs, an empty plugin list and a `rabbitmq.conf` that binds AMQP and the
Erlang distribution to loopback. The node registers with an epmd on a port of its own, which
the stack starts before the node and stops after it, so a second stack on other ports never
meets this one. The user and password are those of the broker URL in the settings: RabbitMQ
creates that user, instead of `guest`, when it creates its database.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from devstack.network import HOST, port_bindable, port_open
from devstack.service import Service, ServiceError
from reelflow.settings import Settings

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
DEFAULT_PORT = 5672
# Workers acknowledge a step's message once the step is done, so a long encode holds it for
# hours; past this, RabbitMQ would close the worker's channel and deliver the step again.
CONSUMER_TIMEOUT_MS = 24 * 3600 * 1000


class Broker:
    """The parts of an AMQP URL: host, port, user, password, virtual host."""

    def __init__(self, url: str) -> None:
        parts: SplitResult = urlsplit(url)
        self.host = parts.hostname or HOST
        self.port = parts.port or DEFAULT_PORT
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        # `amqp://host//` names the virtual host "/", as does a URL without a path.
        self.vhost = unquote(parts.path[1:]) or "/"

    def login(self, user: str | None = None, password: str | None = None) -> None:
        """Open and close an AMQP connection; raises what the broker answers (AccessRefused …)."""
        import amqp

        connection = amqp.Connection(
            host=f"{self.host}:{self.port}",
            userid=self.user if user is None else user,
            password=self.password if password is None else password,
            virtual_host=self.vhost,
            connect_timeout=2,
        )
        try:
            connection.connect()
            connection.close()
        finally:
            connection.collect()


class RabbitMQ(Service):
    """A RabbitMQ node on the port of `settings.broker_url`, distribution port +1, epmd +2."""

    name = "rabbitmq"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.broker = Broker(settings.broker_url.get_secret_value())
        self.epmd = Epmd(settings, self.dir, self.port + 2)

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def dist_port(self) -> int:
        return self.port + 1

    @property
    def node(self) -> str:
        return f"reelflow-{self.port}@localhost"

    @property
    def endpoint(self) -> str:
        return f"amqp://{HOST}:{self.port}"

    def prepare(self) -> None:
        if not RABBITMQ_BIN.is_dir():
            raise ServiceError("RabbitMQ is not installed (Debian package rabbitmq-server)")
        if not port_bindable(self.dist_port):
            raise ServiceError(
                f"rabbitmq: port {HOST}:{self.dist_port} (its Erlang distribution, the broker's "
                f"port + 1) is held by another socket"
            )
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "enabled_plugins").write_text("[].\n")
        # Read instead of /etc/rabbitmq/rabbitmq-env.conf, so that only this file's settings apply.
        (self.dir / "rabbitmq-env.conf").write_text("")
        conf = self.dir / "rabbitmq.conf"
        # It holds the password.
        conf.touch(mode=0o600)
        conf.chmod(0o600)
        conf.write_text(
            RABBITMQ_CONF.format(
                host=HOST,
                port=self.port,
                dist_port=self.dist_port,
                user=self.broker.user,
                password=self.broker.password,
                vhost=self.broker.vhost,
                consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
            )
        )
        self.epmd.launch()
        self.epmd.wait_ready()

    def environment(self) -> dict[str, str]:
        return super().environment() | {
            # The Erlang cookie is written to and read from $HOME.
            "HOME": str(self.dir),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "ERL_CRASH_DUMP": str(self.dir / "log" / "erl_crash.dump"),
            # rabbitmqctl runs a short-lived Erlang node of its own: on loopback too.
            "RABBITMQ_CTL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            **self.epmd.client_environment(),
        }

    def command(self) -> list[str]:
        return [str(RABBITMQ_BIN / "rabbitmq-server")]

    def ctl(self, *args: str) -> str:
        """Run `rabbitmqctl ARGS` against this node (add_vhost, list_queues …); its output."""
        result = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "--node", self.node, *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"rabbitmqctl {shlex.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def is_ready(self) -> bool:
        if not port_open(self.port):
            return False
        import amqp

        try:
            self.broker.login()
        except (OSError, amqp.AMQPError):
            return False
        return True

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the node, then its epmd; True when either was running."""
        node_stopped = super().stop(timeout_s)
        epmd_stopped = self.epmd.stop(timeout_s)
        return node_stopped or epmd_stopped


class Epmd(Service):
    """The Erlang port mapper of the stack's RabbitMQ node, in the foreground on its own port."""

    name = "epmd"
    start_timeout_s = 10.0

    def __init__(self, settings: Settings, directory: Path, port: int) -> None:
        super().__init__(settings)
        self._dir = directory
        self._port = port

    @property
    def dir(self) -> Path:
        return self._dir

    @property
    def pid_file(self) -> Path:
        return self.dir / "epmd.pid"

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"epmd://{HOST}:{self.port}"

    def client_environment(self) -> dict[str, str]:
        """What makes an Erlang node (the broker, rabbitmqctl) use this port mapper."""
        return {"ERL_EPMD_PORT": str(self.port), "ERL_EPMD_ADDRESS": HOST}

    def command(self) -> list[str]:
        epmd = shutil.which("epmd")
        if epmd is None:
            raise ServiceError("epmd is not installed (it comes with rabbitmq-server)")
        return [epmd, "-port", str(self.port), "-address", HOST]

    def environment(self) -> dict[str, str]:
        return super().environment() | self.client_environment()

    def is_ready(self) -> bool:
        return port_open(self.port)


RABBITMQ_CONF = """\
# Written by the dev stack (devstack/rabbitmq.py) at each start.
listeners.tcp.default = {host}:{port}
distribution.listener.interface = {host}
distribution.listener.port_range.min = {dist_port}
distribution.listener.port_range.max = {dist_port}
# Created instead of `guest` when the broker creates its database.
default_vhost = {vhost}
default_user = {user}
default_pass = {password}
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
consumer_timeout = {consumer_timeout_ms}
log.file = false
log.console = true
log.console.level = info
log.console.use_colors = off
"""
