//! Roles of the basic-auth app (RBAC, as MLflow 3.18 has them): what a role, its permission
//! rows and its assignments to users are, the rules on their names and patterns, and how the
//! grants a user holds through roles and directly fold into one permission on a resource.
//!
//! Workspaces: roles carry one, but ferroflow has only the `default` workspace (MLflow without
//! workspaces enabled); a role in any other is refused when it is created.

use crate::auth::{Permission, ResourceType, User};
use crate::{Error, Result};

/// The one workspace ferroflow has; roles in it take part in permission checks.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Names starting with this are held for the per-user grants (MLflow shows a user's direct
/// grants as the rows of a role `__user_<id>__`).
pub const RESERVED_ROLE_PREFIX: &str = "__user_";

const MAX_ROLE_NAME_CHARS: usize = 255;
const MAX_ROLE_DESCRIPTION_CHARS: usize = 1024;

/// The resource types a role's permission row may name, and whether the type also takes an
/// exact id (else only the wildcard `*`). Sub-resources (runs, traces, versions) are
/// wildcard-only, as MLflow decides.
const RESOURCE_TYPES: &[(&str, bool)] = &[
    ("assessment", false),
    ("experiment", true),
    ("gateway_endpoint", true),
    ("gateway_model_definition", true),
    ("gateway_secret", true),
    ("logged_model", false),
    ("mcp_server", true),
    ("mcp_server_version", false),
    ("prompt", true),
    ("prompt_version", false),
    ("registered_model", true),
    ("registered_model_version", false),
    ("review_queue", false),
    ("run", false),
    ("scorer", true),
    ("scorer_version", false),
    ("skill", true),
    ("trace", false),
    ("workspace", false),
];

/// The workspace-wide slot: `(workspace, *)` with USE (member) or MANAGE (workspace admin).
pub const WORKSPACE_TYPE: &str = "workspace";

/// A role with its permission rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub workspace: String,
    pub description: Option<String>,
    pub permissions: Vec<RolePermission>,
}

/// One row of a role: a permission on the resources of a type that `resource_pattern` (an id
/// or `*`) matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermission {
    pub id: i64,
    pub role_id: i64,
    pub resource_type: String,
    pub resource_pattern: String,
    pub permission: Permission,
}

/// A user holding a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub id: i64,
    pub user_id: i64,
    pub role_id: i64,
}

/// A role's name: not empty, not in the reserved namespace, no NUL, at most 255 characters.
pub fn validate_role_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("Role name cannot be empty."));
    }
    if name.starts_with(RESERVED_ROLE_PREFIX) {
        return Err(Error::invalid(format!(
            "Role name {name:?} starts with the reserved prefix '{RESERVED_ROLE_PREFIX}' (kept for per-user \
             permissions); choose another name."
        )));
    }
    text_field("Role name", name, MAX_ROLE_NAME_CHARS)
}

pub fn validate_role_description(description: Option<&str>) -> Result<()> {
    description.map_or(Ok(()), |d| text_field("Role description", d, MAX_ROLE_DESCRIPTION_CHARS))
}

fn text_field(field: &str, value: &str, limit: usize) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid(format!("'{field}' cannot contain NUL (0x00) characters")));
    }
    let length = value.chars().count();
    if length > limit {
        return Err(Error::invalid(format!("'{field}' exceeds the maximum length of {limit} characters ({length})")));
    }
    Ok(())
}

/// A workspace a role may be created in: only the default one exists here.
pub fn validate_workspace(workspace: &str) -> Result<()> {
    if workspace.trim().is_empty() {
        return Err(Error::invalid("Workspace cannot be empty."));
    }
    if workspace != DEFAULT_WORKSPACE {
        return Err(Error::invalid(format!("Workspace '{workspace}' does not exist.")));
    }
    Ok(())
}

fn resource_type_entry(resource_type: &str) -> Result<(&'static str, bool)> {
    RESOURCE_TYPES.iter().copied().find(|(name, _)| *name == resource_type).ok_or_else(|| {
        let names: Vec<&str> = RESOURCE_TYPES.iter().map(|(name, _)| *name).collect();
        Error::invalid(format!(
            "Invalid resource type '{resource_type}'. Valid resource types are: {}",
            names.join(", ")
        ))
    })
}

