#!/usr/bin/env python3
"""Deploy the KeepCall server C the way a vendor would: gunicorn (the application
container) on a unix socket, nginx (the reverse proxy) in front of it.

    python3 tests/independent/server_c_deploy.py --host 127.0.0.1 --port 0

When both are up and answering, prints one JSON line on stdout:
    {"api": ..., "control": ..., "apiKey": ..., "openApiKey": ..., "username": ..., "password": ...}
SIGTERM / SIGINT: stops nginx and gunicorn, removes the temporary directory, exits 0.
Exit 2 (one line on stderr) when nginx or gunicorn is missing; exit 1 on other start failures.
"""

from __future__ import annotations

import argparse
import grp
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
CONTROL_PATH = "/keepcall-control"


def find_gunicorn() -> list[str] | None:
    override = os.environ.get("KEEPCALL_GUNICORN")
    if override is not None:
        return [override] if os.access(override, os.X_OK) else None
    try:
        import gunicorn  # noqa: F401
        return [sys.executable, "-m", "gunicorn"]
    except ImportError:
        pass
    venv = os.path.join(REPO_ROOT, ".venv-c", "bin", "gunicorn")
    if os.access(venv, os.X_OK):
        return [venv]
    found = shutil.which("gunicorn")
    return [found] if found else None


