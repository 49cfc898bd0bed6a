//! The OpenAPI description (`crates/api/openapi.json`, served at `/openapi.json`) against the
//! code: it parses as OpenAPI 3.1, it describes exactly the routes the router registers (read
//! from the source, so no server is needed), and its error codes are the rejection table's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use tongdao_api::service::OPENAPI;
use tongdao_domain::ErrorCode;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn spec() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON")
}

// ---- a small Rust tokenizer: enough to find `.route("PATH", get(a).post(b))` calls ----------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Str(String),
    Punct(char),
}

/// Tokens of Rust source, skipping comments, whitespace, numbers and char literals.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && raw_string_start(&chars, i).is_some() {
            // r"…" or r#"…"#
            let hashes = raw_string_start(&chars, i).unwrap_or(0);
            let start = i + 2 + hashes;
            let mut j = start;
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            while j < chars.len() && chars[j..].get(..closing.len()) != Some(&closing[..]) {
                j += 1;
            }
            tokens.push(Token::Str(chars[start..j.min(chars.len())].iter().collect()));
            i = j + closing.len();
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                    match chars.get(i) {
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some(&other) => text.push(other),
                        None => {}
                    }
                } else {
                    text.push(chars[i]);
                }
                i += 1;
            }
            tokens.push(Token::Str(text));
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\'') or a lifetime ('a, 'static).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

/// The number of `#` of a raw string starting at `i` (`r"`, `r#"`, …), if one starts there.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None; // the `r` ends an identifier
    }
    let mut j = i + 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some(j - i - 1)
}

fn is_punct(token: Option<&Token>, c: char) -> bool {
    token == Some(&Token::Punct(c))
}

/// The index just past the parenthesis that closes the one at `open`.
fn skip_parens(tokens: &[Token], open: usize) -> usize {
    assert!(is_punct(tokens.get(open), '('), "expected ( at token {open}: {:?}", tokens.get(open));
    let mut depth = 0usize;
    let mut i = open;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses after token {open}");
}

/// The HTTP methods of a method router such as `get(a).post(b)` or `axum::routing::delete(c)`,
/// starting at `i`; returns them and the index after the expression.
fn method_chain(tokens: &[Token], mut i: usize, context: &str) -> (Vec<String>, usize) {
    let mut methods = Vec::new();
    // Leading path: `axum::routing::get` → `get`.
    let mut name = None;
    while let Some(Token::Ident(ident)) = tokens.get(i) {
        name = Some(ident.clone());
        if is_punct(tokens.get(i + 1), ':') && is_punct(tokens.get(i + 2), ':') {
            i += 3;
        } else {
            i += 1;
            break;
        }
    }
    let mut name = name.unwrap_or_else(|| panic!("{context}: expected a method router, found {:?}", tokens.get(i)));
    loop {
        assert!(
            METHODS.contains(&name.as_str()),
            "{context}: `{name}(…)` is not a plain method router this test understands (get, post, put, delete, \
             patch, head, options, trace); extend the test"
        );
        methods.push(name.to_uppercase());
        i = skip_parens(tokens, i);
        if is_punct(tokens.get(i), '.')
            && let Some(Token::Ident(next)) = tokens.get(i + 1)
        {
            name = next.clone();
            i += 2;
        } else {
            return (methods, i);
        }
    }
}

/// Every `.route("PATH", …)` of a source file, as (METHOD, PATH).
fn routes_in(file: &str, source: &str) -> BTreeSet<(String, String)> {
    let tokens = tokenize(source);
    let mut routes = BTreeSet::new();
    for i in 0..tokens.len() {
        let Token::Ident(ident) = &tokens[i] else { continue };
        let after_dot = i > 0 && is_punct(tokens.get(i - 1), '.');
        if !after_dot || !is_punct(tokens.get(i + 1), '(') {
            continue;
        }
        assert!(
            !["nest", "nest_service", "route_service", "fallback_service"].contains(&ident.as_str()),
            "{file}: `.{ident}(…)` registers routes this test cannot see; extend the test"
        );
        if ident != "route" {
            continue;
        }
        let Some(Token::Str(path)) = tokens.get(i + 2) else {
            panic!("{file}: .route( must be followed by a string literal path, found {:?}", tokens.get(i + 2));
        };
        assert!(is_punct(tokens.get(i + 3), ','), "{file}: expected , after {path:?}");
        let context = format!("{file} {path}");
        let (methods, end) = method_chain(&tokens, i + 4, &context);
        // rustfmt leaves a trailing comma when it wraps a long call.
        let end = if is_punct(tokens.get(end), ',') { end + 1 } else { end };
        assert!(is_punct(tokens.get(end), ')'), "{context}: expected ) after the method router");
        for method in methods {
            assert!(routes.insert((method.clone(), path.clone())), "{context}: {method} registered twice");
        }
    }
    routes
}