/// The level a role row on `resource_type` may carry: USE or MANAGE on the workspace slot;
/// READ, EDIT, MANAGE or DENY on a skill; READ, USE, EDIT, MANAGE or DENY elsewhere (an absent
/// row with the default already says "nothing", so NO_PERMISSIONS is not grantable).
pub fn role_permission_level(resource_type: &str, permission: &str) -> Result<Permission> {
    let level = Permission::parse(permission)?;
    resource_type_entry(resource_type)?;
    let allowed: &[Permission] = match resource_type {
        WORKSPACE_TYPE => &[Permission::Manage, Permission::Use],
        "skill" => &[Permission::Deny, Permission::Edit, Permission::Manage, Permission::Read],
        _ => &[Permission::Deny, Permission::Edit, Permission::Manage, Permission::Read, Permission::Use],
    };
    if !allowed.contains(&level) {
        let names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
        return Err(Error::invalid(format!(
            "Invalid permission '{permission}' for resource_type='{resource_type}'. Allowed here: {}",
            names.join(", ")
        )));
    }
    Ok(level)
}

/// A new role row, checked: its level, and its pattern in the form grants are compared in (an
/// experiment id as the tracking store reads it, `"01"` → `"1"`); a wildcard-only type takes
/// `*` alone.
pub fn new_role_permission(resource_type: &str, pattern: &str, permission: &str) -> Result<(String, Permission)> {
    let level = role_permission_level(resource_type, permission)?;
    if pattern == "*" {
        return Ok((pattern.to_string(), level));
    }
    let (_, takes_ids) = resource_type_entry(resource_type)?;
    if !takes_ids {
        return Err(Error::invalid(format!(
            "Invalid resource_pattern '{pattern}' for resource_type='{resource_type}': this type takes only the \
             wildcard ('*')."
        )));
    }
    if pattern.is_empty() {
        return Err(Error::invalid("Missing value for required parameter 'resource_pattern'."));
    }
    if resource_type == "experiment" {
        let id: i64 = pattern
            .trim()
            .parse()
            .map_err(|_| Error::invalid(format!("Invalid experiment ID '{pattern}': it must be an integer.")))?;
        return Ok((id.to_string(), level));
    }
    Ok((pattern.to_string(), level))
}

/// A grant a user holds through one of their roles (the row, without the role).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    pub resource_type: String,
    pub resource_pattern: String,
    pub permission: Permission,
}

/// Whether a role row makes its holder an admin of the workspace: MANAGE on `(workspace, *)`.
fn makes_workspace_admin(resource_type: &str, pattern: &str, permission: Permission) -> bool {
    resource_type == WORKSPACE_TYPE && pattern == "*" && permission == Permission::Manage
}

impl RoleGrant {
    pub fn makes_workspace_admin(&self) -> bool {
        makes_workspace_admin(&self.resource_type, &self.resource_pattern, self.permission)
    }
}

impl RolePermission {
    pub fn makes_workspace_admin(&self) -> bool {
        makes_workspace_admin(&self.resource_type, &self.resource_pattern, self.permission)
    }
}

/// Whether a grant on `grant_type` applies to `resource_type`: the same type, and a registered
/// model and a prompt share one name space (as direct grants do in [`crate::store::permission_on`]).
fn same_kind(grant_type: &str, resource_type: ResourceType) -> bool {
    match resource_type {
        ResourceType::RegisteredModel | ResourceType::Prompt => {
            grant_type == "registered_model" || grant_type == "prompt"
        }
        _ => grant_type == resource_type.as_str(),
    }
}

fn canonical_id(resource_type: ResourceType, id: &str) -> String {
    match resource_type {
        ResourceType::Experiment => id.trim().parse::<i64>().map(|n| n.to_string()).unwrap_or_else(|_| id.to_string()),
        _ => id.to_string(),
    }
}

