"""AsyncAPI 3.0 document of every event PcapTotal sends, generated from the pydantic models.

It is the contract for subscribers; ``docs/asyncapi.json`` is generated with
``python -m pcaptotal.asyncapi > docs/asyncapi.json``, a unit test keeps it in sync and another
runs the official parser (npm ``@asyncapi/parser``) over it.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic.json_schema import models_json_schema

from pcaptotal.messages import (
    EVENT_MODELS,
    MAX_BATCH_FLOWS,
    MAX_BODY_BYTES,
    MAX_RETRACTION_IDS,
    PRIVATE_KEY_PREFIX,
    SCHEMA_VERSION,
    VERDICTS,
    CaptureAnalyzed,
    CaptureFailed,
    CaptureParsed,
    CaptureStored,
    CaptureSummary,
    Envelope,
    FlowCounts,
    FlowsEnriched,
    FlowsRetracted,
    PerVerdict,
    VerdictTally,
    message_id,
)

EXCHANGE = "pcaptotal.events"
_REF = "#/components/schemas/{model}"
MAX_BODY_EXTENSION = "x-pcaptotal-max-body-bytes"

DELIVERY = f"""\
Events are JSON bodies on the durable topic exchange `{EXCHANGE}`; bind your own queue with \
routing keys (`capture.*`, `flows.enriched.malicious`, `flows.#`).

**Runs.** Every event belongs to one analysis run of one capture and carries `analysis_id` \
(uuid of the run) and `generation` (1 for the upload, +1 per re-analysis). The capture \
document (`GET /v1/captures/{{id}}`) shows the current run's `analysis_id` and `generation`.

**Delivery** is at least once. A message is republished with the same `id` when a run is \
retried (redelivery or re-drive), so `id` is the message dedupe key.

**Flows** have a stable `event.id` (`<capture_id>-<flow key>`): the same in every run of a \
capture. Dedupe flows on (`event.id`, `analysis_id`); keep, per `event.id`, the copy of the \
highest `generation`. Example: flow `<capture_id>-tcp-3` arrives in generation 1 under \
`flows.enriched.suspicious`, and in generation 2 under `flows.enriched.malicious`; a \
redelivered generation-2 batch repeats (`<capture_id>-tcp-3`, `<analysis_id of run 2>`) and \
is dropped as a duplicate.

**Retractions.** When a run gives a flow another verdict than the previous run (or no longer \
has it), `flows.retracted.<old verdict>` names its `event.id`, before the run's \
`flows.enriched` batches; a subscriber bound to one verdict removes those flows.

**Completeness.** `capture.analyzed` is the run's last event. Its `per_verdict` says, per \
verdict, how many flows and `flows.enriched` batches the run published and how many flows and \
`flows.retracted` batches it retracted: a subscriber to one verdict knows whether it has \
everything (0 batches means: nothing for this verdict in this run). Batches also carry `seq` \
(from 0) and `last`.

**Bounds.** A `flows.enriched` batch holds at most {MAX_BATCH_FLOWS} flows, a \
`flows.retracted` batch at most {MAX_RETRACTION_IDS} ids, and no message body exceeds \
{MAX_BODY_BYTES} bytes (the whole body, envelope included; `{MAX_BODY_EXTENSION}` on each \
message). A flow too large for a body on its own travels with its largest fields left out, \
named in `pcaptotal.omitted_fields`; the search API serves it whole.

**Private captures.** Every event of a private capture goes under `private.` + its routing \
key (`private.capture.analyzed`, `private.flows.enriched.<verdict>`, ...: the same messages, \
with `visibility: private` and the `owner`); the public keys (`capture.*`, `flows.#`) carry \
public captures' events only. Bind `private.#` only for a consumer trusted with every owner's \
private data.

