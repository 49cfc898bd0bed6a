//! Folding text before matching, with a map from every folded char back to the original bytes.
//!
//! Two sequences are produced from one pass over the original:
//! - the *lite* sequence: compatibility-decomposed (the K of NFKC, per character), lower-cased,
//!   homoglyphs folded, traditional → simplified, invisible characters (zero-width, variation
//!   selectors, combining marks) removed, but punctuation and spaces kept. Links, `% off` and
//!   `N折` are found on it, because dots and percent signs matter there;
//! - the *folded* sequence: the lite one with every separator dropped (only letters and digits
//!   remain), and leetspeak folded inside runs that mix Latin letters with digits, `@` or `$`.
//!   Lexicon terms and built-in phrases are matched on it.
//!
//! Every char of both sequences remembers the byte range of the original char it came from.

use std::ops::Range;
use std::sync::LazyLock;

/// One char of the lite sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiteChar {
    pub c: char,
    pub start: u32,
    pub end: u32,
}

/// One char of the folded sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoldedChar {
    /// The folded char.
    pub c: char,
    /// Its byte offset in the folded string.
    pub folded_start: u32,
    /// The byte range of the original char it came from.
    pub orig_start: u32,
    pub orig_end: u32,
    /// A dropped separator lies between this char and the previous folded char (or it is first).
    pub sep_before: bool,
}

/// A text folded for matching: letters and digits only, see the crate docs for the rules.
///
/// [`Normalised::as_str`] is the folded text; [`Normalised::original_span`] maps a byte range
/// of it back to the byte range of the original text it came from.
#[derive(Debug, Clone, Default)]
pub struct Normalised {
    pub(crate) folded: String,
    pub(crate) chars: Vec<FoldedChar>,
    pub(crate) lite: Vec<LiteChar>,
    pub(crate) orig_len: usize,
}

impl Normalised {
    /// The folded text.
    pub fn as_str(&self) -> &str {
        &self.folded
    }

    /// The number of chars of the folded text.
    pub fn char_count(&self) -> usize {
        self.chars.len()
    }

    /// The byte range of the original text that the byte range `folded` of [`Normalised::as_str`]
    /// came from. Always on char boundaries of the original; out-of-range or empty input gives an
    /// empty range (never panics).
    pub fn original_span(&self, folded: Range<usize>) -> Range<usize> {
        let first = self.chars.partition_point(|fc| (fc.folded_start as usize) < folded.start);
        let after = self.chars.partition_point(|fc| (fc.folded_start as usize) < folded.end);
        if first >= after {
            let at = self.chars.get(first).map_or(self.orig_len, |fc| fc.orig_start as usize);
            return at..at;
        }
        self.char_span(first, after)
    }

    /// The original byte range of folded chars `first..after` (char indices, `first < after`).
    pub(crate) fn char_span(&self, first: usize, after: usize) -> Range<usize> {
        match (self.chars.get(first), after.checked_sub(1).and_then(|l| self.chars.get(l))) {
            (Some(a), Some(b)) => {
                let start = a.orig_start as usize;
                start..(b.orig_end as usize).max(start)
            }
            _ => self.orig_len..self.orig_len,
        }
    }

    /// The char index in the folded sequence of the char starting at folded byte `byte`.
    pub(crate) fn char_at_byte(&self, byte: usize) -> usize {
        self.chars.partition_point(|fc| (fc.folded_start as usize) < byte)
    }

    fn clear(&mut self) {
        self.folded.clear();
        self.chars.clear();
        self.lite.clear();
        self.orig_len = 0;
    }
}

/// Folds `text` (see the crate docs): the folded text and the map back to the original.
pub fn normalise(text: &str) -> Normalised {
    let mut n = Normalised::default();
    normalise_into(text, &mut n);
    n
}

/// As [`normalise`], reusing `out`'s buffers. `text` must be shorter than 4 GiB (callers cap it).
pub(crate) fn normalise_into(text: &str, out: &mut Normalised) {
    out.clear();
    out.orig_len = text.len();
    build_lite(text, &mut out.lite);
    build_folded(&out.lite, &mut out.folded, &mut out.chars);
}

const CJK_FIRST: u32 = 0x4E00;
const CJK_LAST: u32 = 0x9FFF;

/// Traditional → simplified for U+4E00..=U+9FFF, one char at a time (fast2s's table, which is
/// all in that block), computed once.
static T2S: LazyLock<Vec<char>> = LazyLock::new(|| {
    let mut table = Vec::with_capacity((CJK_LAST - CJK_FIRST + 1) as usize);
    let mut buf = [0u8; 4];
    for cp in CJK_FIRST..=CJK_LAST {
        let c = char::from_u32(cp).unwrap_or(' ');
        let converted = fast2s::convert(c.encode_utf8(&mut buf));
        let mut it = converted.chars();
        let mapped = match (it.next(), it.next()) {
            (Some(m), None) => m,
            _ => c,
        };
        table.push(mapped);
    }
    table
});