def find_nginx() -> str | None:
    override = os.environ.get("KEEPCALL_NGINX")
    if override is not None:
        return override if os.access(override, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(p, os.X_OK):
            return p
    return None


NGINX_CONF = """\
{user_line}
worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;

events {{
    worker_connections 512;
}}

http {{
    access_log off;
    server_tokens off;
    default_type application/octet-stream;

    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    large_client_header_buffers 4 8k;
    client_max_body_size 64k;
    keepalive_timeout 65s;
    keepalive_requests 1000;

    upstream keepcall_container {{
        server unix:{sock};
        keepalive 8;
    }}

    server {{
        listen {listen};
        server_name _;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 30s;
        proxy_redirect off;

        location /verba/ {{
            proxy_pass http://keepcall_container;
        }}
        location = {control} {{
            proxy_pass http://keepcall_container;
        }}
        location {control}/ {{
            proxy_pass http://keepcall_container;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


class Deployment:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.tmp = tempfile.mkdtemp(prefix="keepcall-c-")
        self.sock = os.path.join(self.tmp, "gunicorn.sock")
        self.instance = secrets.token_hex(8)
        self.gunicorn: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.creds = {
            "apiKey": str(uuid.uuid4()),
            "openApiKey": str(uuid.uuid4()),
            "username": "apiadmin",
            "password": "Pw-" + secrets.token_urlsafe(12),
        }

    # ---------------------------------------------------------------- gunicorn
    def start_gunicorn(self, cmd: list[str]) -> None:
        env = dict(os.environ)
        env.update({
            "KEEPCALL_API_KEY": self.creds["apiKey"],
            "KEEPCALL_OPEN_API_KEY": self.creds["openApiKey"],
            "KEEPCALL_USERNAME": self.creds["username"],
            "KEEPCALL_PASSWORD": self.creds["password"],
            "KEEPCALL_CONTROL": "1",
            "KEEPCALL_CONTROL_PATH": CONTROL_PATH,
            "KEEPCALL_INSTANCE": self.instance,
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        args = cmd + [
            "--bind", f"unix:{self.sock}",
            "--workers", "1",
            "--worker-class", "gthread",
            "--threads", "4",
            "--limit-request-line", "4094",
            "--limit-request-fields", "100",
            "--limit-request-field_size", "8190",
            "--timeout", "30",
            "--graceful-timeout", "5",
            "--keep-alive", "5",
            "--chdir", HERE,
            "--pid", os.path.join(self.tmp, "gunicorn.pid"),
            "--error-logfile", os.path.join(self.tmp, "gunicorn.log"),
            "--worker-tmp-dir", self.tmp,
            "server_c:application",
        ]
        log = open(os.path.join(self.tmp, "gunicorn.out"), "wb")
        self.gunicorn = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.gunicorn.poll() is not None:
                raise RuntimeError("gunicorn exited during start-up:\n" + self._tail("gunicorn.out")
                                   + self._tail("gunicorn.log"))
            if os.path.exists(self.sock):
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.sock)
                    s.close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("gunicorn did not open its socket in time")

    # ---------------------------------------------------------------- nginx
    def _listen(self, port: int) -> str:
        h = self.host
        if ":" in h and not h.startswith("["):
            h = f"[{h}]"
        return f"{h}:{port}"

    def _listening_socket(self) -> socket.socket:
        """The proxy's listening socket, bound here (port 0: the kernel picks a free one) and
        handed to nginx, which takes inherited sockets from the NGINX environment variable:
        no port is bound and released to choose one, so none can be taken in between."""
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_STREAM)
        try:
            sock.bind((self.host.strip("[]"), self.port))
            sock.listen(512)
        except OSError:
            sock.close()
            raise
        sock.set_inheritable(True)
        return sock

    def start_nginx(self, nginx: str) -> None:
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.tmp, sub), exist_ok=True)
        user_line = ""
        if os.geteuid() == 0:
            # run the workers as the current user, not nginx's default "nobody"
            user_line = f"user {pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name};"
        listener = self._listening_socket()
        port = listener.getsockname()[1]
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user_line=user_line, tmp=self.tmp, sock=self.sock,
                                      listen=self._listen(port), control=CONTROL_PATH))
        errpath = os.path.join(self.tmp, "nginx.stderr")
        err = open(errpath, "wb")
        env = {**os.environ, "NGINX": f"{listener.fileno()};"}
        try:
            self.nginx = subprocess.Popen(
                [nginx, "-p", self.tmp + "/", "-e", os.path.join(self.tmp, "nginx-startup.log"),
                 "-c", conf],
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, env=env,
                pass_fds=(listener.fileno(),), start_new_session=True)
        finally:
            err.close()
            listener.close()  # nginx holds it now
        if self._wait_nginx(port) == "up":
            self.port = port
            return
        text = self._tail("nginx.stderr") + self._tail("nginx-error.log") + self._tail("nginx-startup.log")
        raise RuntimeError("nginx failed to start:\n" + text)

    def _wait_nginx(self, port: int) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                return "exited"
            text = self._tail("nginx.stderr") + self._tail("nginx-error.log")
            if "Address already in use" in text or "[emerg]" in text:
                return "failed"
            try:
                conn = http.client.HTTPConnection(self.host.strip("[]"), port, timeout=2)
                conn.request("GET", CONTROL_PATH)
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                # the answer must come from *this* deployment, not from whoever holds the port
                if resp.status == 200 and json.loads(body).get("instance") == self.instance:
                    return "up"
            except (OSError, ValueError, AttributeError):
                pass
            time.sleep(0.1)
        return "timeout"

    # ---------------------------------------------------------------- shutdown
    def _tail(self, name: str) -> str:
        try:
            with open(os.path.join(self.tmp, name), "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    @staticmethod
    def _stop(proc: subprocess.Popen | None, sig: int, wait: float) -> None:
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        # whatever is left of the process group this launcher started (workers)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def shutdown(self) -> None:
        self._stop(self.nginx, signal.SIGQUIT, 10)       # graceful: finish open requests
        self.nginx = None
        self._stop(self.gunicorn, signal.SIGTERM, 10)    # graceful worker shutdown
        self.gunicorn = None
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    nginx = find_nginx()
    if nginx is None:
        print("server_c_deploy: nginx is missing (install Debian's nginx package)", file=sys.stderr)
        return 2
    gunicorn = find_gunicorn()
    if gunicorn is None:
        print("server_c_deploy: gunicorn is missing (pip install gunicorn, e.g. into .venv-c)", file=sys.stderr)
        return 2

    stop = {"sig": None}

    def on_signal(signum, _frame):
        stop["sig"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    dep = Deployment(args.host, args.port)
    try:
        dep.start_gunicorn(gunicorn)
        if stop["sig"] is None:
            dep.start_nginx(nginx)
    except Exception as e:  # start failure
        dep.shutdown()
        if stop["sig"] is not None:
            return 0
        print(f"server_c_deploy: {e}", file=sys.stderr)
        return 1
    if stop["sig"] is not None:
        dep.shutdown()
        return 0

    host = args.host if ":" not in args.host else f"[{args.host.strip('[]')}]"
    base = f"http://{host}:{dep.port}"
    info = {"api": f"{base}/verba/api", "control": f"{base}{CONTROL_PATH}", **dep.creds}
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()

    rc = 0
    while stop["sig"] is None:
        if dep.nginx.poll() is not None or dep.gunicorn.poll() is not None:
            which = "nginx" if dep.nginx.poll() is not None else "gunicorn"
            print(f"server_c_deploy: {which} exited unexpectedly", file=sys.stderr)
            rc = 1
            break
        time.sleep(0.2)
    dep.shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
