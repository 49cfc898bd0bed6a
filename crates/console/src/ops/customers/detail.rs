//! `/ops/customers/{id}`: one customer — details, balance, agreement versions, tariff,
//! top-ups and adjustments, keys, numbers, SMPP accounts, notice settings and its console
//! users — and every form on it, posted to `/ops/customers/{id}/{action}`.
//!
//! A form that succeeds redirects back with `?done=<action>`; one that shows a secret (a
//! key, an SMPP or console password) renders the page with it, since a secret must never
//! travel in a URL; a refusal renders the page with it shown on that form.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use tongdao_api::AppState;
use tongdao_domain::agreement::{AgreementChange, AgreementTerms, ChargeOn, ComplianceTerms, ScopePolicy};
use tongdao_domain::console::OpsArea;
use tongdao_domain::tariff::TariffRule;
use tongdao_domain::{Carrier, ErrorCode, Money, Rejection, Tariff, period};
use tongdao_pipeline::Platform;
use tongdao_pipeline::smpp::{SmppAccountRequest, SmppAccountView};
use tongdao_pipeline::users::{ConsoleArea, UserUpdate};
use tongdao_store::Customer;

use super::forms::{Fields, Shown, act};
use crate::i18n::Lang;
use crate::page::{self, Chrome, OrPage, PageError, PageResult, when};
use crate::web::Operator;

/// Every form of the page: its action (the last path segment, and the form's name for
/// [`Shown`]) and the area its role must be allowed to change.
const ACTIONS: &[(&str, OpsArea)] = &[
    ("create-agreement", OpsArea::Customers),
    ("sign", OpsArea::Customers),
    ("suspend", OpsArea::Customers),
    ("resume", OpsArea::Customers),
    ("terminate", OpsArea::Customers),
    ("tariff", OpsArea::Tariffs),
    ("topup", OpsArea::Money),
    ("adjust", OpsArea::Money),
    ("low-balance", OpsArea::Money),
    ("notice-email", OpsArea::Customers),
    ("create-key", OpsArea::Customers),
    ("revoke-key", OpsArea::Customers),
    ("add-number", OpsArea::Customers),
    ("remove-number", OpsArea::Customers),
    ("create-smpp", OpsArea::Customers),
    ("delete-smpp", OpsArea::Customers),
    ("add-user", OpsArea::Customers),
    ("disable-user", OpsArea::Customers),
    ("enable-user", OpsArea::Customers),
];

/// What a form's success says, after the redirect.
fn done_text(lang: Lang, done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => lang.t("The customer was added."),
        "create-agreement" => lang.t("A new agreement version was drafted."),
        "sign" => lang.t("The agreement was signed."),
        "suspend" => lang.t("The service was suspended."),
        "resume" => lang.t("The service was resumed."),
        "terminate" => lang.t("The agreement was terminated."),
        "tariff" => lang.t("The tariff was saved."),
        "topup" => lang.t("The top-up was booked."),
        "adjust" => lang.t("The adjustment was booked."),
        "low-balance" | "notice-email" => lang.t("The setting was saved."),
        "revoke-key" => lang.t("The key was revoked."),
        "add-number" => lang.t("The number was added."),
        "remove-number" => lang.t("The number was removed."),
        "delete-smpp" => lang.t("The SMPP account was deleted."),
        "disable-user" => lang.t("The user was disabled."),
        "enable-user" => lang.t("The user was enabled."),
        _ => return None,
    })
}

#[derive(Debug, Clone)]
pub struct AgreementRow {
    pub id: String,
    pub version: u32,
    pub state: &'static str,
    pub terms_version: String,
    pub effective_from: String,
    pub ends: String,
    pub signed: String,
    pub accepted: String,
    /// Why it was suspended or terminated.
    pub reason: String,
    pub signable: bool,
}

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub label: String,
    pub rps: u32,
    pub created: String,
    pub revoked: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created: String,
}

