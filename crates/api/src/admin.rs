//! `/admin/v1`: the operator API, authenticated by the operator token.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde::Deserialize;
use serde_json::json;
use tongdao_domain::agreement::{AgreementChange, AgreementTerms};
use tongdao_domain::{Money, Rejection, Tariff};
use tongdao_pipeline::smpp::SmppAccountRequest;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{JsonBody, OperatorAuth};
use crate::views::{AgreementView, ApiKeyView, CURRENCY, CustomerView, LedgerEntryView, NumberView};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/customers", post(create_customer).get(list_customers))
        .route("/admin/v1/customers/{customer}", get(get_customer))
        .route("/admin/v1/customers/{customer}/agreements", post(create_agreement).get(list_agreements))
        .route("/admin/v1/customers/{customer}/tariff", get(get_tariff).put(put_tariff))
        .route("/admin/v1/customers/{customer}/topups", post(top_up))
        .route("/admin/v1/customers/{customer}/adjustments", post(adjust))
        .route("/admin/v1/customers/{customer}/ledger", get(ledger))
        .route("/admin/v1/customers/{customer}/balance", get(balance))
        .route("/admin/v1/customers/{customer}/keys", post(create_key).get(list_keys))
        .route("/admin/v1/customers/{customer}/keys/{key}", delete(revoke_key))
        .route("/admin/v1/agreements/{id}", get(get_agreement))
        .route("/admin/v1/agreements/{id}/sign", post(sign))
        .route("/admin/v1/agreements/{id}/suspend", post(suspend))
        .route("/admin/v1/agreements/{id}/resume", post(resume))
        .route("/admin/v1/agreements/{id}/terminate", post(terminate))
        .route("/admin/v1/customers/{customer}/numbers", post(add_number).get(list_numbers))
        .route("/admin/v1/customers/{customer}/numbers/{number}", delete(remove_number))
        .route("/admin/v1/carriers", get(carriers))
        .route("/admin/v1/customers/{customer}/smpp-accounts", post(create_smpp_account).get(list_smpp_accounts))
        .route(
            "/admin/v1/customers/{customer}/smpp-accounts/{system_id}",
            patch(update_smpp_account).delete(delete_smpp_account),
        )
}

async fn create_smpp_account(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<SmppAccountRequest>,
) -> ApiResult<Response> {
    let (account, password) = state.platform.create_smpp_account(&customer, body).await?;
    // The password is shown this once; only its argon2id hash is kept.
    Ok(created(json!({ "account": account, "password": password })))
}

async fn list_smpp_accounts(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(json!({ "accounts": state.platform.smpp_accounts(&customer).await? })).into_response())
}

