"""The embedded store: moto's server in this process, bound to 127.0.0.1, nothing to install."""

from __future__ import annotations

from typing import Any


class EmbeddedAws:
    """An in-process DynamoDB + S3 emulation; data lives as long as the process."""

    region = "us-east-1"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # only `serve` pays for importing moto

        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def client(self, service: str) -> Any:
        from botocore.config import Config

        from batchbridge import aws

        return aws.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}),
            aws_access_key_id="embedded",
            aws_secret_access_key="embedded",
        )

    def stop(self) -> None:
        self._server.stop()