/// What `user` may do on one resource, from their direct grant on it and the rows of their
/// roles (in the default workspace), as MLflow 3.18 resolves it: admins and workspace admins
/// everything; among the grants that match (exact id or `*`), a DENY wins, else the highest;
/// a positive grant is never below `default`; with no grant at all, `default`.
pub fn resolve_permission(
    user: &User,
    direct: Option<Permission>,
    roles: &[RoleGrant],
    default: Permission,
    resource_type: ResourceType,
    resource_id: &str,
) -> Permission {
    if user.is_admin || roles.iter().any(RoleGrant::makes_workspace_admin) {
        return Permission::Manage;
    }
    let id = canonical_id(resource_type, resource_id);
    let from_roles = roles
        .iter()
        .filter(|g| same_kind(&g.resource_type, resource_type))
        .filter(|g| g.resource_pattern == "*" || g.resource_pattern == id)
        .map(|g| g.permission);
    let mut denied = false;
    let mut best: Option<Permission> = None;
    for level in direct.into_iter().chain(from_roles) {
        match level {
            Permission::Deny => denied = true,
            level => best = Some(best.map_or(level, |b| b.max_of(level))),
        }
    }
    if denied {
        return Permission::Deny;
    }
    match best {
        None => default,
        // NO_PERMISSIONS is a veto of its own kind (a legacy direct grant): not lifted.
        Some(Permission::NoPermissions) => Permission::NoPermissions,
        Some(level) => match default {
            Permission::Deny | Permission::NoPermissions => level,
            default => level.max_of(default),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(is_admin: bool) -> User {
        User { id: 7, username: "u".into(), password_hash: String::new(), is_admin }
    }

    fn row(kind: &str, pattern: &str, permission: Permission) -> RoleGrant {
        RoleGrant { resource_type: kind.into(), resource_pattern: pattern.into(), permission }
    }

    #[test]
    fn names_patterns_and_levels_are_checked() {
        assert!(validate_role_name("").is_err());
        assert!(validate_role_name("__user_3__").is_err());
        assert!(validate_role_name("__user_x").is_err());
        assert!(validate_role_name(&"r".repeat(256)).is_err());
        assert!(validate_role_name("readers").is_ok());
        assert!(validate_role_description(Some(&"d".repeat(1025))).is_err());
        assert!(validate_workspace("default").is_ok());
        assert!(validate_workspace("team-a").is_err());
        assert_eq!(new_role_permission("experiment", "01", "READ").unwrap().0, "1");
        assert!(new_role_permission("experiment", "abc", "READ").is_err());
        assert!(new_role_permission("run", "r1", "READ").is_err());
        assert_eq!(new_role_permission("run", "*", "EDIT").unwrap(), ("*".into(), Permission::Edit));
        assert!(new_role_permission("workspace", "*", "READ").is_err());
        assert!(new_role_permission("workspace", "*", "MANAGE").is_ok());
        assert!(new_role_permission("experiment", "1", "NO_PERMISSIONS").is_err());
        assert!(new_role_permission("skill", "s", "USE").is_err());
        assert!(new_role_permission("nope", "*", "READ").is_err());
    }

    #[test]
    fn grants_fold_as_the_reference_resolves_them() {
        let exp = ResourceType::Experiment;
        let u = user(false);
        // Nothing: the default.
        assert_eq!(resolve_permission(&u, None, &[], Permission::Read, exp, "1"), Permission::Read);
        // A role's wildcard and a direct grant: the highest.
        let roles = [row("experiment", "*", Permission::Edit)];
        assert_eq!(
            resolve_permission(&u, Some(Permission::Read), &roles, Permission::Read, exp, "1"),
            Permission::Edit
        );
        // A DENY anywhere wins over positives.
        let roles = [row("experiment", "*", Permission::Manage), row("experiment", "1", Permission::Deny)];
        assert_eq!(resolve_permission(&u, None, &roles, Permission::Read, exp, "01"), Permission::Deny);
        assert_eq!(resolve_permission(&u, None, &roles, Permission::Read, exp, "2"), Permission::Manage);
        // Rows of other types do not apply; a positive grant is floored at the default.
        let roles = [row("registered_model", "*", Permission::Manage)];
        assert_eq!(
            resolve_permission(&u, Some(Permission::Read), &roles, Permission::Edit, exp, "1"),
            Permission::Edit
        );
        assert_eq!(
            resolve_permission(&u, None, &roles, Permission::Read, ResourceType::Prompt, "p"),
            Permission::Manage
        );
        // Workspace admins and admins: everything, DENY or not.
        let roles = [row("workspace", "*", Permission::Manage), row("experiment", "1", Permission::Deny)];
        assert_eq!(resolve_permission(&u, None, &roles, Permission::Read, exp, "1"), Permission::Manage);
        assert_eq!(
            resolve_permission(&user(true), Some(Permission::Deny), &[], Permission::Read, exp, "1"),
            Permission::Manage
        );
        // Workspace USE alone grants nothing on resources.
        let roles = [row("workspace", "*", Permission::Use)];
        assert_eq!(
            resolve_permission(&u, None, &roles, Permission::NoPermissions, exp, "1"),
            Permission::NoPermissions
        );
    }
}
