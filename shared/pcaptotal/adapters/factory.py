"""Choose adapters by URL scheme.

Bus ``memory://`` | ``amqp://``; blobs ``file:///`` | ``s3://``; index ``tantivy:///`` |
``http(s)://`` (Elasticsearch / OpenSearch).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from pcaptotal.context import Context
from pcaptotal.ports import BlobStore, Bus, Index
from pcaptotal.settings import Settings


class UnsupportedURL(ValueError):
    pass


def make_bus(url: str, settings: Settings) -> Bus:
    scheme = urlparse(url).scheme
    if scheme == "memory":
        from pcaptotal.adapters.memory_bus import MemoryBus

        return MemoryBus(max_attempts=settings.max_delivery_attempts)
    if scheme in ("amqp", "amqps"):
        from pcaptotal.adapters.rabbitmq_bus import RabbitBus

        return RabbitBus(
            url,
            exchange=settings.bus_exchange,
            max_attempts=settings.max_delivery_attempts,
            queue_prefix=settings.bus_queue_prefix,
            max_length=settings.bus_queue_max_length,
        )
    raise UnsupportedURL(
        f"PCAPTOTAL_BUS_URL: unsupported scheme {scheme!r} (use memory:// or amqp://)"
    )


def _local_path(url: str) -> Path:
    parsed = urlparse(url)
    return Path(unquote(parsed.netloc + parsed.path))


def make_blobstore(url: str, settings: Settings) -> BlobStore:
    scheme = urlparse(url).scheme
    if scheme == "file":
        from pcaptotal.adapters.file_blobstore import FileBlobStore

        return FileBlobStore(_local_path(url))
    if scheme == "s3":
        from pcaptotal.adapters.s3_blobstore import S3BlobStore

        return S3BlobStore(url)
    raise UnsupportedURL(
        f"PCAPTOTAL_BLOB_URL: unsupported scheme {scheme!r} (use file:///... or s3://...)"
    )


def make_index(url: str, settings: Settings) -> Index:
    scheme = urlparse(url).scheme
    if scheme == "tantivy":
        from pcaptotal.adapters.tantivy_index import TantivyIndex

        # as many search threads as searches may run at once (the query guard's limit)
        return TantivyIndex(_local_path(url), search_threads=settings.search_max_concurrent)
    if scheme in ("http", "https"):
        from pcaptotal.adapters.es_index import ElasticsearchIndex

        options: dict[str, object] = {}
        if settings.index_username:
            password = settings.index_password.get_secret_value()
            options["basic_auth"] = (settings.index_username, password)
        if settings.index_ca_file is not None:
            options["ca_certs"] = str(settings.index_ca_file)
        return ElasticsearchIndex(url, client_options=options)
    raise UnsupportedURL(
        f"PCAPTOTAL_INDEX_URL: unsupported scheme {scheme!r} (use tantivy:///... or http(s)://...)"
    )


def make_context(settings: Settings) -> Context:
    return Context(
        settings=settings,
        bus=make_bus(settings.bus_url, settings),
        blobs=make_blobstore(settings.resolved_blob_url(), settings),
        index=make_index(settings.resolved_index_url(), settings),
    )


async def start_context(ctx: Context) -> None:
    await ctx.blobs.start()
    await ctx.index.start()
    await ctx.bus.start()


async def close_context(ctx: Context) -> None:
    await ctx.bus.close()
    await ctx.index.close()
    await ctx.blobs.close()