#[inline]
fn is_cjk(c: char) -> bool {
    (CJK_FIRST..=CJK_LAST).contains(&(c as u32))
}

#[inline]
fn t2s(c: char) -> char {
    T2S.get((c as u32).wrapping_sub(CJK_FIRST) as usize).copied().unwrap_or(c)
}

/// Characters that are dropped without even counting as a separator: zero-width characters,
/// joiners, bidi marks, soft hyphen, variation selectors, tag characters.
#[inline]
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xE0000..=0xE0FFF)
}

/// Cyrillic, Greek and Latin-extension look-alikes of Latin letters (both cases), to lower-case
/// Latin. Written for this crate.
#[inline]
pub(crate) fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic, lower case
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' | 'є' => 'e',
        'к' | 'ќ' => 'k',
        'м' => 'm',
        'н' | 'һ' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' | 'ў' | 'ү' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ɡ' => 'g',
        // Cyrillic, upper case
        'А' => 'a',
        'В' => 'b',
        'Е' | 'Ё' | 'Є' => 'e',
        'К' | 'Ќ' => 'k',
        'М' => 'm',
        'Н' | 'Һ' => 'h',
        'О' => 'o',
        'Р' => 'p',
        'С' => 'c',
        'Т' => 't',
        'У' | 'Ү' => 'y',
        'Х' => 'x',
        'Ѕ' => 's',
        'І' | 'Ї' => 'i',
        'Ј' => 'j',
        'Ԁ' => 'd',
        'Ԛ' => 'q',
        'Ԝ' => 'w',
        'Ӏ' => 'l',
        // Greek, upper case (before lower-casing: Η looks like H, its lower case η like n)
        'Α' => 'a',
        'Β' => 'b',
        'Ε' => 'e',
        'Ζ' => 'z',
        'Η' => 'h',
        'Ι' => 'i',
        'Κ' => 'k',
        'Μ' => 'm',
        'Ν' => 'n',
        'Ο' => 'o',
        'Ρ' => 'p',
        'Τ' => 't',
        'Υ' => 'y',
        'Χ' => 'x',
        // Greek, lower case
        'α' => 'a',
        'β' => 'b',
        'γ' => 'y',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'ϲ' => 'c',
        'ϳ' => 'j',
        // Latin extensions
        'ı' => 'i',
        'ɑ' => 'a',
        'ǀ' => 'l',
        'ʏ' => 'y',
        'ȷ' => 'j',
        'ß' => 's',
        'ø' => 'o',
        'đ' => 'd',
        'ł' => 'l',
        'ħ' => 'h',
        _ => return None,
    })
}

/// Pushes one already-decomposed char to the lite sequence, folded.
#[inline]
fn push_lite(d: char, start: u32, end: u32, lite: &mut Vec<LiteChar>) {
    if d.is_ascii() {
        lite.push(LiteChar { c: d.to_ascii_lowercase(), start, end });
    } else if is_cjk(d) {
        lite.push(LiteChar { c: t2s(d), start, end });
    } else if is_invisible(d) || unicode_normalization::char::is_combining_mark(d) {
    } else if let Some(h) = homoglyph(d) {
        lite.push(LiteChar { c: h, start, end });
    } else {
        for l in d.to_lowercase() {
            if unicode_normalization::char::is_combining_mark(l) {
                continue;
            }
            let c = homoglyph(l).unwrap_or(l);
            lite.push(LiteChar { c, start, end });
        }
    }
}

fn build_lite(text: &str, lite: &mut Vec<LiteChar>) {
    lite.reserve(text.len());
    let table: &[char] = &T2S;
    for (i, c) in text.char_indices() {
        let start = i as u32;
        let end = (i + c.len_utf8()) as u32;
        if c.is_ascii() {
            lite.push(LiteChar { c: c.to_ascii_lowercase(), start, end });
        } else if is_cjk(c) {
            let c = table.get((c as u32 - CJK_FIRST) as usize).copied().unwrap_or(c);
            lite.push(LiteChar { c, start, end });
        } else if matches!(c as u32, 0x3001..=0x3035 | 0x2018..=0x201D) {
            // CJK punctuation and curly quotes: stable under folding, the commonest non-ASCII
            // non-ideographs in Chinese SMS.
            lite.push(LiteChar { c, start, end });
        } else if is_invisible(c) {
        } else {
            unicode_normalization::char::decompose_compatible(c, |d| push_lite(d, start, end, lite));
        }
    }
}

/// Leetspeak: what a digit or symbol stands for inside a mixed Latin run.
#[inline]
fn leet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '8' => 'b',
        '@' => 'a',
        '$' => 's',
        other => other,
    }
}

#[inline]
fn is_run_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '@' || c == '$'
}

