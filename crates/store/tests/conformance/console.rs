//! The contract of the consoles' users and sessions (issue 8): e-mails unique within an
//! area and found whatever their case, users that belong to a customer or to none, changes
//! that end sessions, sessions that expire when idle or at their absolute limit, and
//! erasure taking a customer's users with its other personal data.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::lifecycle::{breached, newest_audit, notice, two_nodes};
use super::*;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn operator_user(id: &str, email: &str) -> ConsoleUser {
    ConsoleUser {
        id: id.into(),
        area: ConsoleArea::Operator,
        customer_id: None,
        email: email.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${id}"),
        role: "admin".into(),
        created_at: NOW,
        updated_at: NOW,
        disabled_at: None,
    }
}

fn customer_user(id: &str, customer_id: &str, email: &str) -> ConsoleUser {
    ConsoleUser {
        area: ConsoleArea::Customer,
        customer_id: Some(customer_id.into()),
        role: "developer".into(),
        ..operator_user(id, email)
    }
}

/// A session of `user_id` started at `NOW`: idle for 30 minutes, 12 hours at most.
fn session(id_hash: &str, user_id: &str) -> ConsoleSession {
    ConsoleSession {
        id_hash: id_hash.into(),
        user_id: user_id.into(),
        csrf: format!("csrf-{id_hash}"),
        created_at: NOW,
        last_seen_at: NOW,
        expires_at: NOW + 30 * MINUTE,
        absolute_expires_at: NOW + 12 * HOUR,
    }
}

async fn live(store: &dyn Store, id_hash: &str, at: i64) -> bool {
    store.find_console_session(id_hash, at).await.expect("find session").is_some()
}

#[tokio::test]
async fn a_user_is_stored_with_its_email_lowercased_and_found_whatever_its_case() {
    for b in backends().await {
        let store = &*b.store;
        let created = store.create_console_user(operator_user("usr_1", "Ops@Example.COM"), None).await;
        let created = created.unwrap_or_else(|e| panic!("{}: {e}", b.name));
        assert_eq!(created.email, "ops@example.com", "{}", b.name);
        let found = store.find_console_user(ConsoleArea::Operator, "OPS@example.com").await.expect("find");
        assert_eq!(found.as_ref(), Some(&created), "{}", b.name);
        assert_eq!(store.get_console_user("usr_1").await.as_ref(), Ok(&created), "{}", b.name);
        let other_area = store.find_console_user(ConsoleArea::Customer, "ops@example.com").await;
        assert_eq!(other_area, Ok(None), "{}: an e-mail belongs to its area", b.name);
        let nobody = store.find_console_user(ConsoleArea::Operator, "nobody@example.com").await;
        assert_eq!(nobody, Ok(None), "{}", b.name);
        assert_eq!(store.get_console_user("usr_nobody").await, Err(StoreError::NotFound), "{}", b.name);
        assert!(store.list_audit(None, 10).await.expect("audit").is_empty(), "{}: no audit asked", b.name);
    }
}

#[tokio::test]
async fn an_email_is_unique_within_its_area_and_free_in_the_other() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        store.create_console_user(operator_user("usr_1", "li@example.com"), None).await.expect("first");
        let again = store.create_console_user(operator_user("usr_2", "LI@example.com"), None).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: {again:?}", b.name);
        let same_id = store.create_console_user(operator_user("usr_1", "wang@example.com"), None).await;
        assert!(matches!(same_id, Err(StoreError::Conflict(_))), "{}: {same_id:?}", b.name);
        let customer_side = store.create_console_user(customer_user("usr_3", &acme, "li@example.com"), None).await;
        assert!(customer_side.is_ok(), "{}: {customer_side:?}", b.name);
        // Two customers' users share one area: the e-mail is taken there too.
        let other = customer(store, "other", 0).await;
        let taken = store.create_console_user(customer_user("usr_4", &other, "li@example.com"), None).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{}: {taken:?}", b.name);
        assert_eq!(store.get_console_user("usr_2").await, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(store.get_console_user("usr_4").await, Err(StoreError::NotFound), "{}", b.name);
    }
}