/// The modules whose `routes()` the router merges, read from `lib.rs`.
fn merged_modules(lib: &str) -> Vec<String> {
    let tokens = tokenize(lib);
    let mut modules = Vec::new();
    for i in 0..tokens.len() {
        if tokens[i] == Token::Ident("merge".into())
            && is_punct(tokens.get(i + 1), '(')
            && let Some(Token::Ident(module)) = tokens.get(i + 2)
            && is_punct(tokens.get(i + 3), ':')
            && is_punct(tokens.get(i + 4), ':')
            && tokens.get(i + 5) == Some(&Token::Ident("routes".into()))
        {
            modules.push(module.clone());
        }
    }
    modules
}

fn code_routes() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let read = |name: &str| {
        let path = src.join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    };
    let modules = merged_modules(&read("lib.rs"));
    for expected in ["customer", "admin", "service"] {
        assert!(modules.iter().any(|m| m == expected), "lib.rs no longer merges {expected}::routes(): {modules:?}");
    }
    let mut routes = BTreeSet::new();
    for module in modules {
        let file = format!("{module}.rs");
        let found = routes_in(&file, &read(&file));
        assert!(!found.is_empty(), "{file}: no .route(…) found");
        for route in found {
            assert!(routes.insert(route.clone()), "{route:?} registered by two modules");
        }
    }
    routes
}

fn spec_routes(spec: &Value) -> BTreeSet<(String, String)> {
    let paths = spec["paths"].as_object().expect("paths is an object");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().unwrap_or_else(|| panic!("{path}: not an object"));
        for key in item.keys() {
            if METHODS.contains(&key.as_str()) {
                routes.insert((key.to_uppercase(), path.clone()));
            } else {
                assert!(
                    ["parameters", "summary", "description", "servers"].contains(&key.as_str()),
                    "{path}: unexpected key {key:?} in a path item"
                );
            }
        }
    }
    routes
}

// ---- the tests ------------------------------------------------------------------------------

#[test]
fn the_description_is_openapi_3_1() {
    let spec = spec();
    let version = spec["openapi"].as_str().expect("an openapi version string");
    assert!(version.starts_with("3.1."), "openapi is {version}, expected 3.1.x");
    assert!(spec["info"]["title"].is_string() && spec["info"]["version"].is_string(), "info.title and info.version");
    assert!(spec["paths"].as_object().is_some_and(|p| !p.is_empty()), "paths");
    let servers = spec["servers"].as_array().expect("servers");
    assert!(servers.iter().any(|s| s["url"] == "http://127.0.0.1:8080"), "servers lists the default address");
}

#[test]
fn the_tokenizer_reads_method_chains() {
    let source = r##"
        // .route("/commented", get(nothing))
        fn routes() -> Router {
            let _ = r#"not .route("/raw", get(x))"#;
            let _ = '"';
            Router::new()
                .route("/a/{id}", post(x).get(y))
                .route("/b", axum::routing::get(x).delete(y::<'static>))
                .route("/c", get(x).put(y))
                .route("/d", delete(handler(1, (2, 3))))
        }
    "##;
    let routes = routes_in("sample.rs", source);
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/a/{id}"),
        ("GET", "/a/{id}"),
        ("GET", "/b"),
        ("DELETE", "/b"),
        ("GET", "/c"),
        ("PUT", "/c"),
        ("DELETE", "/d"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(routes, expected);
}

#[test]
fn the_description_has_exactly_the_routes_of_the_code() {
    let code = code_routes();
    let spec = spec_routes(&spec());
    let missing: Vec<_> = code.difference(&spec).collect();
    let extra: Vec<_> = spec.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "openapi.json and the router disagree.\n  served but not described: {missing:?}\n  described but not served: \
         {extra:?}"
    );
    // The customer, operator and service routes are all there.
    assert!(code.contains(&("POST".into(), "/v1/messages".into())));
    assert!(code.contains(&("DELETE".into(), "/admin/v1/customers/{customer}/keys/{key}".into())));
    assert!(code.contains(&("GET".into(), "/openapi.json".into())));
}

#[test]
fn the_error_schema_lists_every_error_code() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let code_schema = &schemas["Error"]["properties"]["error"];
    // The code enum may sit inline or behind $refs.
    let code_schema = resolve(&spec, code_schema);
    let code_schema = resolve(&spec, &code_schema["properties"]["code"]);
    let listed: BTreeSet<&str> = code_schema["enum"]
        .as_array()
        .expect("the Error schema's code has an enum")
        .iter()
        .map(|v| v.as_str().expect("codes are strings"))
        .collect();
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let missing: Vec<_> = known.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&known).collect();
    assert!(missing.is_empty(), "error codes missing from the Error schema: {missing:?}");
    assert!(extra.is_empty(), "the Error schema lists codes the server does not have: {extra:?}");
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {reference}"));
        schema = spec.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {reference}"));
    }
    schema
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => out.push(reference),
                    _ => collect_refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    let spec = spec();
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {reference}"));
        assert!(spec.pointer(pointer).is_some(), "dangling $ref {reference}");
    }
}

