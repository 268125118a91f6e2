"""The manifest format as pydantic models (manifests/schema.py): the API's field tables, the
JSON Schema they make, and what they refuse."""

from __future__ import annotations

import json

import pytest

from reconciler.core.resources import KINDS, SOURCES, SPECS
from reconciler.manifests.schema import ENTRY_MODELS, ManifestFile, ProductEntry


def test_models_match_the_api_field_tables() -> None:
    for kind in KINDS:
        fields = ENTRY_MODELS[kind].model_fields
        api_fields = tuple(name for name in fields if name != "protect")  # not sent to COR
        assert api_fields == ("id", *SPECS[kind].fields)
        assert not fields["protect"].is_required()
        required = {name for name, info in fields.items() if info.is_required()}
        assert required == {"id", *SPECS[kind].required}


def test_json_schema_describes_the_file() -> None:
    schema = ManifestFile.model_json_schema()
    json.dumps(schema)
    assert schema["required"] == ["source"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["source"]["enum"] == list(SOURCES)
    product = schema["$defs"]["ProductEntry"]
    assert product["required"] == ["id", "name", "client_id", "brand_id"]
    assert product["properties"]["description"] == {
        "description": "Free text about the product.",
        "minLength": 1,
        "title": "Description",
        "type": "string",
    }
    assert all("description" in prop for prop in product["properties"].values()), (
        "every field is documented"
    )


def test_models_refuse_null_for_an_optional_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give a value or remove the field"):
        ProductEntry.model_validate(
            {"id": "P", "name": "N", "client_id": "C", "brand_id": "B", "description": None}
        )