async fn update_smpp_account(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path((customer, system_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<SmppAccountRequest>,
) -> ApiResult<Response> {
    Ok(Json(state.platform.update_smpp_account(&customer, &system_id, body).await?).into_response())
}

async fn delete_smpp_account(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path((customer, system_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.platform.delete_smpp_account(&customer, &system_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewNumber {
    number: String,
}

async fn add_number(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<NewNumber>,
) -> ApiResult<Response> {
    let number = state.platform.add_number(&customer, &body.number).await?;
    Ok(created(NumberView::from(number)))
}

async fn list_numbers(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
) -> ApiResult<Response> {
    let numbers: Vec<NumberView> = state.platform.numbers(&customer).await?.into_iter().map(NumberView::from).collect();
    Ok(Json(json!({ "numbers": numbers })).into_response())
}

async fn remove_number(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path((customer, number)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.platform.remove_number(&customer, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn carriers(State(state): State<AppState>, _: OperatorAuth) -> ApiResult<Response> {
    Ok(Json(json!({ "carriers": state.platform.carriers() })).into_response())
}

pub(crate) fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCustomer {
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    contact: String,
}

async fn create_customer(
    State(state): State<AppState>,
    _: OperatorAuth,
    JsonBody(body): JsonBody<NewCustomer>,
) -> ApiResult<Response> {
    let customer = state.platform.create_customer(&body.name, &body.address, &body.contact).await?;
    Ok(created(CustomerView::from(customer)))
}

async fn list_customers(State(state): State<AppState>, _: OperatorAuth) -> ApiResult<Response> {
    let customers: Vec<CustomerView> = state.platform.customers().await?.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "customers": customers })).into_response())
}

async fn get_customer(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
) -> ApiResult<Json<CustomerView>> {
    Ok(Json(state.platform.customer(&customer).await?.into()))
}

async fn create_agreement(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(terms): JsonBody<AgreementTerms>,
) -> ApiResult<Response> {
    let agreement = state.platform.create_agreement(&customer, terms).await?;
    Ok(created(AgreementView::new(agreement, state.platform.now_ms())))
}

async fn list_agreements(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
) -> ApiResult<Response> {
    let now = state.platform.now_ms();
    let agreements: Vec<AgreementView> =
        state.platform.agreements(&customer).await?.into_iter().map(|a| AgreementView::new(a, now)).collect();
    Ok(Json(json!({ "agreements": agreements })).into_response())
}

async fn get_agreement(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AgreementView>> {
    let agreement = state.platform.agreement(&id).await?;
    Ok(Json(AgreementView::new(agreement, state.platform.now_ms())))
}

async fn change(state: &AppState, id: &str, change: AgreementChange) -> ApiResult<Json<AgreementView>> {
    let agreement = state.platform.change_agreement(id, change).await?;
    Ok(Json(AgreementView::new(agreement, state.platform.now_ms())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

async fn sign(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AgreementView>> {
    change(&state, &id, AgreementChange::Sign).await
}

async fn suspend(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> ApiResult<Json<AgreementView>> {
    change(&state, &id, AgreementChange::Suspend { reason: body.reason }).await
}

async fn resume(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AgreementView>> {
    change(&state, &id, AgreementChange::Resume).await
}

async fn terminate(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> ApiResult<Json<AgreementView>> {
    change(&state, &id, AgreementChange::Terminate { reason: body.reason }).await
}

async fn get_tariff(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
) -> ApiResult<Json<Tariff>> {
    let customer = state.platform.customer(&customer).await?;
    Ok(Json(state.platform.tariff(&customer.id).await?))
}

async fn put_tariff(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(tariff): JsonBody<Tariff>,
) -> ApiResult<Json<Tariff>> {
    Ok(Json(state.platform.set_tariff(&customer, tariff).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUp {
    amount: Money,
    #[serde(default)]
    reference: Option<String>,
}

async fn top_up(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<TopUp>,
) -> ApiResult<Response> {
    let entry = state.platform.top_up(&customer, body.amount, body.reference.as_deref()).await?;
    Ok(created(LedgerEntryView::from(entry)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Adjustment {
    amount: Money,
    reason: String,
    /// The ticket (a billing dispute) this adjustment settles.
    #[serde(default)]
    ticket: Option<String>,
}

async fn adjust(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<Adjustment>,
) -> ApiResult<Response> {
    let entry = state.platform.adjust(&customer, body.amount, &body.reason, body.ticket.as_deref()).await?;
    Ok(created(LedgerEntryView::from(entry)))
}

#[derive(Debug, Deserialize)]
struct LedgerQuery {
    after: Option<String>,
    limit: Option<String>,
}

async fn ledger(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> ApiResult<Response> {
    let after = match query.after.as_deref() {
        Some(a) => a.parse::<i64>().map_err(|_| Rejection::invalid("after", "after must be an entry's seq"))?,
        None => 0,
    };
    let limit = match query.limit.as_deref() {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| Rejection::invalid("limit", "limit must be 1-1000"))?,
        None => 100,
    };
    let entries: Vec<LedgerEntryView> =
        state.platform.ledger(&customer, after, limit).await?.into_iter().map(Into::into).collect();
    let next = (entries.len() == limit as usize).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(Json(json!({ "entries": entries, "next_after": next })).into_response())
}

async fn balance(State(state): State<AppState>, _: OperatorAuth, Path(customer): Path<String>) -> ApiResult<Response> {
    let customer = state.platform.customer(&customer).await?;
    let check = state.platform.balance(&customer.id).await?;
    Ok(Json(json!({
        "balance": check.balance,
        "ledger_sum": check.ledger_sum,
        "entries": check.entries,
        "consistent": check.balance == check.ledger_sum,
        "currency": CURRENCY,
    }))
    .into_response())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    label: String,
    /// Requests per second the key may make; 0 or absent: no limit.
    #[serde(default)]
    rps: u32,
}

async fn create_key(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
    JsonBody(body): JsonBody<NewKey>,
) -> ApiResult<Response> {
    let key = state.platform.create_api_key(&customer, &body.label, body.rps).await?;
    Ok(created(ApiKeyView::new(key.record, Some(key.secret))))
}

async fn list_keys(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path(customer): Path<String>,
) -> ApiResult<Response> {
    let keys: Vec<ApiKeyView> =
        state.platform.api_keys(&customer).await?.into_iter().map(|k| ApiKeyView::new(k, None)).collect();
    Ok(Json(json!({ "keys": keys })).into_response())
}

async fn revoke_key(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path((customer, key)): Path<(String, String)>,
) -> ApiResult<Json<ApiKeyView>> {
    let record = state.platform.revoke_api_key(&customer, &key).await?;
    Ok(Json(ApiKeyView::new(record, None)))
}
