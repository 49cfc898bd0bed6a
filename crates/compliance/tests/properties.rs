//! `screen` never panics and reports spans on char boundaries, for any string.

use std::sync::LazyLock;

use proptest::prelude::*;
use tongdao_compliance::{Policy, Screener, normalise, starter_lexicons};

static SCREENER: LazyLock<Option<Screener>> = LazyLock::new(|| Screener::new(&starter_lexicons()).ok());

fn tricky() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "代开发票",
        "t.cn/",
        "www.",
        ".com",
        "回T退订",
        "%",
        "折",
        "5",
        "0",
        "@",
        "$",
        "s",
        "e",
        "x",
        " ",
        "\u{200B}",
        "\u{FE0F}",
        "🔥",
        "ｗ",
        "．",
        "е",
        "İ",
        "ﬁ",
        "㎏",
        "é",
        "\u{0301}",
        "領",
        "http://",
        "加微信",
        "qq",
        "1",
        "。",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

fn check(text: &str) {
    let Some(screener) = SCREENER.as_ref() else { panic!("starter screener did not build") };
    let r = screener.screen(text, &Policy::default());
    for f in &r.findings {
        assert!(f.span.start <= f.span.end && f.span.end <= text.len(), "{f:?} in {text:?}");
        assert!(text.is_char_boundary(f.span.start) && text.is_char_boundary(f.span.end), "{f:?} in {text:?}");
    }
    let n = normalise(text);
    let len = n.as_str().len();
    for (a, b) in [(0, len), (0, 1), (len / 2, len), (1, 3)] {
        let span = n.original_span(a..b);
        assert!(span.end <= text.len() && text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
    }
}

proptest! {
    #[test]
    fn screen_never_panics_on_any_string(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn screen_never_panics_on_tricky_strings(text in tricky()) {
        check(&text);
    }
}
