"""Configuration from the environment (prefix ``PCAPTOTAL_``), built in main()/lifespan only."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PCAPTOTAL_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"), description="where the embedded default keeps data"
    )
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    bus_url: str = Field(default="memory://", description="amqp://... or memory://")
    blob_url: str = Field(
        default="", description="s3://... or file:///...; default <data_dir>/blobs"
    )
    index_url: str = Field(
        default="", description="http(s)://... or tantivy:///...; default <data_dir>/index"
    )
    max_upload_bytes: int = Field(
        default=512 * MIB, description="largest accepted capture (decompressed)"
    )
    parse_timeout_s: float = Field(
        default=900.0, description="wall-clock limit for one capture's parse"
    )
    tshark_path: str = "tshark"
    tshark_memory_limit_mb: int = Field(default=4096, description="address-space limit per tshark")
    max_delivery_attempts: int = Field(
        default=3, description="tries before a message is dead-lettered"
    )
    log_level: str = "INFO"

    def resolved_blob_url(self) -> str:
        return self.blob_url or (self.data_dir.resolve() / "blobs").as_uri()

    def resolved_index_url(self) -> str:
        return self.index_url or "tantivy://" + str(self.data_dir.resolve() / "index")

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir.resolve() / "tmp"
