"""The manifest format as pydantic v2 models: the one source of its rules and of its JSON Schema.

Part of the manifests edge; imports pydantic and core values, never yaml. `problems.py` asks the
models what is wrong with an entry or a file that does not plainly fit (`fields.py`), so they
are imported only then, and by `reconciler schema`. `manifest_json_schema()` is the JSON Schema
of the format (docs/manifest.schema.json).

Every field value is a non-empty string (strict: no number, boolean or date is coerced). An
optional field is either absent or a non-empty string; `None` is never a valid value. Ids and
references follow `core.text.id_problem`, other text `core.text.text_problem` (a description
may hold newlines and tabs): `fields.value_problem`, the rule the reader's fast path applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from reconciler.core.resources import Kind, Source
from reconciler.manifests.fields import value_problem


def _rule(field: str) -> Callable[[str], str]:
    """The check of `field`'s values (any field of its kind: an id, a name, a description)."""

    def check(value: str) -> str:
        problem = value_problem(field, value)
        if problem is not None:
            raise PydanticCustomError("text_rule", "{problem}", {"problem": problem})
        return value

    return check


Id = Annotated[str, Field(min_length=1), AfterValidator(_rule("id"))]
Text = Annotated[str, Field(min_length=1), AfterValidator(_rule("name"))]
LongText = Annotated[str, Field(min_length=1), AfterValidator(_rule("description"))]


def _drop_default(schema: dict[str, Any]) -> None:
    # An optional field is absent or a string; `"default": null` would suggest null is allowed.
    schema.pop("default", None)


def _optional(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra=_drop_default)


_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True)
_ID_DOC = (
    "The entity's external id: yours, unique per kind and source, a string (quote digits: "
    '"00123"). It never changes; a new id means a new entity.'
)
_CLIENT_REF_DOC = "External id of a client declared (in any file) with the same source."


class _Entry(BaseModel):
    model_config = _MODEL_CONFIG

    id: Id = Field(description=_ID_DOC)
    name: Text = Field(description="Display name in COR.")
    protect: StrictBool | SkipJsonSchema[None] = Field(
        default=None,
        description="true: never deleted by a prune while the state records it protected; "
        "declare false and apply before removing the entry. Not sent to COR.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _reject_none(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("empty_value", "give a value or remove the field")
        return value


class ClientEntry(_Entry):
    """A client (an account of the agency): POST /v2/integrations/clients."""

    business_name: Text | SkipJsonSchema[None] = _optional("Legal or business name.")
    email_contact: Text | SkipJsonSchema[None] = _optional("Contact e-mail address.")
    name_contact: Text | SkipJsonSchema[None] = _optional("Contact's first name.")
    last_name_contact: Text | SkipJsonSchema[None] = _optional("Contact's last name.")
    phone: Text | SkipJsonSchema[None] = _optional("Contact phone number.")
    website: Text | SkipJsonSchema[None] = _optional("Website URL.")
    description: LongText | SkipJsonSchema[None] = _optional("Free text about the client.")


class BrandEntry(_Entry):
    """A brand of a client: POST /v2/integrations/brands. A brand cannot move to another client."""

    client_id: Id = Field(description=_CLIENT_REF_DOC)


class ProductEntry(_Entry):
    """A product of a client's brand: POST /v2/integrations/products."""

    client_id: Id = Field(description=_CLIENT_REF_DOC + " Must be the brand's client.")
    brand_id: Id = Field(
        description="External id of a brand declared (in any file) with the same source."
    )
    description: LongText | SkipJsonSchema[None] = _optional("Free text about the product.")


class ManifestFile(BaseModel):
    """One manifest file: the source its entities belong to, and the entities it declares."""

    model_config = _MODEL_CONFIG

    source: Source = Field(
        description="The integration source (exact spelling); identity is (kind, source, id)."
    )
    clients: list[ClientEntry] = Field(default_factory=list, description="Clients to declare.")
    brands: list[BrandEntry] = Field(default_factory=list, description="Brands to declare.")
    products: list[ProductEntry] = Field(default_factory=list, description="Products to declare.")


ENTRY_MODELS: Mapping[Kind, type[BaseModel]] = {
    Kind.CLIENT: ClientEntry,
    Kind.BRAND: BrandEntry,
    Kind.PRODUCT: ProductEntry,
}


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest file, generated from the models (one source of truth),
    for editors (yaml-language-server) and other tools. `reconciler schema` prints it."""
    schema = ManifestFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