impl From<tongdao_pipeline::users::ConsoleUser> for UserRow {
    fn from(u: tongdao_pipeline::users::ConsoleUser) -> Self {
        UserRow {
            id: u.id,
            email: u.email,
            role: u.role,
            disabled: u.disabled_at.is_some(),
            created: when(u.created_at),
        }
    }
}

/// A secret shown this once, in the element `id`.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: &'static str,
    /// What it is, in the reader's language.
    pub what: &'static str,
    /// Whose it is: the key's id, the SMPP system_id, the user's e-mail.
    pub of: String,
    pub secret: String,
}

/// Which parts the role sees and which forms it gets.
#[derive(Debug, Clone, Copy)]
pub struct May {
    pub customers: bool,
    pub money_read: bool,
    pub money: bool,
    pub tariffs_read: bool,
    pub tariffs: bool,
}

#[derive(Template)]
#[template(path = "ops/customer.html")]
struct CustomerPage {
    c: Chrome,
    cu: Customer,
    created: String,
    threshold: String,
    notice_email: String,
    agreements: Vec<AgreementRow>,
    /// The latest version's state, `none` without one.
    status: &'static str,
    suspend_target: Option<String>,
    resume_target: Option<String>,
    terminate_target: Option<String>,
    /// The new version form's starting values: the latest version's terms.
    terms: Fields,
    tariff_default: String,
    tariff_rules: String,
    keys: Vec<KeyRow>,
    numbers: Vec<(String, String)>,
    smpp: Vec<SmppAccountView>,
    users: Vec<UserRow>,
    may: May,
    shown: Shown,
    done: Option<&'static str>,
    secret: Option<NewSecret>,
}

fn opt_when(ms: Option<i64>) -> String {
    ms.map(when).unwrap_or_default()
}

/// The latest version's terms as the new version form starts with them, or a blank set
/// with the usual values.
fn starting_terms(cu: &Customer, latest: Option<&AgreementTerms>, now: i64) -> Fields {
    let f = |k: &str, v: String| (k.to_owned(), v);
    let today = period::format_day(tongdao_domain::agreement::cst_date(now));
    let fields = match latest {
        Some(t) => vec![
            f("provider_name", t.provider_name.clone()),
            f("provider_address", t.provider_address.clone()),
            f("customer_name", t.customer_name.clone()),
            f("customer_address", t.customer_address.clone()),
            f("effective_from", period::format_day(t.effective_from)),
            f("term_years", t.term_years.to_string()),
            f("maintenance_notice_days", t.maintenance_notice_days.to_string()),
            f("log_retention_months", t.log_retention_months.to_string()),
            f("cure_days", t.cure_days.to_string()),
            f("scope_policy", scope_str(t.scope_policy).to_owned()),
            f("charge_on", charge_str(t.charge_on).to_owned()),
            f("max_segments", t.max_segments.to_string()),
            f("terms_version", t.terms_version.clone()),
        ],
        None => vec![
            f("customer_name", cu.name.clone()),
            f("customer_address", cu.address.clone()),
            f("effective_from", today),
            f("term_years", "1".into()),
            f("maintenance_notice_days", "3".into()),
            f("log_retention_months", "6".into()),
            f("cure_days", "15".into()),
            f("scope_policy", "audit".into()),
            f("charge_on", "submit".into()),
            f("max_segments", tongdao_domain::message::DEFAULT_MAX_SEGMENTS.to_string()),
            f("terms_version", "v1".into()),
        ],
    };
    Fields(fields)
}

fn scope_str(s: ScopePolicy) -> &'static str {
    match s {
        ScopePolicy::Enforce => "enforce",
        ScopePolicy::Audit => "audit",
    }
}

fn charge_str(c: ChargeOn) -> &'static str {
    match c {
        ChargeOn::Submit => "submit",
        ChargeOn::Delivery => "delivery",
    }
}

