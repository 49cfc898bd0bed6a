//! `--demo`: the customer `demo`, ready to send, created once and found again on every
//! later start (idempotent).
//!
//! It gets an active, accepted agreement (1 year from today, maintenance notice 3 days,
//! retention 6 months, cure 15 days, scope `audit`, charge on `submit`), a tariff of
//! ¥0.0450 per billable segment for every Chinese mobile carrier, a ¥100.0000 top-up
//! (once: the top-up reference makes it idempotent), and an API key in
//! `<data-dir>/demo.key` (mode 0600), and SMPP credentials (system_id `demo`) in
//! `<data-dir>/demo.smpp` as `{"system_id": "…", "password": "…"}` (mode 0600).

use anyhow::anyhow;
use tongdao_domain::agreement::{AgreementChange, AgreementTerms, ChargeOn, ScopePolicy, cst_date, in_force};
use tongdao_domain::{ComplianceTerms, ErrorCode, FrequencyLimits, Money, Tariff};
use tongdao_pipeline::Platform;
use tongdao_pipeline::users::{ConsoleArea, UserUpdate};

use crate::config::Config;
use crate::files;

pub const DEMO_CUSTOMER: &str = "demo";
pub const DEMO_TERMS_VERSION: &str = "demo-1";
const DEMO_TOPUP_REFERENCE: &str = "demo-initial-topup";
const CARRIERS: [&str; 4] = ["mobile", "unicom", "telecom", "broadnet"];

fn fail(r: tongdao_domain::Rejection) -> anyhow::Error {
    anyhow!("{r}")
}

/// Sets up (or finds) the demo customer; returns its API key.
pub async fn ensure_demo(platform: &Platform, config: &Config) -> anyhow::Result<String> {
    let customer = match platform.customer(DEMO_CUSTOMER).await {
        Ok(customer) => customer,
        Err(r) if r.code == ErrorCode::NotFound => platform
            .create_customer(DEMO_CUSTOMER, "1 Demo Road, Shanghai", "developer@demo.example")
            .await
            .map_err(fail)?,
        Err(r) => return Err(fail(r)),
    };
    let now = platform.now_ms();
    let agreements = platform.agreements(&customer.id).await.map_err(fail)?;
    // A suspended customer keeps its agreement: only the operator's resume lifts it.
    let needs_agreement = matches!(in_force(&agreements, now), Err(r) if r.code != ErrorCode::AccountSuspended);
    if needs_agreement {
        let terms = AgreementTerms {
            provider_name: config.provider.name.clone(),
            provider_address: config.provider.address.clone(),
            customer_name: "Demo Enterprise Ltd.".into(),
            customer_address: customer.address.clone(),
            effective_from: cst_date(now),
            term_years: 1,
            maintenance_notice_days: 3,
            log_retention_months: 6,
            cure_days: 15,
            scope_policy: ScopePolicy::Audit,
            charge_on: ChargeOn::Submit,
            max_segments: tongdao_domain::message::DEFAULT_MAX_SEGMENTS,
            terms_version: DEMO_TERMS_VERSION.into(),
            // The demo sends to the same few numbers over and over (the quickstart, the
            // benchmarks): no frequency limits. A real agreement gets 1 / 5 / 10 unless it says.
            compliance: ComplianceTerms { frequency: FrequencyLimits::NONE, ..ComplianceTerms::default() },
        };
        let agreement = platform.create_agreement(&customer.id, terms).await.map_err(fail)?;
        platform.change_agreement(&agreement.id, AgreementChange::Sign).await.map_err(fail)?;
        platform.accept_agreement(&customer.id, DEMO_TERMS_VERSION).await.map_err(fail)?;
    }
    let price = Money::parse("0.0450").map_err(|e| anyhow!("{e}"))?;
    platform.set_tariff(&customer.id, Tariff::per_carrier(&CARRIERS, price)).await.map_err(fail)?;
    let hundred = Money::parse("100.0000").map_err(|e| anyhow!("{e}"))?;
    platform.top_up(&customer.id, hundred, Some(DEMO_TOPUP_REFERENCE)).await.map_err(fail)?;

    let path = config.demo_key_path();
    if let Some(key) = files::read_secret(&path)?
        && platform.authenticate_customer(&key).await.as_deref() == Ok(customer.id.as_str())
    {
        return Ok(key);
    }
    let key = platform.create_api_key(&customer.id, "demo", 0).await.map_err(fail)?;
    files::write_secret(&path, &key.secret)?;
    Ok(key.secret)
}

