//! Completes the generated OpenAPI document with what holds for every route, so that it
//! describes the server exactly (schemathesis checks the server against it):
//! - errors are `application/problem+json`;
//! - every route may answer 401 / 403 (auth), routes with a body 400 / 415, routes with
//!   parameters 400, routes on an `{id}` 404;
//! - auth is optional: loopback clients need no token when none is configured;
//! - ids carry their patterns (`<protocol>:<native id>`, URL-safe names).

use serde_json::{json, Map, Value};

/// `<protocol>:<native id>` without control characters, as `DeviceId::parse` accepts it.
pub const DEVICE_ID_PATTERN: &str = "^(lwm2m|tr069|omadm):[^\\u0000-\\u001F\\u007F-\\u009F]+$";
/// Group and rule ids.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn id_schema(path: &str) -> Option<Value> {
    if path.starts_with("/api/v1/devices/{id}") {
        Some(json!({"type": "string", "pattern": DEVICE_ID_PATTERN, "maxLength": 256}))
    } else if path.starts_with("/api/v1/groups/{id}") || path.starts_with("/api/v1/rules/{id}") {
        Some(json!({"type": "string", "pattern": NAME_PATTERN}))
    } else {
        None
    }
}

fn complete_operation(path: &str, op: &mut Map<String, Value>) {
    let has_body = op.contains_key("requestBody");
    let params = op.get("parameters").and_then(Value::as_array).map_or(0, Vec::len);
    if let Some(Value::Array(ps)) = op.get_mut("parameters") {
        for p in ps {
            if p["in"] == "path" && p["name"] == "id" {
                if let Some(s) = id_schema(path) {
                    p["schema"] = s;
                }
            }
            if p["in"] == "query" && p["name"] == "device" {
                p["schema"] = json!({"type": ["string", "null"], "pattern": DEVICE_ID_PATTERN, "maxLength": 256});
            }
        }
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for r in responses.values_mut() {
        if let Some(content) = r.get_mut("content").and_then(Value::as_object_mut) {
            let is_problem =
                content.get("application/json").is_some_and(|c| c["schema"]["$ref"] == "#/components/schemas/Problem");
            if is_problem {
                if let Some(c) = content.remove("application/json") {
                    content.insert("application/problem+json".into(), c);
                }
            }
        }
    }
    let mut add = |code: &str, what: &str| {
        responses.entry(code.to_owned()).or_insert_with(|| problem(what));
    };
    add("401", "A token is configured and the request did not carry it");
    add("403", "No token is configured and the client is not on loopback");
    if has_body {
        add("400", "The body is malformed; `field` names the culprit");
        add("415", "The body is not application/json");
    }
    if params > 0 {
        add("400", "A parameter is malformed; `field` names it");
    }
    if path.contains("{id}") {
        add("404", "No such resource");
    }
}

/// Applies the rules above to a generated document.
pub fn complete(mut doc: Value) -> Value {
    doc["security"] = json!([{}, {"bearer": []}]);
    if let Some(s) = doc.pointer_mut("/components/schemas/DeviceId") {
        s["pattern"] = json!(DEVICE_ID_PATTERN);
        s["maxLength"] = json!(256);
    }
    for name in ["/components/schemas/Group/properties/id", "/components/schemas/Rule/properties/id"] {
        if let Some(s) = doc.pointer_mut(name) {
            s["pattern"] = json!(NAME_PATTERN);
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                if matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                    if let Some(op) = op.as_object_mut() {
                        complete_operation(path, op);
                    }
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_move_to_problem_json_and_common_errors_are_added() {
        let doc = json!({"paths": {"/api/v1/devices/{id}/reboot": {"post": {
            "parameters": [{"name": "id", "in": "path", "schema": {"type": "string"}}],
            "requestBody": {},
            "responses": {"404": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
        }}}});
        let out = complete(doc);
        let op = &out["paths"]["/api/v1/devices/{id}/reboot"]["post"];
        assert!(op["responses"]["404"]["content"]["application/problem+json"].is_object());
        for code in ["400", "401", "403", "415"] {
            assert!(op["responses"][code].is_object(), "{code}");
        }
        assert_eq!(op["parameters"][0]["schema"]["pattern"], DEVICE_ID_PATTERN);
        assert_eq!(out["security"], json!([{}, {"bearer": []}]));
    }
}