fn build_folded(lite: &[LiteChar], folded: &mut String, chars: &mut Vec<FoldedChar>) {
    folded.reserve(lite.len() * 3);
    chars.reserve(lite.len());
    let mut sep = true;
    let mut i = 0;
    while let Some(lc) = lite.get(i) {
        if is_run_char(lc.c) {
            // A maximal run of ASCII letters, digits, `@` and `$`.
            let mut j = i;
            let (mut letters, mut others) = (false, false);
            while let Some(rc) = lite.get(j) {
                if !is_run_char(rc.c) {
                    break;
                }
                if rc.c.is_ascii_alphabetic() {
                    letters = true;
                } else {
                    others = true;
                }
                j += 1;
            }
            let mixed = letters && others;
            for rc in lite.get(i..j).unwrap_or_default() {
                let c = if mixed {
                    leet(rc.c)
                } else if rc.c == '@' || rc.c == '$' {
                    sep = true;
                    continue;
                } else {
                    rc.c
                };
                push_folded(c, rc, sep, folded, chars);
                sep = false;
            }
            i = j;
        } else {
            if is_cjk(lc.c) || lc.c.is_alphanumeric() {
                push_folded(lc.c, lc, sep, folded, chars);
                sep = false;
            } else {
                sep = true;
            }
            i += 1;
        }
    }
}

#[inline]
fn push_folded(c: char, from: &LiteChar, sep_before: bool, folded: &mut String, chars: &mut Vec<FoldedChar>) {
    chars.push(FoldedChar {
        c,
        folded_start: folded.len() as u32,
        orig_start: from.start,
        orig_end: from.end,
        sep_before,
    });
    folded.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        normalise(s).as_str().to_string()
    }

    #[test]
    fn full_width_and_case() {
        assert_eq!(fold("ＦＲＥＥ Ｍｏｎｅｙ"), "freemoney");
        assert_eq!(fold("ＡＢＣ１２３"), "abci2e");
        assert_eq!(fold("１２３４５６"), "123456");
    }

    #[test]
    fn traditional_to_simplified() {
        assert_eq!(fold("領取優惠"), "领取优惠");
        assert_eq!(fold("代開發票"), "代开发票");
    }

    #[test]
    fn invisible_and_separators_dropped() {
        assert_eq!(fold("代\u{200D}开\u{200D}发\u{200D}票"), "代开发票");
        assert_eq!(fold("代 开-发。票"), "代开发票");
        assert_eq!(fold("代😀开🔥发✨票"), "代开发票");
        assert_eq!(fold("代\u{FE0F}开\u{2060}发\u{FEFF}票"), "代开发票");
        assert_eq!(fold("s.e.x!"), "sex");
    }

    #[test]
    fn homoglyphs_fold_to_latin() {
        // Cyrillic е (U+0435) twice
        assert_eq!(fold("fr\u{0435}\u{0435}"), "free");
        assert_eq!(fold("ΗΕLLΟ"), "hello");
        assert_eq!(fold("раураl"), "paypal");
    }

    #[test]
    fn leet_only_in_mixed_runs() {
        assert_eq!(fold("fr33 m0ney"), "freemoney");
        assert_eq!(fold("v1agra ca$h c@sh"), "viagracashcash");
        // pure digits are never folded: codes and amounts stay digits
        assert_eq!(fold("验证码 518370，金额 $100"), "验证码518370金额100");
        assert_eq!(fold("code 1357"), "code1357");
    }

    #[test]
    fn diacritics_and_compat_forms() {
        assert_eq!(fold("Café ﬁne ①"), "cafefine1");
    }

    #[test]
    fn spans_map_back_to_original() {
        let text = "ｆｒ３３ 代\u{200D}開發票 fr\u{0435}e";
        let n = normalise(text);
        assert_eq!(n.as_str(), "free代开发票free");
        let folded = n.as_str();
        let at = folded.find("代开发票").unwrap_or(usize::MAX);
        let span = n.original_span(at..at + "代开发票".len());
        assert_eq!(&text[span], "代\u{200D}開發票");
        let span = n.original_span(0..4);
        assert_eq!(&text[span], "ｆｒ３３");
        let last = folded.len();
        let span = n.original_span(last - 4..last);
        assert_eq!(&text[span], "fr\u{0435}e");
        // nonsense ranges never panic
        assert!(n.original_span(1000..2000).is_empty());
        assert!(n.original_span(Range { start: 5, end: 2 }).is_empty());
    }

    #[test]
    fn separators_recorded() {
        let n = normalise("s e x");
        let seps: Vec<bool> = n.chars.iter().map(|c| c.sep_before).collect();
        assert_eq!(seps, vec![true, true, true]);
        let n = normalise("sex");
        let seps: Vec<bool> = n.chars.iter().map(|c| c.sep_before).collect();
        assert_eq!(seps, vec![true, false, false]);
    }
}
