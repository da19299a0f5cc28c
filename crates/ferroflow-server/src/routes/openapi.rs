//! `GET /api/openapi.json`: an OpenAPI 3.1 document of the REST API, generated at run time
//! from the auth rules table (`auth/rules.rs`), which a test keeps equal to the route table:
//! every route, its methods, its path parameters, a JSON body for writes, and MLflow's error
//! shape. It does not describe each message's fields (those are `ferroflow-proto`'s serde
//! structs, which carry no schema); it is enough to list, call and fuzz every operation.

use crate::auth::rules::{Api, RULES};
use axum::Json;
use serde_json::{json, Map, Value};

fn root(api: Api) -> &'static str {
    match api {
        Api::Root => "",
        Api::V2 => "/api/2.0/mlflow",
        Api::V3 => "/api/3.0/mlflow",
        Api::Artifacts => "/api/2.0/mlflow-artifacts",
    }
}

/// The document, built from [`RULES`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for &(api, method, template, _) in RULES {
        // OpenAPI has no catch-all segment: `{*path}` is written `{path}`.
        let path = format!("{}{}", root(api), template.replace("{*", "{"));
        let parameters: Vec<Value> = template
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name.trim_start_matches('*'), "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let mut operation = json!({
            "operationId": format!("{}{}", method.to_ascii_lowercase(), path.replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": parameters,
            "responses": {
                "200": {"description": "Success"},
                "default": {
                    "description": "An error in MLflow's shape",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        });
        if method != "GET" && api != Api::Artifacts && template != "/v1/traces" && template != "/login" {
            operation["requestBody"] = json!({
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method.to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ferroflow REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "MLflow's REST API as ferroflow serves it (and the same paths under /ajax-api).",
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
    })
}

pub async fn openapi() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_in_the_document() {
        let doc = super::document();
        let paths = doc["paths"].as_object().unwrap();
        let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(operations, super::RULES.len());
        assert!(paths["/api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}"]["patch"].is_object());
        assert_eq!(paths["/api/2.0/mlflow-artifacts/artifacts/{path}"]["put"]["parameters"][0]["name"], "path");
        assert!(paths["/api/2.0/mlflow/runs/create"]["post"]["requestBody"].is_object());
    }
}
