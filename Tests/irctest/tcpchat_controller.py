"""irctest controller for tcpchat-server (IRC on the line protocol's port).

Used by scripts/irctest: `--controller tcpchat_controller` with this directory on PYTHONPATH.
TCPCHAT_SERVER names the binary (default: tcpchat-server on PATH).
"""
import hashlib
import os
import shutil
import sqlite3
import time
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController


class TcpchatController(BaseServerController, DirectoryBasedController):
    software_name = "tcpchat"
    supported_sasl_mechanisms: Set[str] = {"PLAIN"}
    supports_sts = False
    accounts: Optional[str] = None

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
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        # Services (SASL, NickServ): the server's own accounts, in SQLite in the test's directory.
        self.accounts = os.path.join(self.directory, "accounts.db") if run_services else None
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
                *(["--accounts", self.accounts, "--registrations-per-hour", "0"] if self.accounts else []),
            ]
        )

    def wait_for_services(self) -> None:
        pass  # the accounts are the server's own: up when it is

    def registerUser(self, case, username: str, password: Optional[str] = None) -> None:
        """Writes the account into the server's database, as /register would (scrypt with a
        fresh salt): irctest's passwords ("sesame") are shorter than the 8 characters
        /register asks for. key and skeleton are the lowercased nick (Names.key; the skeleton
        is the key until branch ident's UTS #39 skeletons land)."""
        assert self.accounts and password is not None, "registerUser needs run_services and a password"
        self.wait_for_port()  # the server has created the database by the time it listens
        salt = os.urandom(16)
        n, r, p = 1 << 10, 8, 1
        digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
        key = username.lower()
        with sqlite3.connect(self.accounts, timeout=30) as db:
            db.execute("INSERT INTO accounts (key, name, skeleton, created, kdf, n, r, p, salt, hash) "
                       "VALUES (?, ?, ?, ?, 'scrypt', ?, ?, ?, ?, ?)",
                       (key, username, key, int(time.time()), n, r, p, salt, digest))


def get_irctest_controller_class() -> Type[TcpchatController]:
    return TcpchatController
