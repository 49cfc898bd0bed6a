//! Upgrades of an existing SQLite database: a database made by the previous version gets
//! the new migrations when it is opened, and keeps its data.

mod common;

use rusqlite::Connection;
use tongdao_store::sqlite::{SqliteStore, migrate};
use tongdao_store::*;

use common::store_with_balance;

#[tokio::test]
async fn a_database_at_schema_8_gets_the_console_tables_and_keeps_its_data() {
    let (dir, store) = store_with_balance(1_000_000).await;
    drop(store);
    let path = dir.path().join("t.db");
    // Back to schema 8: none of the tables of 0009, the migration not applied.
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(
        "DROP TABLE webhook_deliveries; DROP TABLE console_sessions; DROP TABLE console_users; \
         DELETE FROM schema_migrations WHERE version = 9",
    )
    .expect("back to 8");
    drop(conn);

    assert_eq!(migrate(&path).expect("migrate"), vec![9]);
    assert_eq!(migrate(&path).expect("again"), Vec::<i64>::new(), "applied once");
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.balance("cus_a").await.expect("balance").balance.micros(), 1_000_000, "the data stays");
    let user = ConsoleUser {
        id: "usr_1".into(),
        area: ConsoleArea::Customer,
        customer_id: Some("cus_a".into()),
        email: "Li@Example.com".into(),
        password_hash: "$argon2id$x".into(),
        role: "admin".into(),
        created_at: 1,
        updated_at: 1,
        disabled_at: None,
    };
    store.create_console_user(user, None).await.expect("a console user of the existing customer");
    let found = store.find_console_user(ConsoleArea::Customer, "li@example.com").await.expect("find");
    assert_eq!(found.map(|u| u.id).as_deref(), Some("usr_1"));
}

#[test]
fn the_console_tables_refuse_a_user_whose_area_and_customer_disagree() {
    // The CHECK is the backstop of the store's own check.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("t.db");
    migrate(&path).expect("migrate");
    let conn = Connection::open(&path).expect("open");
    let insert = |area: &str, customer: Option<&str>| {
        conn.execute(
            "INSERT INTO console_users (id, area, customer_id, email, password_hash, role, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'a@example.com', 'h', 'admin', 0, 0)",
            rusqlite::params![format!("usr_{area}"), area, customer],
        )
    };
    assert!(insert("customer", None).is_err(), "a customer user without a customer");
    assert!(insert("operator", Some("cus_x")).is_err(), "an operator user with a customer");
    assert!(insert("somewhere", None).is_err(), "an unknown area");
    assert!(insert("operator", None).is_ok());
}
