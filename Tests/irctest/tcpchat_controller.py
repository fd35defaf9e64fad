"""irctest controller for tcpchat-server (IRC on the line protocol's port).

Used by scripts/irctest: `--controller tcpchat_controller` with this directory on PYTHONPATH.
TCPCHAT_SERVER names the binary (default: tcpchat-server on PATH).
"""
import os
import shutil
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController


class TcpchatController(BaseServerController, DirectoryBasedController):
    software_name = "tcpchat"
    supported_sasl_mechanisms: Set[str] = set()
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if ssl:
            raise NotImplementedByController("TLS")
        if run_services:
            raise NotImplementedByController("services")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        binary = os.environ.get("TCPCHAT_SERVER") or shutil.which("tcpchat-server")
        assert binary, "set TCPCHAT_SERVER to the tcpchat-server binary"
        faketime_cmd = []
        if faketime and shutil.which("faketime"):
            faketime_cmd = ["faketime", "-f", faketime]
            self.faketime_enabled = True
        self.proc = self.execute(
            [
                *faketime_cmd,
                binary,
                "--host", hostname,
                "--port", str(port),
                "--no-rate-limit",
                "--max-per-ip", "0",
                "--history", "0",
                "--server-name", "My.Little.Server",
                "--oper", "operuser:operpassword",
                *(["--password", password] if password is not None else []),
            ]
        )


def get_irctest_controller_class() -> Type[TcpchatController]:
    return TcpchatController