/// The main terms from the form; clause 2's compliance terms carry over from the latest
/// version (the API takes them whole; the form keeps to the main terms).
fn parse_terms(fields: &Fields, compliance: ComplianceTerms) -> Result<AgreementTerms, Rejection> {
    let effective_from = period::parse_day(fields.get("effective_from").trim())
        .ok_or_else(|| Rejection::invalid("effective_from", "effective_from must be a date YYYY-MM-DD"))?;
    let scope_policy = match fields.get("scope_policy") {
        "enforce" => ScopePolicy::Enforce,
        "audit" => ScopePolicy::Audit,
        _ => return Err(Rejection::invalid("scope_policy", "scope_policy is enforce or audit")),
    };
    let charge_on = match fields.get("charge_on") {
        "submit" => ChargeOn::Submit,
        "delivery" => ChargeOn::Delivery,
        _ => return Err(Rejection::invalid("charge_on", "charge_on is submit or delivery")),
    };
    Ok(AgreementTerms {
        provider_name: fields.get("provider_name").trim().to_owned(),
        provider_address: fields.get("provider_address").trim().to_owned(),
        customer_name: fields.get("customer_name").trim().to_owned(),
        customer_address: fields.get("customer_address").trim().to_owned(),
        effective_from,
        term_years: fields.number("term_years", None)?,
        maintenance_notice_days: fields.number("maintenance_notice_days", None)?,
        log_retention_months: fields.number("log_retention_months", None)?,
        cure_days: fields.number("cure_days", None)?,
        scope_policy,
        charge_on,
        max_segments: fields.number("max_segments", Some(tongdao_domain::message::DEFAULT_MAX_SEGMENTS))?,
        terms_version: fields.get("terms_version").trim().to_owned(),
        compliance,
    })
}