/// The request bodies that are not JSON: (method, path, the one media type). Every other body
/// is `application/json`.
const NON_JSON_BODIES: [(&str, &str, &str); 2] =
    [("post", "/v1/contacts/import", "text/csv"), ("put", "/admin/v1/lexicons/{file}", "text/plain")];

/// The operations whose body may be left out (`MaybeJson` in the handler). Every other body
/// is required.
const OPTIONAL_BODIES: [(&str, &str); 4] = [
    ("post", "/admin/v1/maintenance/{id}/cancel"),
    ("post", "/admin/v1/messages/{id}/approve"),
    ("post", "/admin/v1/signatures/{id}/approve"),
    ("post", "/admin/v1/templates/{id}/approve"),
];

#[test]
fn every_operation_is_authenticated_as_its_api_is_and_documents_its_answers() {
    let spec = spec();
    let schemes = spec["components"]["securitySchemes"].as_object().expect("securitySchemes");
    for name in ["apiKey", "operatorToken"] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    // The exceptions name operations that take a body, so the lists cannot go stale.
    for (method, path) in NON_JSON_BODIES.iter().map(|(m, p, _)| (*m, *p)).chain(OPTIONAL_BODIES) {
        assert!(
            spec["paths"][path][method]["requestBody"].is_object(),
            "{} {path} is listed as a body exception but takes no body: update the list",
            method.to_uppercase()
        );
    }
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let path_params: Vec<&Value> = item["parameters"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            let context = format!("{} {path}", method.to_uppercase());
            let expected_scheme = if path.starts_with("/v1/") {
                Some("apiKey")
            } else if path.starts_with("/admin/v1/") {
                Some("operatorToken")
            } else {
                None
            };
            let security = operation["security"].as_array().unwrap_or_else(|| panic!("{context}: no security"));
            let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{context}: no responses"));
            let success: Vec<&String> = responses.keys().filter(|s| s.starts_with('2')).collect();
            assert_eq!(success.len(), 1, "{context}: one success status, found {success:?}");
            match expected_scheme {
                Some(scheme) => {
                    assert_eq!(security.len(), 1, "{context}: one security requirement");
                    assert!(security[0].get(scheme).is_some(), "{context}: secured by {scheme}");
                    for status in ["401", "500", "503"] {
                        assert!(responses.contains_key(status), "{context}: no {status} answer");
                    }
                }
                None => assert!(security.is_empty(), "{context}: service routes need no credentials"),
            }
            if let Some(body) = operation.get("requestBody") {
                let optional = OPTIONAL_BODIES.contains(&(method, path.as_str()));
                assert_eq!(body["required"], !optional, "{context}: bodies are required (but {OPTIONAL_BODIES:?})");
                let media_type = NON_JSON_BODIES
                    .iter()
                    .find(|(m, p, _)| *m == method && p == path)
                    .map_or("application/json", |(_, _, media_type)| media_type);
                let content = body["content"].as_object().unwrap_or_else(|| panic!("{context}: no body content"));
                assert!(
                    content.len() == 1 && content.contains_key(media_type),
                    "{context}: the body is {media_type} only, found {:?}",
                    content.keys().collect::<Vec<_>>()
                );
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{context}: a body can be refused with {status}");
                }
            }
            // Every {param} of the path is declared, on the path item or the operation.
            let op_params: Vec<&Value> =
                operation["parameters"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
            let declared: BTreeSet<String> = path_params
                .iter()
                .chain(&op_params)
                .map(|p| resolve(&spec, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            let in_template: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, in_template, "{context}: path parameters");
            if !in_template.is_empty() {
                assert!(responses.contains_key("404"), "{context}: a path parameter can name nothing");
            }
        }
    }
}

#[test]
fn error_answers_use_the_error_schema_and_statuses_match_the_codes() {
    let spec = spec();
    let statuses: BTreeMap<u16, Vec<&str>> = ErrorCode::ALL.iter().fold(BTreeMap::new(), |mut map, code| {
        map.entry(code.http_status()).or_default().push(code.as_str());
        map
    });
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        if !(path.starts_with("/v1/") || path.starts_with("/admin/v1/")) {
            continue;
        }
        for method in METHODS {
            let Some(operation) = item.get(method) else { continue };
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                let code: u16 = status.parse().unwrap_or_else(|_| panic!("{method} {path}: status {status}"));
                if code < 400 {
                    continue;
                }
                assert!(statuses.contains_key(&code), "{method} {path}: no error code has HTTP status {code}");
                let response = resolve(&spec, response);
                let schema = &response["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Error",
                    "{method} {path} {status}: error answers use the Error schema"
                );
            }
        }
    }
}
