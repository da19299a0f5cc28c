//! What every route needs, in one table: [`RULES`] names each route (its API root, method and
//! path as `routes/mod.rs` writes it) and the [`Rule`] the middleware enforces before the
//! handler runs. A test reads the route table and fails on a route without an entry, so a new
//! route cannot slip through unguarded. The levels follow MLflow's auth app: reads need READ,
//! writes EDIT (`Need::Update`), deletes and restores MANAGE (`Need::Delete`).

use ferroflow_core::auth::Need;

/// Where a route lives: its prefix (`/api/2.0/mlflow`, …; `/ajax-api/…` alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Root,
    V2,
    V3,
    Artifacts,
}

/// How to find the experiment a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locate {
    /// An experiment id parameter.
    Id(&'static str),
    /// An experiment id parameter that may be absent (then no check).
    OptionalId(&'static str),
    /// `experiment_name`.
    Name,
    /// A list of experiment ids: each must allow, and the list may not be empty.
    Each(&'static str),
    /// The run named by `run_id` (or `run_uuid`).
    Run,
    /// The trace in the path (`{trace_id}`) or in this parameter.
    Trace(&'static str),
    /// Every trace of a list parameter.
    Traces(&'static str),
    /// `trace.trace_info.trace_location.mlflow_experiment.experiment_id` of StartTraceV3.
    NewTrace,
    /// Trace searches: `locations[].mlflow_experiment.experiment_id` and `experiment_ids`.
    TraceLocations,
    /// The logged model in the path.
    LoggedModel,
    /// The issue in the path.
    Issue,
    /// Every experiment the dataset in the path belongs to (none: refused).
    Dataset,
    /// The dataset in the path and every experiment of `experiment_ids` (adding it to them).
    DatasetAndEach(&'static str),
    /// The experiment id that opens an artifact path (`<experiment_id>/…`): the path in the
    /// URL, or the `path` parameter of the listing.
    ArtifactPath,
    /// The `x-mlflow-experiment-id` header of an OTLP export.
    Header,
}

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// No credentials asked (health, server-info).
    Public,
    /// Any signed-in user.
    Authenticated,
    /// Admins only.
    Admin,
    /// The user named by `username`, or an admin.
    SelfOrAdmin,
    /// A permission on an experiment.
    Experiment(Need, Locate),
    /// A permission on the registered model (or prompt) named by `name`.
    RegisteredModel(Need),
    /// MANAGE on the resource of a grant or revoke (`resource_type`, `resource_id`).
    ManageResource,
    /// Role administration: admins, or admins of the workspace the request's role (by
    /// `role_id` or `role_permission_id`) or `workspace` is in.
    ManageRoles,
    /// Reading a role: admins, or users holding a role in its workspace.
    ViewRoles,
    /// Listing roles: admins, or users holding a role in every `workspace` asked for.
    ListRoles,
    /// One user's roles: admins, the user, or an admin of a workspace the user has a role in.
    ViewUserRoles,
}

use Api::*;
use Locate::*;
use Need::{Delete, Read, Update};
use Rule::*;

/// Every route and what it needs.
pub const RULES: &[(Api, &str, &str, Rule)] = &[
    (Root, "GET", "/health", Public),
    (Root, "GET", "/version", Authenticated),
    (Root, "POST", "/v1/traces", Experiment(Update, Header)),
    (Root, "GET", "/get-artifact", Experiment(Read, Run)),
    (Root, "GET", "/api/openapi.json", Public),
    // the web UI's sign-in and sign-out
    (Root, "GET", "/login", Public),
    (Root, "POST", "/login", Public),
    (Root, "GET", "/logout", Authenticated),
    (Root, "POST", "/logout", Authenticated),
    // experiments
    (V2, "GET", "/experiments/get-by-name", Experiment(Read, Name)),
    (V2, "POST", "/experiments/create", Authenticated),
    (V2, "GET", "/experiments/get", Experiment(Read, Id("experiment_id"))),
    (V2, "POST", "/experiments/search", Authenticated),
    (V2, "GET", "/experiments/search", Authenticated),
    (V2, "POST", "/experiments/update", Experiment(Update, Id("experiment_id"))),
    (V2, "POST", "/experiments/delete", Experiment(Delete, Id("experiment_id"))),
    (V2, "POST", "/experiments/restore", Experiment(Delete, Id("experiment_id"))),
    (V2, "POST", "/experiments/set-experiment-tag", Experiment(Update, Id("experiment_id"))),
    (V2, "POST", "/experiments/delete-experiment-tag", Experiment(Update, Id("experiment_id"))),
    // runs
    (V2, "POST", "/runs/create", Experiment(Update, Id("experiment_id"))),
    (V2, "GET", "/runs/get", Experiment(Read, Run)),
    (V2, "POST", "/runs/update", Experiment(Update, Run)),
    (V2, "POST", "/runs/delete", Experiment(Delete, Run)),
    (V2, "POST", "/runs/restore", Experiment(Delete, Run)),
    (V2, "POST", "/runs/log-metric", Experiment(Update, Run)),
    (V2, "POST", "/runs/log-parameter", Experiment(Update, Run)),
    (V2, "POST", "/runs/set-tag", Experiment(Update, Run)),
    (V2, "POST", "/runs/delete-tag", Experiment(Update, Run)),
    (V2, "POST", "/runs/log-batch", Experiment(Update, Run)),
    (V2, "POST", "/runs/search", Authenticated),
    (V2, "GET", "/runs/search", Authenticated),
    (V2, "POST", "/runs/log-inputs", Experiment(Update, Run)),
    (V2, "POST", "/runs/outputs", Experiment(Update, Run)),
    (V2, "GET", "/metrics/get-history", Experiment(Read, Run)),
    (V2, "GET", "/artifacts/list", Experiment(Read, Run)),
    // traces (v2 paths; StartTrace, EndTrace and GetTraceInfo are the routes of 3.0-3.3 clients)
    (V2, "POST", "/traces", Experiment(Update, Id("experiment_id"))),
    (V2, "PATCH", "/traces/{trace_id}", Experiment(Update, Trace("trace_id"))),
    (V2, "GET", "/traces/{trace_id}/info", Experiment(Read, Trace("trace_id"))),
    (V2, "PATCH", "/traces/{trace_id}/tags", Experiment(Update, Trace("trace_id"))),
    (V2, "DELETE", "/traces/{trace_id}/tags", Experiment(Update, Trace("trace_id"))),
    (V2, "POST", "/traces/delete-traces", Experiment(Delete, Id("experiment_id"))),
    (V2, "POST", "/traces/link-to-run", Experiment(Update, Run)),
    (V2, "POST", "/traces/link-prompts", Experiment(Update, Trace("trace_id"))),
    // registered models and prompts
    (V2, "POST", "/registered-models/create", Authenticated),
    (V2, "GET", "/registered-models/get", RegisteredModel(Read)),
    (V2, "PATCH", "/registered-models/update", RegisteredModel(Update)),
    (V2, "POST", "/registered-models/rename", RegisteredModel(Update)),
    (V2, "DELETE", "/registered-models/delete", RegisteredModel(Delete)),
    (V2, "GET", "/registered-models/search", Authenticated),
    (V2, "POST", "/registered-models/search", Authenticated),
    (V2, "POST", "/registered-models/get-latest-versions", RegisteredModel(Read)),
    (V2, "GET", "/registered-models/get-latest-versions", RegisteredModel(Read)),
    (V2, "POST", "/registered-models/set-tag", RegisteredModel(Update)),
    (V2, "DELETE", "/registered-models/delete-tag", RegisteredModel(Update)),
    (V2, "POST", "/registered-models/alias", RegisteredModel(Update)),
    (V2, "DELETE", "/registered-models/alias", RegisteredModel(Update)),
    (V2, "GET", "/registered-models/alias", RegisteredModel(Read)),
    (V2, "POST", "/model-versions/create", RegisteredModel(Update)),
    (V2, "GET", "/model-versions/get", RegisteredModel(Read)),
    (V2, "PATCH", "/model-versions/update", RegisteredModel(Update)),
    (V2, "DELETE", "/model-versions/delete", RegisteredModel(Delete)),
    (V2, "GET", "/model-versions/search", Authenticated),
    (V2, "POST", "/model-versions/search", Authenticated),
    (V2, "GET", "/model-versions/get-download-uri", RegisteredModel(Read)),
    (V2, "POST", "/model-versions/set-tag", RegisteredModel(Update)),
    (V2, "DELETE", "/model-versions/delete-tag", RegisteredModel(Delete)),
    (V2, "POST", "/model-versions/transition-stage", RegisteredModel(Update)),
    // logged models
    (V2, "POST", "/logged-models", Experiment(Update, Id("experiment_id"))),
    (V2, "POST", "/logged-models/search", Authenticated),
    (V2, "GET", "/logged-models/{model_id}", Experiment(Read, LoggedModel)),
    (V2, "PATCH", "/logged-models/{model_id}", Experiment(Update, LoggedModel)),
    (V2, "DELETE", "/logged-models/{model_id}", Experiment(Delete, LoggedModel)),
    (V2, "PATCH", "/logged-models/{model_id}/tags", Experiment(Update, LoggedModel)),
    (V2, "DELETE", "/logged-models/{model_id}/tags/{*tag_key}", Experiment(Delete, LoggedModel)),
    (V2, "POST", "/logged-models/{model_id}/params", Experiment(Update, LoggedModel)),
    // users (the basic-auth app)
    (V2, "POST", "/users/create", Admin),
    (V2, "GET", "/users/get", SelfOrAdmin),
    (V2, "GET", "/users/current", Authenticated),
    (V2, "PATCH", "/users/update-password", SelfOrAdmin),
    (V2, "PATCH", "/users/update-admin", Admin),
    (V2, "DELETE", "/users/delete", Admin),
    (V2, "GET", "/users/list", Authenticated),
    (V3, "POST", "/users/permissions/grant", ManageResource),
    (V3, "POST", "/users/permissions/revoke", ManageResource),
    (V3, "GET", "/users/permissions/get", SelfOrAdmin),
    (V3, "GET", "/users/permissions/list", SelfOrAdmin),
    (V3, "GET", "/users/current/permissions", Authenticated),
    (V3, "POST", "/users/tokens/create", Authenticated),
    (V3, "GET", "/users/tokens/list", Authenticated),
    (V3, "DELETE", "/users/tokens/revoke", Authenticated),
    (V3, "GET", "/users/roles/list", ViewUserRoles),
    // roles (RBAC)
    (V3, "POST", "/roles/create", ManageRoles),
    (V3, "GET", "/roles/get", ViewRoles),
    (V3, "GET", "/roles/list", ListRoles),
    (V3, "PATCH", "/roles/update", ManageRoles),
    (V3, "DELETE", "/roles/delete", ManageRoles),
    (V3, "POST", "/roles/permissions/add", ManageRoles),
    (V3, "DELETE", "/roles/permissions/remove", ManageRoles),
    (V3, "GET", "/roles/permissions/list", ViewRoles),
    (V3, "PATCH", "/roles/permissions/update", ManageRoles),
    (V3, "POST", "/roles/assign", ManageRoles),
    (V3, "DELETE", "/roles/unassign", ManageRoles),
    (V3, "GET", "/roles/users/list", ManageRoles),
    // server info, datasets, scorers
    (V3, "GET", "/server-info", Public),
    (V3, "POST", "/datasets/create", Experiment(Update, Each("experiment_ids"))),
    (V3, "POST", "/datasets/search", Experiment(Read, Each("experiment_ids"))),
    (V3, "GET", "/datasets/search", Experiment(Read, Each("experiment_ids"))),
    (V3, "GET", "/datasets/{dataset_id}", Experiment(Read, Dataset)),
    (V3, "DELETE", "/datasets/{dataset_id}", Experiment(Delete, Dataset)),
    (V3, "PATCH", "/datasets/{dataset_id}/tags", Experiment(Update, Dataset)),
    (V3, "DELETE", "/datasets/{dataset_id}/tags/{*key}", Experiment(Update, Dataset)),
    (V3, "GET", "/datasets/{dataset_id}/records", Experiment(Read, Dataset)),
    (V3, "POST", "/datasets/{dataset_id}/records", Experiment(Update, Dataset)),
    (V3, "DELETE", "/datasets/{dataset_id}/records", Experiment(Update, Dataset)),
    (V3, "GET", "/datasets/{dataset_id}/experiment-ids", Experiment(Read, Dataset)),
    (V3, "POST", "/datasets/{dataset_id}/add-experiments", Experiment(Update, DatasetAndEach("experiment_ids"))),
    (V3, "POST", "/datasets/{dataset_id}/remove-experiments", Experiment(Update, Dataset)),
    (V3, "POST", "/scorers/register", Experiment(Update, Id("experiment_id"))),
    (V3, "GET", "/scorers/list", Experiment(Read, OptionalId("experiment_id"))),
    (V3, "GET", "/scorers/versions", Experiment(Read, Id("experiment_id"))),
    (V3, "GET", "/scorers/get", Experiment(Read, Id("experiment_id"))),
    (V3, "DELETE", "/scorers/delete", Experiment(Delete, Id("experiment_id"))),
    (V3, "GET", "/scorers/online-configs", Authenticated),
    (V3, "PUT", "/scorers/online-config", Experiment(Update, Id("experiment_id"))),
    // issues: a search names its one experiment (none: refused, as the reference does)
    (V3, "POST", "/issues", Experiment(Update, Id("experiment_id"))),
    (V3, "POST", "/issues/search", Experiment(Read, Each("experiment_id"))),
    (V3, "GET", "/issues/{issue_id}", Experiment(Read, Issue)),
    (V3, "PATCH", "/issues/{issue_id}", Experiment(Update, Issue)),
    // traces (v3 paths)
    (V3, "POST", "/traces", Experiment(Update, NewTrace)),
    (V3, "GET", "/traces/get", Experiment(Read, Trace("trace_id"))),
    (V3, "GET", "/traces/batchGet", Experiment(Read, Traces("trace_ids"))),
    (V3, "POST", "/traces/batchGetInfos", Experiment(Read, Traces("trace_ids"))),
    (V3, "POST", "/traces/metrics", Experiment(Read, Each("experiment_ids"))),
    (V3, "POST", "/traces/calculate-filter-correlation", Experiment(Read, Each("experiment_ids"))),
    (V3, "POST", "/traces/search", Experiment(Read, TraceLocations)),
    (V3, "GET", "/traces/search", Experiment(Read, TraceLocations)),
    (V3, "POST", "/traces/delete-traces", Experiment(Delete, Id("experiment_id"))),
    (V3, "GET", "/traces/{trace_id}", Experiment(Read, Trace("trace_id"))),
    (V3, "PATCH", "/traces/{trace_id}/tags", Experiment(Update, Trace("trace_id"))),
    (V3, "DELETE", "/traces/{trace_id}/tags", Experiment(Update, Trace("trace_id"))),
    (V3, "POST", "/traces/{trace_id}/assessments", Experiment(Update, Trace("trace_id"))),
    (V3, "GET", "/traces/{trace_id}/assessments/{assessment_id}", Experiment(Read, Trace("trace_id"))),
    (V3, "PATCH", "/traces/{trace_id}/assessments/{assessment_id}", Experiment(Update, Trace("trace_id"))),
    (V3, "DELETE", "/traces/{trace_id}/assessments/{assessment_id}", Experiment(Delete, Trace("trace_id"))),
    // proxied artifacts: their experiment (the first segment of the path)
    (Artifacts, "GET", "/artifacts", Experiment(Read, ArtifactPath)),
    (Artifacts, "GET", "/artifacts/{*path}", Experiment(Read, ArtifactPath)),
    (Artifacts, "PUT", "/artifacts/{*path}", Experiment(Update, ArtifactPath)),
    (Artifacts, "DELETE", "/artifacts/{*path}", Experiment(Delete, ArtifactPath)),
];

/// A request's route: which entry, and the values of its path's `{…}` segments.
#[derive(Debug)]
pub struct Matched {
    pub api: Api,
    pub template: &'static str,
    pub rule: Rule,
    pub path_params: Vec<(&'static str, String)>,
}

/// Splits a path (static prefix already removed) into its API root and the rest.
pub fn split_api(path: &str) -> (Api, &str) {
    for (root, api) in [
        ("/api/2.0/mlflow-artifacts", Artifacts),
        ("/ajax-api/2.0/mlflow-artifacts", Artifacts),
        ("/api/2.0/mlflow", V2),
        ("/ajax-api/2.0/mlflow", V2),
        ("/api/3.0/mlflow", V3),
        ("/ajax-api/3.0/mlflow", V3),
    ] {
        if let Some(rest) = path.strip_prefix(root) {
            if rest.starts_with('/') {
                return (api, rest);
            }
        }
    }
    (Root, path)
}

/// The entry for a method and path, if any route has one.
pub fn find(method: &str, path: &str) -> Option<Matched> {
    let (api, rest) = split_api(path);
    RULES.iter().find_map(|&(entry_api, entry_method, template, rule)| {
        if entry_api != api || entry_method != method {
            return None;
        }
        let path_params = match_template(template, rest)?;
        Some(Matched { api, template, rule, path_params })
    })
}

/// Matches `/a/{x}/b/{*rest}` against a path; the values of its parameters, percent-decoded.
fn match_template(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let mut params = Vec::new();
    let mut segments = path.strip_prefix('/')?.split('/');
    for part in template.strip_prefix('/')?.split('/') {
        if let Some(name) = part.strip_prefix("{*").and_then(|p| p.strip_suffix('}')) {
            let rest: Vec<&str> = segments.by_ref().collect();
            if rest.is_empty() || rest.iter().all(|s| s.is_empty()) {
                return None;
            }
            params.push((name, decode(&rest.join("/"))));
            return Some(params);
        }
        let segment = segments.next()?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            params.push((name, decode(segment)));
        } else if part != segment {
            return None;
        }
    }
    segments.next().is_none().then_some(params)
}

fn decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.route(...)` of `routes/mod.rs`, with its API root and methods.
    fn routes_in_table() -> Vec<(Api, String, String)> {
        let source = include_str!("../routes/mod.rs");
        let mut api = Root;
        let mut found = Vec::new();
        for (index, chunk) in source.split(".route(").enumerate() {
            if index > 0 {
                let path = chunk.split('"').nth(1).expect("a route path").to_string();
                // The statement runs to the next `.route(`; its handlers name the methods.
                let statement = chunk.split(".nest(").next().unwrap_or(chunk);
                for method in ["get", "post", "patch", "delete", "put"] {
                    let called = statement.match_indices(&format!("{method}(")).any(|(at, _)| {
                        at == 0
                            || !statement.as_bytes()[at - 1].is_ascii_alphanumeric()
                                && statement.as_bytes()[at - 1] != b'_'
                    });
                    if called {
                        found.push((api, method.to_ascii_uppercase(), path.clone()));
                    }
                }
            }
            // Which router the next routes belong to.
            if let Some(last) = ["let v2 =", "let v3 =", "let artifacts =", "\n    Router::new()"]
                .iter()
                .filter_map(|marker| chunk.rfind(marker).map(|at| (at, *marker)))
                .max()
            {
                api = match last.1 {
                    "let v2 =" => V2,
                    "let v3 =" => V3,
                    "let artifacts =" => Artifacts,
                    _ => Root,
                };
            }
        }
        found
    }

    #[test]
    fn every_route_has_a_rule() {
        let routes = routes_in_table();
        assert!(routes.len() > 100, "the route table was not read: {routes:?}");
        let missing: Vec<_> = routes
            .iter()
            .filter(|(api, method, path)| !RULES.iter().any(|(a, m, p, _)| a == api && m == method && p == path))
            .collect();
        assert!(missing.is_empty(), "routes without an auth rule: {missing:?}");
        let stale: Vec<_> = RULES
            .iter()
            .filter(|(a, m, p, _)| !routes.iter().any(|(api, method, path)| a == api && m == method && p == path))
            .collect();
        assert!(stale.is_empty(), "rules for routes that do not exist: {stale:?}");
    }

    #[test]
    fn paths_find_their_rule_and_parameters() {
        let matched = find("GET", "/api/3.0/mlflow/traces/tr-1/assessments/a-2").unwrap();
        assert_eq!(matched.rule, Experiment(Read, Trace("trace_id")));
        assert_eq!(matched.path_params, vec![("trace_id", "tr-1".to_string()), ("assessment_id", "a-2".to_string())]);
        let matched = find("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x%20y.txt").unwrap();
        assert_eq!(matched.path_params, vec![("path", "1/abc/artifacts/x y.txt".to_string())]);
        assert_eq!(
            find("GET", "/ajax-api/2.0/mlflow/experiments/get").unwrap().rule.clone(),
            Experiment(Read, Id("experiment_id"))
        );
        assert!(find("GET", "/api/2.0/mlflow/nope").is_none());
        assert_eq!(find("GET", "/health").unwrap().rule, Public);
    }
}