#[tokio::test]
async fn an_operator_user_has_no_customer_and_a_customer_user_an_existing_one() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let unknown = store.create_console_user(customer_user("usr_1", "cus_nobody", "a@example.com"), None).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);
        let with_customer = ConsoleUser { customer_id: Some(acme.clone()), ..operator_user("usr_2", "b@example.com") };
        let refused = store.create_console_user(with_customer, Some(audit("console_user.create"))).await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "{}: {refused:?}", b.name);
        let without = ConsoleUser { customer_id: None, ..customer_user("usr_3", &acme, "c@example.com") };
        let refused = store.create_console_user(without, None).await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "{}: {refused:?}", b.name);
        for area in [ConsoleArea::Operator, ConsoleArea::Customer] {
            let listed = store.list_console_users(area, None).await.expect("list");
            assert!(listed.is_empty(), "{}: nothing stored: {listed:?}", b.name);
        }
        assert!(store.list_audit(None, 10).await.expect("audit").is_empty(), "{}: nothing audited", b.name);
    }
}

#[tokio::test]
async fn users_are_listed_by_area_and_customer_in_email_order() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        for user in [
            operator_user("usr_o2", "zhao@example.com"),
            operator_user("usr_o1", "chen@example.com"),
            customer_user("usr_a2", &acme, "wu@acme.example"),
            customer_user("usr_b1", &other, "he@other.example"),
            customer_user("usr_a1", &acme, "an@acme.example"),
        ] {
            store.create_console_user(user, None).await.expect("user");
        }
        let ids = |users: Vec<ConsoleUser>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
        let operators = store.list_console_users(ConsoleArea::Operator, None).await.expect("operators");
        assert_eq!(ids(operators), ["usr_o1", "usr_o2"], "{}", b.name);
        let customers = store.list_console_users(ConsoleArea::Customer, None).await.expect("customers");
        assert_eq!(ids(customers), ["usr_a1", "usr_b1", "usr_a2"], "{}: by e-mail", b.name);
        let acme_users = store.list_console_users(ConsoleArea::Customer, Some(&acme)).await.expect("acme");
        assert_eq!(ids(acme_users), ["usr_a1", "usr_a2"], "{}", b.name);
        let none = store.list_console_users(ConsoleArea::Customer, Some("cus_nobody")).await.expect("nobody");
        assert!(none.is_empty(), "{}", b.name);
    }
}

#[tokio::test]
async fn a_created_user_is_audited_without_its_password_hash() {
    for b in backends().await {
        let store = &*b.store;
        let acme = customer(store, "acme", 0).await;
        let user = customer_user("usr_1", &acme, "Li@Acme.example");
        let hash = user.password_hash.clone();
        store.create_console_user(user, Some(audit("console_user.create"))).await.expect("created");
        let audited = newest_audit(store).await;
        assert_eq!(audited.action, "console_user.create", "{}", b.name);
        let after: serde_json::Value = serde_json::from_str(audited.after.as_deref().expect("after")).expect("json");
        assert_eq!(after["id"], "usr_1", "{}", b.name);
        assert_eq!(after["email"], "li@acme.example", "{}", b.name);
        assert_eq!(after["customer_id"], acme.as_str(), "{}", b.name);
        assert!(!audited.after.as_deref().unwrap_or_default().contains(&hash), "{}: no hash in the trail", b.name);
    }
}

