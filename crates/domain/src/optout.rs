//! Opt-out replies (MO): a recipient who answers one of these words alone stops receiving
//! that customer's messages. The words are configurable; these are the defaults the issue
//! and Chinese practice name (TD / T / 退订 on every marketing footer, N, and the English
//! STOP / UNSUBSCRIBE).

pub const DEFAULT_KEYWORDS: &[&str] = &["TD", "T", "退订", "N", "STOP", "UNSUBSCRIBE"];

/// Whether `text` is an opt-out reply: after trimming whitespace and punctuation around it,
/// the whole text equals one keyword, ignoring case and full-width forms. A sentence that
/// merely contains a keyword ("Do not stop the delivery") is not an opt-out.
pub fn is_opt_out<S: AsRef<str>>(text: &str, keywords: &[S]) -> bool {
    if text.len() > 64 {
        return false;
    }
    let folded: String = text
        .chars()
        .map(fold_width)
        .skip_while(|c| !c.is_alphanumeric())
        .collect::<String>()
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    !folded.is_empty() && keywords.iter().any(|k| k.as_ref().trim().to_lowercase() == folded)
}

/// Full-width ASCII (U+FF01–U+FF5E) to ASCII, the ideographic space to a space.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyword_alone_is_an_opt_out_in_any_case_width_or_punctuation() {
        for text in ["TD", "td", " t ", "退订", "退订。", "ＳＴＯＰ", "Stop!", "unsubscribe", "n"] {
            assert!(is_opt_out(text, DEFAULT_KEYWORDS), "{text:?}");
        }
    }

    #[test]
    fn a_sentence_with_a_keyword_is_not_an_opt_out() {
        for text in ["", "OK", "Do not stop the delivery", "我不想退订", "TDD", "yes", "T T"] {
            assert!(!is_opt_out(text, DEFAULT_KEYWORDS), "{text:?}");
        }
    }

    #[test]
    fn the_keywords_are_configurable() {
        assert!(is_opt_out("取消", &["取消"]));
        assert!(!is_opt_out("TD", &["取消"]));
    }
}
