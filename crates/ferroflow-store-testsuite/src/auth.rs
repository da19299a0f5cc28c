//! Auth checks: users (a taken name is `RESOURCE_ALREADY_EXISTS`), grants (replaced, renamed,
//! revoked), tokens (found by their secret's hash, revoked only by their owner) and roles
//! (rows, assignments, what a user holds through them; deletes cascade), UI sessions.

use ferroflow_core::auth::{Permission, ResourceType, UiSession};
use ferroflow_core::store::Store;
use ferroflow_core::ErrorCode;

/// Users, grants and tokens round-trip; missing ones are `RESOURCE_DOES_NOT_EXIST`.
pub async fn check_auth(store: &dyn Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let admin = store.create_user("admin", "h1", true).await.unwrap();
    let user = store.create_user("it's \"u\"", "h2", false).await.unwrap();
    assert!(admin.is_admin && !user.is_admin);
    let taken = store.create_user("admin", "h3", false).await.unwrap_err();
    assert_eq!(taken.code, ErrorCode::ResourceAlreadyExists);
    assert_eq!(store.get_user("it's \"u\"").await.unwrap().id, user.id);
    assert_eq!(store.get_user_by_id(admin.id).await.unwrap().username, "admin");
    assert!(store.get_user("nobody").await.unwrap_err().is_not_found());
    let names: Vec<String> = store.list_users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names.len(), 2);
    store.update_user_password("admin", "h9").await.unwrap();
    store.update_user_admin("it's \"u\"", true).await.unwrap();
    assert_eq!(store.get_user("admin").await.unwrap().password_hash, "h9");
    assert!(store.get_user_by_id(user.id).await.unwrap().is_admin);

    let experiment = ResourceType::parse("experiment").unwrap();
    let model = ResourceType::parse("registered_model").unwrap();
    store.grant(user.id, experiment, "1", Permission::parse("READ").unwrap()).await.unwrap();
    store.grant(user.id, experiment, "1", Permission::parse("EDIT").unwrap()).await.unwrap();
    store.grant(user.id, model, "m", Permission::parse("MANAGE").unwrap()).await.unwrap();
    assert_eq!(store.get_grant(user.id, experiment, "1").await.unwrap(), Some(Permission::parse("EDIT").unwrap()));
    store.rename_grants(model, "m", "m2").await.unwrap();
    assert_eq!(store.get_grant(user.id, model, "m").await.unwrap(), None);
    assert_eq!(store.get_grant(user.id, model, "m2").await.unwrap(), Some(Permission::parse("MANAGE").unwrap()));
    assert_eq!(store.list_grants(user.id).await.unwrap().len(), 2);
    store.revoke(user.id, experiment, "1").await.unwrap();
    assert!(store.revoke(user.id, experiment, "1").await.unwrap_err().is_not_found());

    let token = store.create_token(user.id, "ci", "abc123").await.unwrap();
    let (found, owner) = store.find_token("abc123").await.unwrap().expect("token");
    assert_eq!((found.id, owner.id), (token.id, user.id));
    assert!(store.find_token("zzz").await.unwrap().is_none());
    assert_eq!(store.list_tokens(user.id).await.unwrap().len(), 1);
    assert!(store.revoke_token(admin.id, token.id).await.unwrap_err().is_not_found());
    store.revoke_token(user.id, token.id).await.unwrap();
    assert!(store.find_token("abc123").await.unwrap().is_none());

    store.delete_user("it's \"u\"").await.unwrap();
    assert!(store.get_user("it's \"u\"").await.unwrap_err().is_not_found());
    assert_eq!(store.count_users().await.unwrap(), 1);
}