#[tokio::test]
async fn a_role_change_keeps_the_sessions_and_a_new_password_or_disabling_ends_them() {
    for b in backends().await {
        let store = &*b.store;
        store.create_console_user(operator_user("usr_1", "ops@example.com"), None).await.expect("user");
        store.create_console_user(operator_user("usr_2", "bystander@example.com"), None).await.expect("user");
        store.create_console_session(session("s1", "usr_1")).await.expect("session");
        store.create_console_session(session("s2", "usr_1")).await.expect("session");
        store.create_console_session(session("s9", "usr_2")).await.expect("bystander's session");

        let role = ConsoleUserChange { role: Some("support".into()), ..Default::default() };
        let changed = store.change_console_user("usr_1", role, NOW + 1, audit("console_user.role")).await;
        let changed = changed.unwrap_or_else(|e| panic!("{}: {e}", b.name));
        assert_eq!((changed.role.as_str(), changed.updated_at, changed.created_at), ("support", NOW + 1, NOW));
        assert_eq!(store.get_console_user("usr_1").await.as_ref(), Ok(&changed), "{}: stored", b.name);
        assert!(live(store, "s1", NOW + 2).await && live(store, "s2", NOW + 2).await, "{}: kept", b.name);
        let audited = newest_audit(store).await;
        assert_eq!(audited.action, "console_user.role", "{}", b.name);
        assert!(audited.before.as_deref().is_some_and(|s| s.contains("\"admin\"")), "{}: {audited:?}", b.name);
        assert!(audited.after.as_deref().is_some_and(|s| s.contains("\"support\"")), "{}: {audited:?}", b.name);

        let password = ConsoleUserChange { password_hash: Some("$argon2id$new".into()), ..Default::default() };
        let changed = store.change_console_user("usr_1", password, NOW + 3, audit("console_user.password")).await;
        let changed = changed.expect("password");
        assert_eq!((changed.password_hash.as_str(), changed.role.as_str()), ("$argon2id$new", "support"));
        assert!(!live(store, "s1", NOW + 4).await && !live(store, "s2", NOW + 4).await, "{}: ended", b.name);
        assert!(live(store, "s9", NOW + 4).await, "{}: another user's session stays", b.name);
        let audited = newest_audit(store).await;
        let after: serde_json::Value = serde_json::from_str(audited.after.as_deref().expect("after")).expect("json");
        assert_eq!((after["password_changed"].as_bool(), after["sessions_ended"].as_u64()), (Some(true), Some(2)));
        assert!(!audited.after.as_deref().unwrap_or_default().contains("$argon2id$new"), "{}: no hash", b.name);

        // Signed in again with the new password, then disabled: the session ends, and
        // disabling again keeps the first time.
        store.create_console_session(session("s3", "usr_1")).await.expect("session");
        let disable = ConsoleUserChange { disabled: Some(true), ..Default::default() };
        let disabled = store.change_console_user("usr_1", disable.clone(), NOW + 5, audit("console_user.disable"));
        assert_eq!(disabled.await.expect("disabled").disabled_at, Some(NOW + 5), "{}", b.name);
        assert!(!live(store, "s3", NOW + 6).await, "{}: ended", b.name);
        let again = store.change_console_user("usr_1", disable, NOW + 7, audit("console_user.disable")).await;
        let again = again.expect("disabled again");
        assert_eq!((again.disabled_at, again.updated_at), (Some(NOW + 5), NOW + 7), "{}", b.name);
        let found = store.find_console_user(ConsoleArea::Operator, "ops@example.com").await.expect("find");
        assert_eq!(found.and_then(|u| u.disabled_at), Some(NOW + 5), "{}: found though disabled", b.name);

        let enable = ConsoleUserChange { disabled: Some(false), ..Default::default() };
        let enabled = store.change_console_user("usr_1", enable, NOW + 8, audit("console_user.enable")).await;
        assert_eq!(enabled.expect("enabled").disabled_at, None, "{}", b.name);
        assert!(!live(store, "s3", NOW + 9).await, "{}: an ended session stays ended", b.name);

        let unknown = store.change_console_user("usr_nobody", ConsoleUserChange::default(), NOW, audit("x")).await;
        assert_eq!(unknown, Err(StoreError::NotFound), "{}", b.name);
        assert_eq!(newest_audit(store).await.action, "console_user.enable", "{}: nothing audited", b.name);
    }
}

