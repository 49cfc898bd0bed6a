//! Billing documents (clauses 3.8 and 5): the customer's monthly statement
//! (`/v1/statements/{month}`, and the operator's copy under each customer) as JSON or CSV,
//! and the operator's reconciliation report per carrier link and day.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tongdao_domain::Rejection;
use tongdao_pipeline::statements::{Statement, StatementFormat};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{CustomerAuth, OperatorAuth};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/statements/{month}", get(statement))
        .route("/admin/v1/customers/{customer}/statements/{month}", get(operator_statement))
        .route("/admin/v1/reconciliation", get(reconciliation))
}

/// `?format=json` (the default) or `?format=csv`: a query parameter rather than `Accept`, so
/// a statement is one link a browser or `curl -O` can fetch either way.
#[derive(Debug, Deserialize)]
pub struct FormatQuery {
    format: Option<String>,
}

impl FormatQuery {
    fn format(&self) -> Result<StatementFormat, Rejection> {
        match self.format.as_deref().filter(|f| !f.is_empty()) {
            None => Ok(StatementFormat::Json),
            Some(f) => StatementFormat::parse(f).ok_or_else(|| Rejection::invalid("format", "format is json or csv")),
        }
    }
}

async fn statement(
    State(state): State<AppState>,
    CustomerAuth(customer): CustomerAuth,
    Path(month): Path<String>,
    Query(query): Query<FormatQuery>,
) -> ApiResult<Response> {
    let format = query.format()?;
    let statement = state.platform.statement(&customer, &month).await?;
    render(&statement, format)
}

async fn operator_statement(
    State(state): State<AppState>,
    _: OperatorAuth,
    Path((customer, month)): Path<(String, String)>,
    Query(query): Query<FormatQuery>,
) -> ApiResult<Response> {
    let format = query.format()?;
    let statement = state.platform.statement(&customer, &month).await?;
    render(&statement, format)
}

fn render(statement: &Statement, format: StatementFormat) -> ApiResult<Response> {
    match format {
        StatementFormat::Json => Ok(Json(statement.to_json()?).into_response()),
        StatementFormat::Csv => {
            let mut response = statement.to_csv()?.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            // Customer ids are base32 and months digits: nothing to quote.
            let disposition =
                format!("attachment; filename=\"statement-{}-{}.csv\"", statement.customer_id, statement.month);
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            Ok(response)
        }
    }
}

/// Both days are required: `YYYY-MM-DD`, inclusive.
#[derive(Debug, Deserialize)]
pub struct DaysQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn reconciliation(
    State(state): State<AppState>,
    _: OperatorAuth,
    Query(query): Query<DaysQuery>,
) -> ApiResult<Response> {
    let required = |field: &'static str, value: Option<String>| {
        value.filter(|v| !v.is_empty()).ok_or_else(|| Rejection::invalid(field, format!("{field} is required")))
    };
    let (from, to) = (required("from", query.from)?, required("to", query.to)?);
    let report = state.platform.reconciliation(&from, &to).await?;
    Ok(Json(report.to_json()).into_response())
}