/// Roles round-trip with their rows; names are unique per workspace; assignments are unique;
/// deleting a role or a user takes rows and assignments along; `role_grants` is what the user
/// holds in one workspace.
pub async fn check_roles(store: &dyn Store) {
    let user = store.create_user("r-user", "h", false).await.unwrap();
    let role = store.create_role("readers", "default", Some("read all")).await.unwrap();
    assert_eq!((role.name.as_str(), role.workspace.as_str()), ("readers", "default"));
    assert_eq!(store.create_role("readers", "default", None).await.unwrap_err().code, ErrorCode::ResourceAlreadyExists);
    let other = store.create_role("readers", "elsewhere", None).await.unwrap();
    assert!(store.get_role(9999).await.unwrap_err().is_not_found());

    let edit = Permission::parse("EDIT").unwrap();
    let row = store.add_role_permission(role.id, "experiment", "*", edit).await.unwrap();
    assert_eq!((row.role_id, row.permission), (role.id, edit));
    let taken = store.add_role_permission(role.id, "experiment", "*", edit).await.unwrap_err();
    assert_eq!(taken.code, ErrorCode::ResourceAlreadyExists);
    assert!(store.add_role_permission(9999, "experiment", "*", edit).await.unwrap_err().is_not_found());
    let deny = store.add_role_permission(role.id, "experiment", "7", Permission::parse("DENY").unwrap()).await.unwrap();
    store.add_role_permission(other.id, "run", "*", edit).await.unwrap();
    let read = Permission::parse("READ").unwrap();
    assert_eq!(store.update_role_permission(row.id, read).await.unwrap().permission, read);
    assert_eq!(store.get_role_permission(deny.id).await.unwrap().resource_pattern, "7");
    let fetched = store.get_role(role.id).await.unwrap();
    assert_eq!(fetched.description.as_deref(), Some("read all"));
    assert_eq!(fetched.permissions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![row.id, deny.id]);

    let renamed = store.update_role(role.id, Some("viewers"), None).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.description.as_deref()), ("viewers", Some("read all")));
    assert_eq!(renamed.permissions.len(), 2);
    store.create_role("taken", "default", None).await.unwrap();
    let clash = store.update_role(role.id, Some("taken"), None).await.unwrap_err();
    assert_eq!(clash.code, ErrorCode::ResourceAlreadyExists);
    assert!(store.update_role(9999, None, Some("d")).await.unwrap_err().is_not_found());
    assert_eq!(store.list_roles(None).await.unwrap().len(), 3);
    let scoped = store.list_roles(Some(&["elsewhere".to_string()])).await.unwrap();
    assert_eq!(scoped.iter().map(|r| r.id).collect::<Vec<_>>(), vec![other.id]);

    let assignment = store.assign_role(user.id, role.id).await.unwrap();
    assert_eq!((assignment.user_id, assignment.role_id), (user.id, role.id));
    assert_eq!(store.assign_role(user.id, role.id).await.unwrap_err().code, ErrorCode::ResourceAlreadyExists);
    assert!(store.assign_role(9999, role.id).await.unwrap_err().is_not_found());
    assert!(store.assign_role(user.id, 9999).await.unwrap_err().is_not_found());
    store.assign_role(user.id, other.id).await.unwrap();
    assert_eq!(store.list_user_roles(user.id).await.unwrap().len(), 2);
    assert_eq!(store.list_role_users(role.id).await.unwrap(), vec![assignment.clone()]);
    assert!(store.list_role_users(9999).await.unwrap_err().is_not_found());
    let empty = store.create_role("nobody", "default", None).await.unwrap();
    assert!(store.list_role_users(empty.id).await.unwrap().is_empty());

    // Only the rows of roles in the asked workspace.
    let grants = store.role_grants(user.id, "default").await.unwrap();
    assert_eq!(grants.len(), 2);
    assert!(grants.iter().all(|g| g.resource_type == "experiment"));

    store.remove_role_permission(deny.id).await.unwrap();
    assert!(store.remove_role_permission(deny.id).await.unwrap_err().is_not_found());
    store.unassign_role(user.id, other.id).await.unwrap();
    assert!(store.unassign_role(user.id, other.id).await.unwrap_err().is_not_found());
    store.delete_role(role.id).await.unwrap();
    assert!(store.delete_role(role.id).await.unwrap_err().is_not_found());
    assert!(store.get_role_permission(row.id).await.unwrap_err().is_not_found());
    assert!(store.list_user_roles(user.id).await.unwrap().is_empty());
    store.assign_role(user.id, other.id).await.unwrap();
    store.delete_user("r-user").await.unwrap();
    assert!(store.list_role_users(other.id).await.unwrap().is_empty());
}

/// UI sessions: found with their user by the secret's hash, touched, ended; expired ones
/// (idle or too old) removed; a deleted user's sessions go with them.
pub async fn check_sessions(store: &dyn Store) {
    let user = store.create_user("s-user", "h", false).await.unwrap();
    let session = |started: i64, last_seen: i64| UiSession {
        user_id: user.id,
        password_fingerprint: "fp".into(),
        started,
        last_seen,
    };
    store.create_session("live", &session(1_000, 1_000)).await.unwrap();
    store.create_session("idle", &session(1_000, 1_500)).await.unwrap();
    store.create_session("old", &session(10, 5_000)).await.unwrap();
    let (found, owner) = store.find_session("live").await.unwrap().expect("session");
    assert_eq!((found, owner.username.as_str()), (session(1_000, 1_000), "s-user"));
    assert!(store.find_session("nope").await.unwrap().is_none());
    store.touch_session("live", 4_000).await.unwrap();
    // A late touch never moves last_seen back.
    store.touch_session("live", 3_000).await.unwrap();
    assert_eq!(store.find_session("live").await.unwrap().unwrap().0.last_seen, 4_000);
    assert_eq!(store.delete_expired_sessions(2_000, 100).await.unwrap(), 2);
    assert!(store.find_session("idle").await.unwrap().is_none());
    assert!(store.find_session("old").await.unwrap().is_none());
    store.delete_session("live").await.unwrap();
    store.delete_session("live").await.unwrap();
    assert!(store.find_session("live").await.unwrap().is_none());
    store.create_session("again", &session(1_000, 1_000)).await.unwrap();
    store.delete_user("s-user").await.unwrap();
    assert!(store.find_session("again").await.unwrap().is_none());
}