#[tokio::test]
async fn a_session_lives_until_its_idle_or_absolute_expiry_and_only_for_an_enabled_user() {
    for b in backends().await {
        let store = &*b.store;
        store.create_console_user(operator_user("usr_1", "ops@example.com"), None).await.expect("user");
        store.create_console_session(session("s1", "usr_1")).await.expect("session");
        let (found, user) = store.find_console_session("s1", NOW).await.expect("find").expect("live");
        assert_eq!(found, session("s1", "usr_1"), "{}", b.name);
        assert_eq!(user.id, "usr_1", "{}", b.name);
        assert!(live(store, "s1", NOW + 30 * MINUTE - 1).await, "{}", b.name);
        assert!(!live(store, "s1", NOW + 30 * MINUTE).await, "{}: idle", b.name);
        assert!(!live(store, "nothing", NOW).await, "{}", b.name);

        // Kept active, the session still ends at its absolute expiry.
        let long = ConsoleSession { expires_at: NOW + 24 * HOUR, ..session("s2", "usr_1") };
        store.create_console_session(long).await.expect("session");
        assert!(live(store, "s2", NOW + 12 * HOUR - 1).await, "{}", b.name);
        assert!(!live(store, "s2", NOW + 12 * HOUR).await, "{}: absolute", b.name);

        let again = store.create_console_session(session("s1", "usr_1")).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{}: {again:?}", b.name);
        let orphan = store.create_console_session(session("s3", "usr_nobody")).await;
        assert_eq!(orphan, Err(StoreError::NotFound), "{}", b.name);

        // A disabled user's session is not found.
        let disabled = ConsoleUser { disabled_at: Some(NOW - 1), ..operator_user("usr_2", "gone@example.com") };
        store.create_console_user(disabled, None).await.expect("disabled user");
        store.create_console_session(session("s4", "usr_2")).await.expect("session");
        assert!(!live(store, "s4", NOW).await, "{}: disabled", b.name);
    }
}

#[tokio::test]
async fn a_touch_moves_the_idle_expiry_never_past_the_absolute_one() {
    for b in backends().await {
        let store = &*b.store;
        store.create_console_user(operator_user("usr_1", "ops@example.com"), None).await.expect("user");
        store.create_console_session(session("s1", "usr_1")).await.expect("session");
        store.touch_console_session("s1", NOW + 20 * MINUTE, NOW + 50 * MINUTE).await.expect("touch");
        let (touched, _) = store.find_console_session("s1", NOW + 40 * MINUTE).await.expect("find").expect("live");
        assert_eq!((touched.last_seen_at, touched.expires_at), (NOW + 20 * MINUTE, NOW + 50 * MINUTE), "{}", b.name);
        assert_eq!(touched.absolute_expires_at, NOW + 12 * HOUR, "{}", b.name);

        store
            .touch_console_session("s1", NOW + 11 * HOUR + 50 * MINUTE, NOW + 12 * HOUR + 20 * MINUTE)
            .await
            .expect("touch");
        let (capped, _) = store.find_console_session("s1", NOW + 12 * HOUR - 1).await.expect("find").expect("live");
        assert_eq!(capped.expires_at, NOW + 12 * HOUR, "{}: capped", b.name);
        assert!(!live(store, "s1", NOW + 12 * HOUR).await, "{}", b.name);

        assert_eq!(store.touch_console_session("gone", NOW, NOW + HOUR).await, Ok(()), "{}", b.name);
        assert!(!live(store, "gone", NOW).await, "{}: a touch creates nothing", b.name);
    }
}

