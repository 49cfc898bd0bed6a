//! Request extractors: who is calling, and the JSON body.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tongdao_domain::{ErrorCode, Rejection};

use crate::error::ApiError;
use crate::{AppState, MAX_BODY_BYTES};

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The customer behind the request's API key.
#[derive(Debug, Clone)]
pub struct CustomerAuth(pub String);

impl FromRequestParts<AppState> for CustomerAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = bearer(parts).unwrap_or("");
        let customer = state.platform.authenticate_customer(secret).await?;
        // Suspended (clause 3.5): every call is refused, but a send is refused by the accept
        // path itself, after its idempotency check, so that the retry of a request accepted
        // before the suspension still gets its first answer; and tickets, statements and
        // notices stay open, so that a suspended customer can still reach customer service
        // (clause 3.6), check its bills and dispute them (3.8), and read what it was told.
        let path = parts.uri.path();
        let send = parts.method == axum::http::Method::POST && path == "/v1/messages";
        let open = ["/v1/tickets", "/v1/statements", "/v1/notices"]
            .iter()
            .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
        if !send && !open {
            state.platform.ensure_not_suspended(&customer).await?;
        }
        Ok(CustomerAuth(customer))
    }
}

/// The client's address, when the server was started with connect info (it is, in `serve`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<axum::extract::ConnectInfo<crate::listener::Peer>>();
        Ok(ClientAddr(info.map(|i| i.0.0)))
    }
}

/// A request carrying a valid operator token.
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth;

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let secret = bearer(parts).unwrap_or("");
        state.platform.authenticate_operator(secret).await?;
        Ok(OperatorAuth)
    }
}

/// A JSON body: `Content-Type: application/json`, at most [`MAX_BODY_BYTES`], and a
/// deserialisation error that names the field at fault.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, "application/json", MAX_BODY_BYTES).await?;
        let value = parse_json(&bytes)?;
        Ok(JsonBody(value))
    }
}

/// A CSV body (`Content-Type: text/csv`), at most [`MAX_CSV_BYTES`]: contact imports.
#[derive(Debug)]
pub struct CsvBody(pub axum::body::Bytes);

/// Largest CSV body: 200,000 contacts of about 80 bytes.
pub const MAX_CSV_BYTES: usize = 16 * 1024 * 1024;

impl<S: Send + Sync> FromRequest<S> for CsvBody {
    type Rejection = ApiError;
    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(CsvBody(read_body(request, "text/csv", MAX_CSV_BYTES).await?))
    }
}

/// An optional JSON body: none (or an empty one) is `None`; one that is there is read as
/// [`JsonBody`] reads it.
#[derive(Debug)]
pub struct MaybeJson<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MaybeJson<T> {
    type Rejection = ApiError;
    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
        if declared == Some("0") || (declared.is_none() && !request.headers().contains_key(header::CONTENT_TYPE)) {
            return Ok(MaybeJson(None));
        }
        let bytes = read_body(request, "application/json", MAX_BODY_BYTES).await?;
        if bytes.is_empty() {
            return Ok(MaybeJson(None));
        }
        Ok(MaybeJson(Some(parse_json(&bytes)?)))
    }
}

/// A plain-text body (`Content-Type: text/plain`), at most [`MAX_CSV_BYTES`]: lexicon files.
#[derive(Debug)]
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;
    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, "text/plain", MAX_CSV_BYTES).await?;
        let text =
            String::from_utf8(bytes.to_vec()).map_err(|_| Rejection::invalid("body", "the body is not UTF-8"))?;
        Ok(TextBody(text))
    }
}

/// The body of a request of `content_type`, refused unread when it declares more than
/// `limit` bytes and cut off when it sends more.
async fn read_body(request: Request, content_type: &str, limit: usize) -> Result<axum::body::Bytes, Rejection> {
    let matches = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(content_type));
    if !matches {
        return Err(Rejection::new(ErrorCode::UnsupportedMediaType, format!("send Content-Type: {content_type}")));
    }
    let too_large = || Rejection::new(ErrorCode::PayloadTooLarge, format!("the body is over {limit} bytes"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(request.into_body(), limit).await.map_err(|_| too_large())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let invalid = |message: String, field: Option<String>| Rejection {
        code: ErrorCode::InvalidRequest,
        message: format!("invalid JSON body: {message}"),
        field,
        retry_after: None,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = if path == "." || path.is_empty() { field_named_in(&message) } else { Some(path) };
        invalid(message, field)
    })?;
    deserializer.end().map_err(|e| invalid(e.to_string(), None))?;
    Ok(value)
}

/// serde names the field in messages such as "missing field `x`", "unknown field `x`" and
/// "duplicate field `x`".
pub fn field_named_in(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("field `")?;
    rest.split('`').next().filter(|f| !f.is_empty()).map(str::to_owned)
}
