//! Chinese and English. Templates and handlers write English and ask for the reader's
//! language: `c.t("Balance")` is `余额` for a Chinese reader. The language comes from
//! `?lang=` (remembered in a cookie), then that cookie, then the browser's
//! `Accept-Language`; English when none of them names Chinese or English.
//!
//! A text missing from the tables shows in English (never an error); the unit test below
//! reads every template and handler and fails on any `t("…")` without its Chinese.

mod account_zh;
mod common_zh;
mod messaging_zh;
mod ops_customers_zh;
mod ops_work_zh;

use std::collections::HashMap;
use std::sync::LazyLock;

use tongdao_domain::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

static ZH: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    common_zh::TEXTS
        .iter()
        .chain(messaging_zh::TEXTS)
        .chain(account_zh::TEXTS)
        .chain(ops_customers_zh::TEXTS)
        .chain(ops_work_zh::TEXTS)
        .copied()
        .collect()
});

static ERRORS_ZH: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| common_zh::ERRORS.iter().copied().collect());

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header we have, by its q-values.
    pub fn negotiate(accept_language: &str) -> Option<Lang> {
        let mut offers: Vec<(f32, usize, Lang)> = accept_language
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(i, item)| {
                let mut parts = item.split(';');
                let lang = Lang::parse(parts.next()?)?;
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        offers.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        offers.first().map(|o| o.2)
    }

    /// `text` (English) in this language.
    pub fn t(self, text: &str) -> &str {
        match self {
            Lang::En => text,
            Lang::Zh => ZH.get(text).copied().unwrap_or(text),
        }
    }

    /// What an error code means, for people.
    pub fn error(self, code: ErrorCode) -> &'static str {
        match self {
            Lang::En => code.description(),
            Lang::Zh => ERRORS_ZH.get(code.as_str()).copied().unwrap_or(code.description()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_by_quality_then_order() {
        assert_eq!(Lang::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(Lang::negotiate("en-US,en;q=0.9,zh;q=0.8"), Some(Lang::En));
        assert_eq!(Lang::negotiate("fr;q=1, zh-TW;q=0.5, en;q=0.4"), Some(Lang::Zh));
        assert_eq!(Lang::negotiate("en;q=0.2, zh;q=0.7"), Some(Lang::Zh));
        assert_eq!(Lang::negotiate("zh;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(Lang::negotiate("fr, de"), None);
        assert_eq!(Lang::negotiate(""), None);
        assert_eq!(Lang::Zh.t("no such text anywhere"), "no such text anywhere");
    }

    #[test]
    fn every_error_code_reads_in_chinese() {
        for code in ErrorCode::ALL {
            assert!(ERRORS_ZH.contains_key(code.as_str()), "no Chinese for {code}");
        }
    }

    /// A text has one Chinese, whichever area's table holds it.
    #[test]
    fn no_text_is_translated_two_ways() {
        let tables =
            [common_zh::TEXTS, messaging_zh::TEXTS, account_zh::TEXTS, ops_customers_zh::TEXTS, ops_work_zh::TEXTS];
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for (en, zh) in tables.iter().flat_map(|t| t.iter()) {
            if let Some(other) = seen.insert(en, zh) {
                assert_eq!(other, *zh, "{en:?} is translated two ways");
            }
        }
    }

    /// Every `t("…")` in the templates and the handlers has its Chinese.
    #[test]
    fn every_text_shown_has_its_chinese() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut seen = 0;
        let mut stack = vec![root.join("templates"), root.join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    if !path.ends_with("i18n") {
                        stack.push(path);
                    }
                    continue;
                }
                let source = std::fs::read_to_string(&path).expect("read");
                for text in quoted_after(&source, "t(\"") {
                    seen += 1;
                    if !ZH.contains_key(text.as_str()) {
                        missing.push(format!("{}: {text}", path.display()));
                    }
                }
            }
        }
        assert!(seen > 20, "the scan found only {seen} texts");
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "texts without Chinese:\n{}", missing.join("\n"));
    }

    fn quoted_after(source: &str, opener: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = source;
        while let Some(at) = rest.find(opener) {
            let before = rest[..at].chars().last();
            rest = &rest[at + opener.len()..];
            // `.t("` or ` t("`, not `format!("` or `assert!(" ...`.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(end) = rest.find('"') {
                let text = &rest[..end];
                if !text.contains('\\') && !text.contains('{') {
                    out.push(text.to_owned());
                }
                rest = &rest[end..];
            }
        }
        out
    }
}
