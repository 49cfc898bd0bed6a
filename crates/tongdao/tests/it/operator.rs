//! The operator's verbs: customers, keys, the demo, and the token.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_other_keys_keep_working() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let (status, second) =
        gw.admin(Method::POST, &format!("/customers/{}/keys", alice.id), Some(json!({"label": "backup"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let second_key = second["secret"].as_str().expect("secret").to_owned();
    let (status, _) = gw.send_text(&alice, "13800138000", "warm the cache").await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (_, keys) = gw.admin(Method::GET, &format!("/customers/{}/keys", alice.id), None).await;
    let keys = keys["keys"].as_array().expect("keys").clone();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.get("secret").is_none()), "secrets are shown once, never listed");
    let first_id = keys[0]["id"].as_str().expect("id");
    let (status, revoked) = gw.admin(Method::DELETE, &format!("/customers/{}/keys/{first_id}", alice.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());

    let (status, body) = gw.send_text(&alice, "13800138000", "after revocation").await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (status, _) = gw.as_customer(&second_key, Method::GET, "/balance", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = gw.admin(Method::DELETE, &format!("/customers/{}/keys/key_unknown", alice.id), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn customers_are_created_once_per_name_and_found_by_id_or_name() {
    let gw = TestGateway::spawn().await;
    let (status, created) = gw
        .admin(
            Method::POST,
            "/customers",
            Some(json!({"name": "acme", "address": "1 Road", "contact": "ops@acme.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["balance"], "0.0000");
    let (status, body) = gw.admin(Method::POST, "/customers", Some(json!({"name": "acme"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "conflict"));
    let (status, body) = gw.admin(Method::POST, "/customers", Some(json!({"name": "has space"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("name")));
    let (_, by_name) = gw.admin(Method::GET, "/customers/acme", None).await;
    let (_, by_id) = gw.admin(Method::GET, &format!("/customers/{}", created["id"].as_str().expect("id")), None).await;
    assert_eq!(by_name, by_id);
    assert_eq!(by_name["contact"], "ops@acme.example");
    let (status, _) = gw.admin(Method::GET, "/customers/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = gw.admin(Method::GET, "/customers", None).await;
    assert_eq!(list["customers"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_operator_api_needs_the_operator_token() {
    let gw = TestGateway::spawn().await;
    for bearer in [None, Some("tdo_wrong")] {
        let (status, body) = gw.request(bearer, Method::GET, "/admin/v1/customers", None).await;
        assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(gw.config.operator_token_path()).expect("file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the operator token file is private");
}

#[tokio::test]
async fn the_demo_setup_is_idempotent() {
    let gw = TestGateway::spawn().await;
    let key = tongdao::demo::ensure_demo(gw.platform(), &gw.config).await.expect("demo");
    let again = tongdao::demo::ensure_demo(gw.platform(), &gw.config).await.expect("demo again");
    assert_eq!(key, again, "the demo key is kept");
    let file = std::fs::read_to_string(gw.config.demo_key_path()).expect("demo.key");
    assert_eq!(file, format!("{key}\n"), "the key alone on one line");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(gw.config.demo_key_path()).expect("file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let demo = Sender { id: "demo".into(), name: "demo".into(), key: key.clone(), agreement_id: String::new() };
    assert_eq!(gw.balance(&demo).await, "100.0000", "topped up once");
    let (_, agreement) = gw.as_customer(&key, Method::GET, "/agreement", None).await;
    assert_eq!(agreement["state"], "active");
    assert_eq!(
        (
            agreement["maintenance_notice_days"].as_u64(),
            agreement["log_retention_months"].as_u64(),
            agreement["cure_days"].as_u64()
        ),
        (Some(3), Some(6), Some(15))
    );
    assert_eq!((agreement["scope_policy"].as_str(), agreement["charge_on"].as_str()), (Some("audit"), Some("submit")));
    assert_eq!(agreement["ends_at"], "2027-05-31T16:00:00.000Z", "one year from today");
    let (status, body) = gw.send_text(&demo, "+86 138-0013-8000", "hello from the demo").await;
    assert_eq!((status, body["messages"][0]["price"].as_str()), (StatusCode::ACCEPTED, Some("0.0450")));
    for number in ["18600000000", "18900000000", "19200000000"] {
        let (status, _) = gw.send_text(&demo, number, "every Chinese carrier is priced").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{number}");
    }
    let (_, agreements) = gw.admin(Method::GET, "/customers/demo/agreements", None).await;
    assert_eq!(agreements["agreements"].as_array().map(Vec::len), Some(1), "no second agreement on a repeat");
}

#[tokio::test]
async fn the_demo_smpp_credentials_are_written_private_and_kept() {
    let gw = TestGateway::spawn().await;
    tongdao::demo::ensure_demo(gw.platform(), &gw.config).await.expect("demo");
    let (system_id, password) = tongdao::demo::ensure_demo_smpp(gw.platform(), &gw.config).await.expect("smpp");
    let path = gw.config.demo_smpp_path();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("demo.smpp")).expect("json");
    assert_eq!(file, json!({"system_id": system_id, "password": password}));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).expect("file").permissions());
    assert_eq!(mode & 0o777, 0o600);
    let again = tongdao::demo::ensure_demo_smpp(gw.platform(), &gw.config).await.expect("again");
    assert_eq!(again, (system_id.clone(), password.clone()), "kept while it still binds");
    // The file lost: the account gets a new password, written again.
    std::fs::remove_file(&path).expect("removed");
    let renewed = tongdao::demo::ensure_demo_smpp(gw.platform(), &gw.config).await.expect("renewed");
    assert_eq!(renewed.0, system_id);
    assert_ne!(renewed.1, password);
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    assert!(gw.platform().authenticate_smpp(&renewed.0, &renewed.1, loopback).await.is_ok());
    assert!(gw.platform().authenticate_smpp(&system_id, &password, loopback).await.is_err());
}

#[tokio::test]
async fn every_operator_action_is_in_the_audit_trail_without_secrets() {
    let gw = TestGateway::spawn().await;
    let alice = gw.onboard("alice", "10").await;
    let (status, adjusted) = gw
        .admin(
            Method::POST,
            &format!("/customers/{}/adjustments", alice.id),
            Some(json!({"amount": "-1.5", "reason": "goodwill reversed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{adjusted}");
    let (_, key) = gw.admin(Method::POST, &format!("/customers/{}/keys", alice.id), Some(json!({"label": "ci"}))).await;
    let key_id = key["id"].as_str().expect("id");
    let secret = key["secret"].as_str().expect("secret");
    assert_eq!(
        gw.admin(Method::DELETE, &format!("/customers/{}/keys/{key_id}", alice.id), None).await.0,
        StatusCode::OK
    );
    let numbers = format!("/customers/{}/numbers", alice.id);
    assert_eq!(gw.admin(Method::POST, &numbers, Some(json!({"number": "10690042"}))).await.0, StatusCode::CREATED);
    assert_eq!(gw.admin(Method::DELETE, &format!("{numbers}/10690042"), None).await.0, StatusCode::NO_CONTENT);
    let accounts = format!("/customers/{}/smpp-accounts", alice.id);
    let (status, account) = gw.admin(Method::POST, &accounts, Some(json!({"password": "s3cretpw"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let system_id = account["account"]["system_id"].as_str().expect("system_id");
    let path = format!("{accounts}/{system_id}");
    assert_eq!(gw.admin(Method::PATCH, &path, Some(json!({"password": "an0ther", "tps": 7}))).await.0, StatusCode::OK);
    assert_eq!(gw.admin(Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);

    let (status, audit) = gw.admin(Method::GET, "/audit?limit=100", None).await;
    assert_eq!(status, StatusCode::OK);
    let entries = audit["entries"].as_array().expect("entries");
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in [
        "customer.create",
        "tariff.put",
        "api_key.create",
        "agreement.create",
        "agreement.sign",
        "ledger.topup",
        "ledger.adjustment",
        "api_key.revoke",
        "number.add",
        "number.remove",
        "smpp_account.create",
        "smpp_account.update",
        "smpp_account.delete",
    ] {
        assert!(actions.contains(&action), "{action} is audited: {actions:?}");
    }
    // Who, what, when, and before and after where there is a record.
    let update = entries.iter().find(|e| e["action"] == "smpp_account.update").expect("update");
    assert_eq!((update["actor"].as_str(), update["target"].as_str()), (Some("operator"), Some(system_id)));
    assert_eq!((update["before"]["tps"].as_u64(), update["after"]["tps"].as_u64()), (Some(200), Some(7)), "{update}");
    assert_eq!(update["after"]["password_changed"], json!(true));
    let adjustment = entries.iter().find(|e| e["action"] == "ledger.adjustment").expect("adjustment");
    assert_eq!(adjustment["after"]["amount"], json!("-1.5000"), "{adjustment}");
    let text = audit.to_string();
    for secret in [secret, "s3cretpw", "an0ther"] {
        assert!(!text.contains(secret), "no secret in the audit trail");
    }
}
