"""The records of a capture as the API serves them: one model per ``event.dataset``, derived from
the field schema (``pcaptotal.record_schema``, shared with the AsyncAPI document's flows), so a
client generated from the OpenAPI document reads every record field typed.

Records are served as the index stored them (dicts): the models declare their shape in the
OpenAPI document (``RecordDoc``, ``view_models.PAGES``) and are not run over every hit of every
answer; ``tests/integration/test_record_schema.py`` runs them over every record of the shared
captures.
"""

from __future__ import annotations

from typing import Annotated, Any

from pcaptotal.record_schema import declared_as, record_models, record_union
from pydantic import BaseModel

RECORD_MODELS: dict[str, type[BaseModel]] = record_models()
# Any record, told apart by ``event.dataset``.
Record: Any = record_union()

# A record of any kind: a plain dict to the code, the union to the OpenAPI document. (A single
# model behind ``declared_as`` is inlined by FastAPI, a second copy of the component: the pages
# of one kind, ``view_models.PAGES``, declare the model itself and their route answers JSON.)
RecordDoc = Annotated[dict[str, Any], declared_as(record_union)]