Times are RFC 3339 in UTC ending in `Z`. Blob-store keys are internal and not in events: \
every stage derives them from `capture_id`.
"""

_SUMMARIES: dict[type[Envelope], str] = {
    CaptureStored: "A capture was accepted and stored; its analysis run starts.",
    CaptureParsed: "The capture was dissected into flows; enrichment comes next.",
    CaptureAnalyzed: "The run finished: the verdict and what each verdict's keys carried.",
    CaptureFailed: "The run failed at one stage; the error says why.",
    FlowsEnriched: "A bounded batch of enriched flows of one capture, all with one verdict.",
    FlowsRetracted: "Flows that left a verdict since the capture's previous run.",
}

_EXAMPLE_CAPTURE = "5c8f3d1e" * 8
_EXAMPLE_RUN = uuid.UUID("0b6f9a52-3c1d-4e8a-9f27-6d1c2b7e4a10")
_EXAMPLE_TIME = datetime(2026, 1, 15, 9, 30, 12, 345000, tzinfo=UTC)
_EXAMPLE_SUMMARY = CaptureSummary(
    packets=1234,
    bytes=987654,
    flows=FlowCounts(tcp=40, udp=12, other=1),
    dns_query_names=9,
    http_requests=3,
    tls_server_names=5,
)
_EXAMPLE_FLOW: dict[str, Any] = {
    "event.id": f"{_EXAMPLE_CAPTURE}-tcp-3",
    "event.dataset": "flow",
    "event.kind": "event",
    "ecs.version": "8.11.0",
    "@timestamp": "2026-01-15T09:12:44.120391Z",
    "event.start": "2026-01-15T09:12:44.120391Z",
    "pcaptotal.capture_id": _EXAMPLE_CAPTURE,
    "pcaptotal.verdict": "malicious",
    "event.risk_score": 92.0,
    "network.transport": "tcp",
    "network.protocol": ["http"],
    "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
    "source.ip": "10.0.0.5",
    "source.port": 49211,
    "destination.ip": "74.120.55.163",
    "destination.port": 80,
    "url.domain": ["update.example-c2.net"],
    "threat.enrichments": [
        {
            "indicator": {
                "name": "74.120.55.163",
                "type": "ipv4-addr",
                "provider": "demo-blocklist.txt",
                "confidence": "High",
            },
            "matched": {
                "field": "destination.ip",
                "atomic": "74.120.55.163",
                "type": "indicator_match_rule",
            },
        }
    ],
}


def _examples() -> dict[type[Envelope], Envelope]:
    run = {"capture_id": _EXAMPLE_CAPTURE, "analysis_id": _EXAMPLE_RUN, "generation": 2}
    suspicious = VerdictTally(retracted_flows=1, retraction_batches=1)
    malicious = VerdictTally(flows=1, batches=1)
    clean = VerdictTally(flows=52, batches=1)
    return {
        CaptureStored: CaptureStored(
            id=message_id(_EXAMPLE_RUN, "capture.stored"),
            time=_EXAMPLE_TIME,
            **run,
            size=987654,
            filename="infected-host.pcap",
        ),
        CaptureParsed: CaptureParsed(
            id=message_id(_EXAMPLE_RUN, "capture.parsed"),
            time=_EXAMPLE_TIME,
            **run,
            flow_count=53,
            summary=_EXAMPLE_SUMMARY,
        ),
        CaptureAnalyzed: CaptureAnalyzed(
            id=message_id(_EXAMPLE_RUN, "capture.analyzed"),
            time=_EXAMPLE_TIME,
            **run,
            summary=_EXAMPLE_SUMMARY,
            flows_indexed=53,
            verdict="malicious",
            risk_score=92.0,
            reasons=["74.120.55.163 is named by feed feodo_ipblocklist.csv (Emotet)"],
            tags=["Emotet"],
            per_verdict=PerVerdict(clean=clean, suspicious=suspicious, malicious=malicious),
        ),
        CaptureFailed: CaptureFailed(
            id=message_id(_EXAMPLE_RUN, "capture.failed"),
            time=_EXAMPLE_TIME,
            **run,
            stage="parse",
            error="tshark cannot read the capture: the file appears to be damaged or corrupt",
        ),
        FlowsEnriched: FlowsEnriched(
            id=message_id(_EXAMPLE_RUN, "flows.enriched.malicious"),
            time=_EXAMPLE_TIME,
            **run,
            verdict="malicious",
            seq=0,
            last=True,
            flows=[_EXAMPLE_FLOW],
        ),
        FlowsRetracted: FlowsRetracted(
            id=message_id(_EXAMPLE_RUN, "flows.retracted.suspicious"),
            time=_EXAMPLE_TIME,
            **run,
            verdict="suspicious",
            seq=0,
            last=True,
            event_ids=[f"{_EXAMPLE_CAPTURE}-tcp-3"],
        ),
    }


def _event_type(model: type[Envelope]) -> str:
    event_type: str = model.model_fields["type"].default
    return event_type


def _channel_address(model: type[Envelope]) -> str:
    if model in (FlowsEnriched, FlowsRetracted):
        return f"{_event_type(model)}.{{verdict}}"
    return _event_type(model)


def _channel_name(model: type[Envelope]) -> str:
    return _event_type(model).replace(".", "_")


def _description(model: type[Envelope]) -> str:
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split()) if doc else _SUMMARIES[model]


def _add_private_channel(
    channels: dict[str, Any], operations: dict[str, Any], model: type[Envelope], public: Any
) -> None:
    """``private.<address>``: the same message, for private captures' events only."""
    name, event_type = model.__name__, _event_type(model)
    channel_name = f"private_{_channel_name(model)}"
    address = f"{PRIVATE_KEY_PREFIX}{public['address']}"
    channels[channel_name] = {
        **public,
        "address": address,
        "title": f"private {event_type}",
        "description": f"Routing key of {event_type} events of private captures on "
        f"`{EXCHANGE}` (never on the public keys).",
    }
    operations[f"sendPrivate{name}"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel_name}"},
        "messages": [{"$ref": f"#/channels/{channel_name}/messages/{name}"}],
        "title": f"Send {event_type} of a private capture",
        "summary": f"PcapTotal publishes a private capture's {event_type} on `{address}`.",
        "description": _SUMMARIES[model],
        "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
    }