/// The tariff as the form writes it: one rule a line, a carrier name or a number prefix
/// (`+86138`), then the price per segment.
fn tariff_text(tariff: &Tariff) -> String {
    tariff
        .rules
        .iter()
        .map(|r| {
            let target = r.carrier.as_ref().map(|c| c.as_str().to_owned()).or_else(|| r.prefix.clone());
            format!("{} {}", target.unwrap_or_default(), r.price)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_tariff(fields: &Fields) -> Result<Tariff, Rejection> {
    let default = fields.opt_money("default")?;
    let mut rules = Vec::new();
    for (i, line) in fields.get("rules").lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = |why: &str| Rejection::invalid("rules", format!("line {}: {why}", i + 1));
        let (target, price) = match words.as_slice() {
            [] => continue,
            [target, price] => (*target, *price),
            _ => return Err(bad("a carrier or a prefix, then a price, such as `mobile 0.0450`")),
        };
        let price = Money::parse(price).map_err(|_| bad("the price must be an amount such as 0.0450"))?;
        let rule = if target.starts_with('+') || target.starts_with(|c: char| c.is_ascii_digit()) {
            TariffRule { carrier: None, prefix: Some(target.to_owned()), price }
        } else {
            let carrier = Carrier::parse(target).map_err(|e| bad(&e.to_string()))?;
            TariffRule { carrier: Some(carrier), prefix: None, price }
        };
        rules.push(rule);
    }
    Ok(Tariff { default, rules })
}

async fn render(
    state: &AppState,
    op: &Operator,
    cu: Customer,
    shown: Shown,
    done: Option<&str>,
    secret: Option<NewSecret>,
) -> PageResult {
    let (platform, visit) = (&state.platform, &op.visit);
    let now = platform.now_ms();
    let may = May {
        customers: op.role.may_write(OpsArea::Customers),
        money_read: op.role.may_read(OpsArea::Money),
        money: op.role.may_write(OpsArea::Money),
        tariffs_read: op.role.may_read(OpsArea::Tariffs),
        tariffs: op.role.may_write(OpsArea::Tariffs),
    };
    let agreements = platform.agreements(&cu.id).await.or_page(visit)?;
    let live = |a: &&tongdao_domain::agreement::Agreement| a.terminated_at.is_none();
    let resume_target = agreements.iter().rev().filter(live).find(|a| a.suspended_at.is_some()).map(|a| a.id.clone());
    let suspend_target = match resume_target {
        Some(_) => None,
        None => agreements.iter().rev().filter(live).find(|a| a.signed_at.is_some()).map(|a| a.id.clone()),
    };
    let terminate_target = agreements.iter().rev().find(live).map(|a| a.id.clone());
    let terms = starting_terms(&cu, agreements.last().map(|a| &a.terms), now);
    let rows: Vec<AgreementRow> = agreements
        .iter()
        .rev()
        .map(|a| AgreementRow {
            id: a.id.clone(),
            version: a.version,
            state: a.state(now).as_str(),
            terms_version: a.terms.terms_version.clone(),
            effective_from: period::format_day(a.terms.effective_from),
            ends: when(a.terms.ends_at_ms()),
            signed: opt_when(a.signed_at),
            accepted: opt_when(a.accepted_at),
            reason: a.termination_reason.clone().or_else(|| a.suspension_reason.clone()).unwrap_or_default(),
            signable: a.signed_at.is_none() && a.terminated_at.is_none(),
        })
        .collect();
    let (tariff_default, tariff_rules) = if may.tariffs_read {
        let tariff = platform.tariff(&cu.id).await.or_page(visit)?;
        (tariff.default.map(|m| m.to_string()).unwrap_or_default(), tariff_text(&tariff))
    } else {
        (String::new(), String::new())
    };
    let keys = platform
        .api_keys(&cu.id)
        .await
        .or_page(visit)?
        .into_iter()
        .map(|k| KeyRow {
            id: k.id,
            label: k.label,
            rps: k.rps,
            created: when(k.created_at),
            revoked: k.revoked_at.map(when),
        })
        .collect();
    let numbers =
        platform.numbers(&cu.id).await.or_page(visit)?.into_iter().map(|n| (n.number, when(n.created_at))).collect();
    let smpp = platform.smpp_accounts(&cu.id).await.or_page(visit)?;
    let users = platform
        .console_users(ConsoleArea::Customer, Some(&cu.id))
        .await
        .or_page(visit)?
        .into_iter()
        .map(UserRow::from)
        .collect();
    let status = shown.problems.status();
    let page = CustomerPage {
        c: op.chrome("Customer"),
        created: when(cu.created_at),
        threshold: cu.low_balance_threshold.map(|m| m.to_string()).unwrap_or_default(),
        notice_email: cu.notice_email.clone().unwrap_or_default(),
        cu,
        status: rows.first().map_or("none", |r| r.state),
        agreements: rows,
        suspend_target,
        resume_target,
        terminate_target,
        terms,
        tariff_default,
        tariff_rules,
        keys,
        numbers,
        smpp,
        users,
        may,
        shown,
        done: done.and_then(|d| done_text(op.visit.lang, d)),
        secret,
    };
    Ok(page::render_with(status, &page))
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

impl DoneQuery {
    pub fn done(&self) -> Option<&str> {
        self.done.as_deref()
    }
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    op.read(OpsArea::Customers).or_page(&op.visit)?;
    let cu = state.platform.customer(&id).await.or_page(&op.visit)?;
    render(&state, &op, cu, Shown::default(), query.done.as_deref(), None).await
}

/// What a form did: nothing more to show, or a secret to show once.
enum Outcome {
    Done,
    Secret(NewSecret),
}

fn not_found(what: &str) -> Rejection {
    Rejection::new(ErrorCode::NotFound, format!("this customer has no such {what}"))
}

/// The agreement named by the form, when it is this customer's.
async fn own_agreement(platform: &Platform, cu: &Customer, fields: &Fields) -> Result<String, Rejection> {
    let id = fields.get("agreement");
    match platform.agreement(id).await {
        Ok(a) if a.customer_id == cu.id => Ok(a.id),
        Ok(_) => Err(not_found("agreement")),
        Err(r) => Err(r),
    }
}

async fn run(platform: &Platform, lang: Lang, cu: &Customer, action: &str, f: &Fields) -> Result<Outcome, Rejection> {
    let id = cu.id.as_str();
    match action {
        "create-agreement" => {
            let compliance = platform.agreements(id).await?.last().map(|a| a.terms.compliance).unwrap_or_default();
            platform.create_agreement(id, parse_terms(f, compliance)?).await?;
        }
        "sign" | "suspend" | "resume" | "terminate" => {
            let agreement = own_agreement(platform, cu, f).await?;
            let reason = || {
                f.opt("reason")
                    .map(str::to_owned)
                    .ok_or_else(|| Rejection::invalid("reason", "give the reason the customer will be told"))
            };
            let change = match action {
                "sign" => AgreementChange::Sign,
                "suspend" => AgreementChange::Suspend { reason: reason()? },
                "resume" => AgreementChange::Resume,
                _ => AgreementChange::Terminate { reason: reason()? },
            };
            platform.change_agreement(&agreement, change).await?;
        }
        "tariff" => {
            platform.set_tariff(id, parse_tariff(f)?).await?;
        }
        "topup" => {
            platform.top_up(id, f.money("amount")?, f.opt("reference")).await?;
        }
        "adjust" => {
            platform.adjust(id, f.money("amount")?, f.get("reason"), f.opt("ticket")).await?;
        }
        "low-balance" => {
            platform.set_low_balance_threshold(id, f.opt_money("threshold")?).await?;
        }
        "notice-email" => {
            platform.set_notice_email(id, f.opt("email")).await?;
        }
        "create-key" => {
            let key = platform.create_api_key(id, f.get("label").trim(), f.number("rps", Some(0))?).await?;
            let what = lang.t("The new API key. Copy it now: it is not shown again.");
            return Ok(Outcome::Secret(NewSecret {
                id: "new-key-secret",
                what,
                of: key.record.id,
                secret: key.secret,
            }));
        }
        "revoke-key" => {
            platform.revoke_api_key(id, f.get("key")).await?;
        }
        "add-number" => {
            platform.add_number(id, f.get("number").trim()).await?;
        }
        "remove-number" => {
            platform.remove_number(id, f.get("number")).await?;
        }
        "create-smpp" => {
            let ips: Vec<String> = f
                .get("allowed_ips")
                .split([',', ' ', '\n', '\r'])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let request = SmppAccountRequest {
                system_id: f.opt("system_id").map(str::to_owned),
                password: None,
                allowed_ips: Some(ips),
                max_binds: f.opt("max_binds").map(|_| f.number("max_binds", None)).transpose()?,
                tps: f.opt("tps").map(|_| f.number("tps", None)).transpose()?,
            };
            let (account, password) = platform.create_smpp_account(id, request).await?;
            let what = lang.t("The new SMPP password. Copy it now: it is not shown again.");
            return Ok(Outcome::Secret(NewSecret {
                id: "new-smpp-password",
                what,
                of: account.system_id,
                secret: password,
            }));
        }
        "delete-smpp" => {
            platform.delete_smpp_account(id, f.get("system_id")).await?;
        }
        "add-user" => {
            let (user, password) = platform
                .create_console_user(ConsoleArea::Customer, Some(id), f.get("email"), f.get("role"), None)
                .await?;
            let what = lang.t("The new user's password. Copy it now: it is not shown again.");
            let secret = password.unwrap_or_default();
            return Ok(Outcome::Secret(NewSecret { id: "new-password", what, of: user.email, secret }));
        }
        "disable-user" | "enable-user" => {
            let update = UserUpdate { disabled: Some(action == "disable-user"), ..UserUpdate::default() };
            platform.change_console_user(f.get("user"), update, Some(id)).await?;
        }
        _ => return Err(Rejection::new(ErrorCode::NotFound, "there is no such page")),
    }
    Ok(Outcome::Done)
}

/// Every form of the customer page.
pub async fn act_on(
    State(state): State<AppState>,
    op: Operator,
    Path((id, action)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> PageResult {
    let visit = &op.visit;
    let Some(&(form, area)) = ACTIONS.iter().find(|(name, _)| *name == action) else {
        return Err(PageError(visit.clone(), Rejection::new(ErrorCode::NotFound, "there is no such page")));
    };
    op.write(area).or_page(visit)?;
    let cu = state.platform.customer(&id).await.or_page(visit)?;
    match act(&op, run(&state.platform, visit.lang, &cu, form, &fields)).await {
        Ok(Outcome::Done) => Ok(Redirect::to(&format!("/ops/customers/{}?done={form}", cu.id)).into_response()),
        Ok(Outcome::Secret(secret)) => {
            let cu = state.platform.customer(&cu.id).await.or_page(visit)?;
            render(&state, &op, cu, Shown::default(), None, Some(secret)).await
        }
        Err(rejection) if rejection.code == ErrorCode::NotFound => Err(PageError(visit.clone(), rejection)),
        Err(rejection) => {
            let shown = Shown::failed(form, &rejection, visit.lang, fields);
            render(&state, &op, cu, shown, None, None).await
        }
    }
}

// ---- the ledger ----------------------------------------------------------------------------

const LEDGER_PAGE: u32 = 50;

#[derive(Debug, Clone)]
pub struct LedgerRow {
    pub seq: i64,
    pub kind: &'static str,
    pub amount: String,
    pub balance_after: String,
    pub note: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "ops/customer_ledger.html")]
struct LedgerPage {
    c: Chrome,
    cu: Customer,
    entries: Vec<LedgerRow>,
    next: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct AfterQuery {
    after: Option<String>,
}

/// The customer's ledger, oldest first from `?after=<seq>`, a page at a time.
pub async fn ledger(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    Query(query): Query<AfterQuery>,
) -> PageResult {
    let visit = &op.visit;
    op.read(OpsArea::Money).or_page(visit)?;
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => {
            a.parse::<i64>().map_err(|_| Rejection::invalid("after", "after must be an entry's seq")).or_page(visit)?
        }
        None => 0,
    };
    let cu = state.platform.customer(&id).await.or_page(visit)?;
    let entries: Vec<LedgerRow> = state
        .platform
        .ledger(&cu.id, after, LEDGER_PAGE)
        .await
        .or_page(visit)?
        .into_iter()
        .map(|e| LedgerRow {
            seq: e.seq,
            kind: e.kind.as_str(),
            amount: e.amount.to_string(),
            balance_after: e.balance_after.to_string(),
            note: [e.message_id, e.reference, e.reason].into_iter().flatten().collect::<Vec<_>>().join(" · "),
            at: when(e.created_at),
        })
        .collect();
    let next = (entries.len() == LEDGER_PAGE as usize).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(page::render(&LedgerPage { c: op.chrome("Ledger"), cu, entries, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tariff_reads_back_as_it_is_written() {
        let fields = Fields(vec![
            ("default".into(), "".into()),
            ("rules".into(), "mobile 0.0450\n\n+86138 0.05\r\nunicom 0.0400".into()),
        ]);
        let tariff = parse_tariff(&fields).expect("valid");
        assert_eq!(tariff.default, None);
        assert_eq!(tariff_text(&tariff), "mobile 0.0450\n+86138 0.0500\nunicom 0.0400");
        let bad = Fields(vec![("rules".into(), "mobile\n".into())]);
        assert_eq!(parse_tariff(&bad).map_err(|r| r.field), Err(Some("rules".to_owned())));
        let bad = Fields(vec![("rules".into(), "mobile 0.0450\nMobile! 1".into())]);
        assert!(parse_tariff(&bad).is_err_and(|r| r.message.starts_with("line 2")));
    }
}
