//! Auth checks: users (a taken name is `RESOURCE_ALREADY_EXISTS`), grants (replaced, renamed,
//! revoked) and tokens (found by their secret's hash, revoked only by their owner).

use ferroflow_core::auth::{Permission, ResourceType};
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
