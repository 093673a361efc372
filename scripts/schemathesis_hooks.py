"""Schemathesis hooks: rules of the API that JSON Schema cannot state.

A generated case that breaks one of them is not "schema-valid data the server must accept": the
server refuses it with 400 and a message naming the rule (tested in the Rust suite), so positive
cases that break it are dropped here rather than reported as rejected valid data. Negative cases
are kept: the server must still refuse them.
"""

import schemathesis

# Answer keys the lead form always has; a custom field may not reuse them (`src/domain/lead.rs`).
RESERVED_LEAD_KEYS = {"name", "email", "phone"}


def _custom_field_keys(body):
    """The custom field keys of a chatbot configuration body, or [] when it has none."""
    if not isinstance(body, dict):
        return []
    config = body.get("config")
    form = config.get("leadForm") if isinstance(config, dict) else None
    fields = form.get("customFields") if isinstance(form, dict) else None
    if not isinstance(fields, list):
        return []
    return [field.get("key") for field in fields if isinstance(field, dict)]


@schemathesis.hook("filter_case").apply_to(method="POST", path="/api/products/chatbot/configure")
def lead_form_keys_distinct_and_unreserved(context, case):
    """Custom field keys must be distinct and must not be name, email or phone."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return True
    keys = [key for key in _custom_field_keys(case.body) if isinstance(key, str)]
    return len(keys) == len(set(keys)) and not RESERVED_LEAD_KEYS.intersection(keys)