#[tokio::test]
async fn sign_out_is_idempotent_and_a_purge_counts_the_expired_sessions() {
    for b in backends().await {
        let store = &*b.store;
        store.create_console_user(operator_user("usr_1", "ops@example.com"), None).await.expect("user");
        store.create_console_session(session("s1", "usr_1")).await.expect("session");
        store.delete_console_session("s1").await.expect("signed out");
        assert!(!live(store, "s1", NOW).await, "{}", b.name);
        assert_eq!(store.delete_console_session("s1").await, Ok(()), "{}: again", b.name);
        assert_eq!(store.delete_console_session("never").await, Ok(()), "{}", b.name);

        let idle = ConsoleSession { expires_at: NOW + 10 * MINUTE, ..session("idle", "usr_1") };
        let ended =
            ConsoleSession { expires_at: NOW + 2 * HOUR, absolute_expires_at: NOW + HOUR, ..session("abs", "usr_1") };
        let at_edge = ConsoleSession { expires_at: NOW + HOUR, ..session("edge", "usr_1") };
        let fresh = ConsoleSession { expires_at: NOW + HOUR + 1, ..session("fresh", "usr_1") };
        for s in [idle, ended, at_edge, fresh] {
            store.create_console_session(s).await.expect("session");
        }
        assert_eq!(store.purge_console_sessions(NOW).await, Ok(0), "{}", b.name);
        assert_eq!(store.purge_console_sessions(NOW + HOUR).await, Ok(3), "{}", b.name);
        assert_eq!(store.purge_console_sessions(NOW + HOUR).await, Ok(0), "{}", b.name);
        assert!(live(store, "fresh", NOW + HOUR).await, "{}: the live one stays", b.name);
    }
}

#[tokio::test]
async fn erasure_takes_the_customers_console_users_and_their_sessions() {
    for b in backends().await {
        let store = &*b.store;
        let (acme, brc) = breached(store, "acme", 0).await;
        let other = customer(store, "other", 0).await;
        for user in [
            customer_user("usr_a1", &acme, "an@acme.example"),
            customer_user("usr_a2", &acme, "wu@acme.example"),
            customer_user("usr_b1", &other, "he@other.example"),
            operator_user("usr_o1", "ops@example.com"),
        ] {
            store.create_console_user(user, None).await.expect("user");
        }
        for (id_hash, user_id) in [("s_a1", "usr_a1"), ("s_a1b", "usr_a1"), ("s_b1", "usr_b1"), ("s_o1", "usr_o1")] {
            store.create_console_session(session(id_hash, user_id)).await.expect("session");
        }
        store.terminate(&brc, NOW + 15 * DAY, notice(&acme, "termination", "t"), audit("t")).await.expect("ended");
        let erased = store.erase_customer(&acme, NOW + 200 * DAY, audit("erase")).await.expect("erased");
        // Two notices (breach, termination), two users, two sessions.
        assert_eq!(erased, 6, "{}", b.name);
        assert!(store.list_console_users(ConsoleArea::Customer, Some(&acme)).await.expect("list").is_empty());
        assert_eq!(store.get_console_user("usr_a1").await, Err(StoreError::NotFound), "{}", b.name);
        let gone = store.find_console_user(ConsoleArea::Customer, "an@acme.example").await;
        assert_eq!(gone, Ok(None), "{}", b.name);
        assert!(!live(store, "s_a1", NOW).await && !live(store, "s_a1b", NOW).await, "{}", b.name);
        // The other customer's users and the operators stay, with their sessions.
        assert!(store.get_console_user("usr_b1").await.is_ok(), "{}", b.name);
        assert!(store.get_console_user("usr_o1").await.is_ok(), "{}", b.name);
        assert!(live(store, "s_b1", NOW).await && live(store, "s_o1", NOW).await, "{}", b.name);
    }
}

#[tokio::test]
async fn two_nodes_adding_the_same_email_at_once_store_one_user() {
    for n in two_nodes().await {
        for round in 0..5 {
            let barrier = Arc::new(Barrier::new(2));
            let email = format!("race{round}@example.com");
            let add = |store: Arc<dyn Store>, id: String| {
                let (barrier, email) = (barrier.clone(), email.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.create_console_user(operator_user(&id, &email), None).await
                })
            };
            let one = add(n.one.clone(), format!("usr_{round}_1"));
            let two = add(n.two.clone(), format!("usr_{round}_2"));
            let results = [one.await.expect("one"), two.await.expect("two")];
            assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{}: {results:?}", n.name);
            assert!(
                results.iter().any(|r| matches!(r, Err(StoreError::Conflict(_)))),
                "{}: the other is a conflict: {results:?}",
                n.name
            );
        }
        let users = n.one.list_console_users(ConsoleArea::Operator, None).await.expect("list");
        assert_eq!(users.len(), 5, "{}", n.name);
    }
}
