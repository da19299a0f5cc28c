//! Users and permissions of the basic-auth app: the permission levels, the resources that
//! carry grants, and the rules on users' names and passwords (how grants fold into a permission is
//! `roles::resolve_permission`). The server authenticates and asks; the store keeps users and grants.

use crate::{Error, Result};

/// A permission level as MLflow names it. `Deny` is an explicit lock-out; `NoPermissions` is
/// what a user has when nothing grants them anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Use,
    Edit,
    Manage,
    Deny,
    NoPermissions,
}

impl Permission {
    /// The levels a grant or `default_permission` may name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "READ" => Ok(Permission::Read),
            "USE" => Ok(Permission::Use),
            "EDIT" => Ok(Permission::Edit),
            "MANAGE" => Ok(Permission::Manage),
            "DENY" => Ok(Permission::Deny),
            "NO_PERMISSIONS" => Ok(Permission::NoPermissions),
            _ => Err(Error::invalid(format!(
                "Invalid permission '{name}'. Valid permissions are: READ, USE, EDIT, MANAGE, NO_PERMISSIONS, DENY"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Use => "USE",
            Permission::Edit => "EDIT",
            Permission::Manage => "MANAGE",
            Permission::Deny => "DENY",
            Permission::NoPermissions => "NO_PERMISSIONS",
        }
    }

    /// 0 for nothing and DENY, growing with what the level allows.
    fn rank(self) -> u8 {
        match self {
            Permission::Deny | Permission::NoPermissions => 0,
            Permission::Read => 1,
            Permission::Use => 2,
            Permission::Edit => 3,
            Permission::Manage => 4,
        }
    }

    pub fn can_read(self) -> bool {
        self.rank() >= 1
    }
    pub fn can_use(self) -> bool {
        self.rank() >= 2
    }
    pub fn can_update(self) -> bool {
        self.rank() >= 3
    }
    pub fn can_delete(self) -> bool {
        self.rank() >= 4
    }
    pub fn can_manage(self) -> bool {
        self.rank() >= 4
    }

    /// The higher of two levels (the first on a tie; DENY and NO_PERMISSIONS are the lowest).
    pub fn max_of(self, other: Permission) -> Permission {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// Whether this level allows `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => self.can_read(),
            Need::Use => self.can_use(),
            Need::Update => self.can_update(),
            Need::Delete => self.can_delete(),
            Need::Manage => self.can_manage(),
        }
    }
}

/// What a request needs of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Use,
    Update,
    Delete,
    Manage,
}

/// The kinds of resource a user may be granted a permission on. Prompts are registered models
/// underneath but carry grants of their own kind, as in MLflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Experiment,
    RegisteredModel,
    Prompt,
    Scorer,
}

impl ResourceType {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "experiment" => Ok(ResourceType::Experiment),
            "registered_model" => Ok(ResourceType::RegisteredModel),
            "prompt" => Ok(ResourceType::Prompt),
            "scorer" => Ok(ResourceType::Scorer),
            _ => Err(Error::invalid(format!(
                "Unsupported resource_type '{name}'. Supported: experiment, registered_model, prompt, scorer"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Experiment => "experiment",
            ResourceType::RegisteredModel => "registered_model",
            ResourceType::Prompt => "prompt",
            ResourceType::Scorer => "scorer",
        }
    }
}

/// A user as stored: the password only as its hash (a PHC string).
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
}

/// One user's permission on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub permission: Permission,
}

/// An API token as stored: only the hash of its secret is kept.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub creation_time: i64,
}

/// A web UI session as stored: only the hash of the cookie's secret is kept, with a
/// fingerprint of the user's password hash at sign-in (a new password ends the session) and
/// its times (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    pub user_id: i64,
    pub password_fingerprint: String,
    pub started: i64,
    pub last_seen: i64,
}

/// The rules on a new user's name and password (the admin's password included).
pub fn validate_new_user(username: &str, password: &str) -> Result<()> {
    if username.is_empty() || password.is_empty() {
        return Err(Error::invalid("Username and password cannot be empty."));
    }
    if username.chars().count() > 255 {
        return Err(Error::invalid("Username must be at most 255 characters long."));
    }
    validate_password(password)
}

/// Passwords have at least [`MIN_PASSWORD_CHARS`] characters, as MLflow asks.
pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(format!("Password must be at least {MIN_PASSWORD_CHARS} characters long.")));
    }
    Ok(())
}

pub const MIN_PASSWORD_CHARS: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_allow_what_mlflow_says() {
        assert!(Permission::Read.allows(Need::Read) && !Permission::Read.allows(Need::Use));
        assert!(Permission::Use.allows(Need::Use) && !Permission::Use.allows(Need::Update));
        assert!(Permission::Edit.allows(Need::Update) && !Permission::Edit.allows(Need::Delete));
        assert!(Permission::Manage.allows(Need::Manage));
        assert!(!Permission::Deny.allows(Need::Read));
        assert!(!Permission::NoPermissions.allows(Need::Read));
    }

    #[test]
    fn names_round_trip_and_bad_ones_are_invalid() {
        for name in ["READ", "USE", "EDIT", "MANAGE", "DENY", "NO_PERMISSIONS"] {
            assert_eq!(Permission::parse(name).unwrap().as_str(), name);
        }
        assert!(Permission::parse("read").is_err());
        assert!(ResourceType::parse("workspace").is_err());
        assert!(validate_new_user("a", "short").is_err());
        assert!(validate_new_user("a", "long enough pw").is_ok());
    }
}