pub const DEMO_SYSTEM_ID: &str = "demo";

/// The demo customer's SMPP credentials, written to `<data-dir>/demo.smpp`; kept when the
/// file still holds a password that binds. Returns (system_id, password).
pub async fn ensure_demo_smpp(platform: &Platform, config: &Config) -> anyhow::Result<(String, String)> {
    let path = config.demo_smpp_path();
    let kept: Option<serde_json::Value> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    let kept_password = kept.as_ref().and_then(|v| v["password"].as_str()).map(str::to_owned);
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    if let Some(password) = &kept_password
        && platform.authenticate_smpp(DEMO_SYSTEM_ID, password, loopback).await.is_ok()
    {
        return Ok((DEMO_SYSTEM_ID.to_owned(), password.clone()));
    }
    let request = tongdao_pipeline::smpp::SmppAccountRequest {
        system_id: Some(DEMO_SYSTEM_ID.into()),
        // No limit on the demo: benchmarks and tests bind it at full speed.
        tps: Some(0),
        max_binds: Some(8),
        ..Default::default()
    };
    let password = match platform.create_smpp_account(DEMO_CUSTOMER, request).await {
        Ok((_, password)) => password,
        // The account exists but the file is gone or stale: give it a new password.
        Err(r) if r.code == ErrorCode::Conflict => {
            let password = tongdao_pipeline::smpp::generate_password();
            let change =
                tongdao_pipeline::smpp::SmppAccountRequest { password: Some(password.clone()), ..Default::default() };
            platform.update_smpp_account(DEMO_CUSTOMER, DEMO_SYSTEM_ID, change).await.map_err(fail)?;
            password
        }
        Err(r) => return Err(fail(r)),
    };
    let json = serde_json::json!({ "system_id": DEMO_SYSTEM_ID, "password": password });
    files::write_secret(&path, &json.to_string())?;
    Ok((DEMO_SYSTEM_ID.to_owned(), password))
}

/// `--demo`'s console users: `ops@demo` (operator, admin) and `dev@demo` (the demo
/// customer's admin).
pub const DEMO_USERS: [(ConsoleArea, &str, &str); 2] =
    [(ConsoleArea::Operator, "ops@demo", "admin"), (ConsoleArea::Customer, "dev@demo", "admin")];

/// Creates (or finds) the demo's console users and writes their passwords to
/// `<data-dir>/demo.users` (mode 0600); a password in the file that still signs in is kept.
/// Returns the users' e-mails and passwords.
pub async fn ensure_demo_users(platform: &Platform, config: &Config) -> anyhow::Result<Vec<(String, String)>> {
    let path = config.demo_users_path();
    let kept: serde_json::Map<String, serde_json::Value> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    let mut out = Vec::new();
    for (area, email, role) in DEMO_USERS {
        let old = kept.get(email).and_then(|v| v.as_str()).map(str::to_owned);
        let works = match &old {
            Some(password) => platform.console_password_works(area, email, password).await,
            None => false,
        };
        let password = match old {
            Some(password) if works => password,
            _ => {
                let customer = (area == ConsoleArea::Customer).then_some(DEMO_CUSTOMER);
                let existing = platform.console_users(area, None).await.map_err(fail)?;
                match existing.iter().find(|u| u.email == email) {
                    None => {
                        let (_, generated) =
                            platform.create_console_user(area, customer, email, role, None).await.map_err(fail)?;
                        generated.ok_or_else(|| anyhow!("no password was generated for {email}"))?
                    }
                    Some(user) => {
                        // The user exists but the file is gone or stale: a new password.
                        let password =
                            tongdao_pipeline::credentials::new_secret("").chars().take(16).collect::<String>();
                        let password = password.to_lowercase();
                        let update = UserUpdate {
                            password: Some(password.clone()),
                            disabled: Some(false),
                            ..UserUpdate::default()
                        };
                        platform.change_console_user(&user.id, update, None).await.map_err(fail)?;
                        password
                    }
                }
            }
        };
        out.push((email.to_owned(), password));
    }
    let json: serde_json::Map<String, serde_json::Value> =
        out.iter().map(|(e, p)| (e.clone(), serde_json::Value::String(p.clone()))).collect();
    files::write_secret(&path, &serde_json::Value::Object(json).to_string())?;
    Ok(out)
}
