"""Schemas from contracts, specs and plugins never make the pipeline fetch or read anything
(``plan_pipeline/schemas.py``)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from plan_pipeline.contract import Contract
from plan_pipeline.schemas import checks_in_linear_time
from plan_pipeline.spec import PluginSpec
from plan_pipeline.stage_runner import validate


class _Counter(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"enum": ["fetched"]}')

    def log_message(self, *args: Any) -> None:
        pass


def test_a_plugins_schema_with_a_remote_or_file_ref_fetches_and_reads_nothing(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "hostcfg.json"
    secret.write_text('{"enum": ["db-password=hunter2"]}')
    server = HTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/schema.json"
        for ref in (url, secret.as_uri()):
            schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
            problem = validate({"x": 1}, schema)
            assert problem is not None and "cannot resolve" in problem
            assert "hunter2" not in problem
    finally:
        server.shutdown()
        server.server_close()
    assert _Counter.hits == []
    # a reference inside the schema still works
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/n"}}}
    assert validate({"x": 1}, local) is None
    assert validate({"x": "a"}, local) == "at $.x: 'a' is not of type 'integer'"


@pytest.mark.parametrize("ref", ["http://127.0.0.1:9/s.json", "file:///etc/passwd", "other.json"])
def test_contracts_and_specs_refuse_a_ref_outside_the_schema(ref: str) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": ref}}}
    with pytest.raises(ValidationError, match="points outside the schema"):
        Contract(input_schema=schema)
    with pytest.raises(ValidationError, match="points outside the schema"):
        PluginSpec(capability="a.b", stage_name="s", input_schema={}, output_schema=schema)


@pytest.mark.parametrize(
    ("schema", "linear"),
    [
        ({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}}, True),
        ({"items": {"type": ["integer", "null"], "enum": [1, 2, None]}, "minItems": 1}, True),
        ({"items": {"anyOf": [{"type": "integer"}, {"enum": ["a", "b"]}]}}, False),
        ({"allOf": [{"type": "object"}]}, False),
        ({"if": {"type": "object"}, "then": {}}, False),
        ({"enum": list(range(300))}, False),
        ({"properties": {f"p{n}": {"type": "integer"} for n in range(600)}}, False),
        ({"additionalProperties": False, "uniqueItems": False}, True),
        ({"properties": {"a": {"pattern": "^(a+)+$"}}}, False),
        ({"patternProperties": {"^x": {}}}, False),
        ({"items": {"uniqueItems": True}}, False),
        ({"$defs": {"n": {}}, "$ref": "#/$defs/n"}, False),
        ({"unevaluatedProperties": False}, False),
        ({"x-unknown": 1}, False),
        ({"properties": []}, False),
    ],
)
def test_only_schemas_of_linear_keywords_without_references_check_in_linear_time(
    schema: dict[str, Any], linear: bool
) -> None:
    assert checks_in_linear_time(schema) is linear
