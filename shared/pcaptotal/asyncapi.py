"""AsyncAPI 3.0 document of every event, generated from the pydantic models.

It is the contract for internal subscribers; ``docs/asyncapi.json`` is generated with
``python -m pcaptotal.asyncapi > docs/asyncapi.json`` and a test keeps it in sync.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic.json_schema import models_json_schema

from pcaptotal.messages import EVENT_MODELS, SCHEMA_VERSION, Envelope, FlowsEnriched

EXCHANGE = "pcaptotal.events"
_REF = "#/components/schemas/{model}"


def _channel_address(model: type[Envelope]) -> str:
    event_type: str = model.model_fields["type"].default
    return "flows.enriched.{verdict}" if model is FlowsEnriched else event_type


def build_document() -> dict[str, Any]:
    _, schema = models_json_schema([(m, "serialization") for m in EVENT_MODELS], ref_template=_REF)
    amqp_binding = {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False},
            "bindingVersion": "0.3.0",
        }
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in EVENT_MODELS:
        name = model.__name__
        address = _channel_address(model)
        messages[name] = {
            "name": name,
            "title": model.model_fields["type"].default,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": "application/json",
            "payload": {"$ref": _REF.format(model=name)},
            "bindings": {"amqp": {"messageType": model.model_fields["type"].default}},
        }
        channel: dict[str, Any] = {
            "address": address,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": amqp_binding,
        }
        if model is FlowsEnriched:
            channel["parameters"] = {
                "verdict": {"enum": ["clean", "suspicious", "malicious"]},
            }
        channels[address] = channel
        operations[f"receive{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{address.replace('/', '~1')}"},
            "summary": f"Subscribe to {address} on the {EXCHANGE} topic exchange.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PcapTotal events",
            "version": str(SCHEMA_VERSION),
            "description": (
                f"Events on the durable topic exchange `{EXCHANGE}`. Bind your own queue with a "
                "routing key (e.g. `flows.enriched.malicious`, `capture.*`). JSON bodies; the "
                "envelope's `id` is also the AMQP message_id."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {"host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schema.get("$defs", {})},
    }


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