def build_document() -> dict[str, Any]:
    _, schema = models_json_schema([(m, "serialization") for m in EVENT_MODELS], ref_template=_REF)
    examples = _examples()
    amqp_channel = {
        "amqp": {
            "is": "routingKey",
            "exchange": {
                "name": EXCHANGE,
                "type": "topic",
                "durable": True,
                "autoDelete": False,
                "vhost": "/",
            },
            "bindingVersion": "0.3.0",
        }
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in EVENT_MODELS:
        name = model.__name__
        event_type = _event_type(model)
        address = _channel_address(model)
        channel_name = _channel_name(model)
        example = examples[model]
        messages[name] = {
            "name": name,
            "title": event_type,
            "summary": _SUMMARIES[model],
            "description": _description(model),
            "contentType": "application/json",
            "payload": {"$ref": _REF.format(model=name)},
            "correlationId": {
                "description": "the analysis run",
                "location": "$message.payload#/analysis_id",
            },
            "bindings": {
                "amqp": {
                    "messageType": event_type,
                    "bindingVersion": "0.3.0",
                }
            },
            "examples": [
                {
                    "name": f"{channel_name}_example",
                    "summary": f"A {event_type} event of a capture's second run",
                    "payload": example.model_dump(mode="json"),
                }
            ],
            MAX_BODY_EXTENSION: MAX_BODY_BYTES,
        }
        channel: dict[str, Any] = {
            "address": address,
            "title": event_type,
            "description": f"Routing key of {event_type} events on `{EXCHANGE}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": amqp_channel,
        }
        if "{verdict}" in address:
            channel["parameters"] = {
                "verdict": {
                    "enum": list(VERDICTS),
                    "description": "the flows' verdict"
                    if model is FlowsEnriched
                    else "the verdict the flows left",
                }
            }
        channels[channel_name] = channel
        _add_private_channel(channels, operations, model, channel)
        operations[f"send{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_name}"},
            "messages": [{"$ref": f"#/channels/{channel_name}/messages/{name}"}],
            "title": f"Send {event_type}",
            "summary": f"PcapTotal publishes {event_type} on `{address}`.",
            "description": _SUMMARIES[model],
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "PcapTotal events",
            "version": str(SCHEMA_VERSION),
            "description": DELIVERY,
            "tags": [{"name": "pcaptotal", "description": "packet-capture analysis events"}],
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "the broker of a deployment (PCAPTOTAL_BUS_URL)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schema.get("$defs", {})},
    }


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
