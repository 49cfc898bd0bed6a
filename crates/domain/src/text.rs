//! Message text: the one place that knows how an SMS body is encoded,
//! counted and cut into parts.
//!
//! This module owns:
//! - the GSM 7-bit default alphabet and its extension table
//!   (GSM 03.38, now 3GPP TS 23.038 §6.2.1 and §6.2.1.1);
//! - the choice of data coding: GSM 7-bit when every character is in that
//!   alphabet, otherwise UCS-2 (sent as UTF-16, so a character outside the
//!   BMP takes a surrogate pair, two code units);
//! - unit counting (septets, or UTF-16 code units), billable segments and
//!   splitting into the parts that go on the wire;
//! - unpacked septet and UTF-16BE encoders and decoders for the gateways.
//!
//! Limits come from the 140-octet TP-User-Data of 3GPP TS 23.040 §9.2.3.24:
//! 160 septets or 70 UCS-2 units in a single message; a concatenated message
//! spends 6 octets on its user data header (IEI 0x00, 8-bit reference), which
//! leaves 153 septets or 67 UCS-2 units per part.

use std::fmt;

/// The escape to the extension table (3GPP TS 23.038 §6.2.1, code 0x1B).
/// It is a code, not a character: no text character encodes to it alone.
const ESC: u8 = 0x1B;

/// GSM 7-bit default alphabet, indexed by septet value
/// (3GPP TS 23.038 §6.2.1). Slot 0x1B is the escape to the extension table;
/// it holds a placeholder that the encoder never matches and the decoder
/// never reads.
const BASIC: [char; 128] = [
    // 0x00
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', // 0x10
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É',
    // 0x20 (note 0x24 is the currency sign, not '$')
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', // 0x30
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', // 0x40
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', // 0x50
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
    // 0x60 (no backtick: 0x60 is the inverted question mark)
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', // 0x70
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The extension table (3GPP TS 23.038 §6.2.1.1): `(code after ESC, char)`.
/// Each of these costs two septets, ESC and the code.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Internal code of a character: the septet for the basic table,
/// `EXT_FLAG | code` for the extension table, or `NOT_GSM`.
/// 0xFF cannot clash with an extension code, all of which are below 0x7F.
const NOT_GSM: u8 = 0xFF;
const EXT_FLAG: u8 = 0x80;

/// ASCII characters to internal codes, built from the two tables above at
/// compile time so that they cannot drift apart.
const ASCII_TO_GSM: [u8; 128] = ascii_table();

const fn ascii_table() -> [u8; 128] {
    let mut table = [NOT_GSM; 128];
    let mut code = 0;
    while code < BASIC.len() {
        let c = BASIC[code] as u32;
        if code != ESC as usize && c < 128 {
            table[c as usize] = code as u8;
        }
        code += 1;
    }
    let mut i = 0;
    while i < EXTENSION.len() {
        let (code, c) = EXTENSION[i];
        if (c as u32) < 128 {
            table[c as usize] = EXT_FLAG | code;
        }
        i += 1;
    }
    table
}

/// Internal code of `c` (see `NOT_GSM`, `EXT_FLAG`): a table lookup for
/// ASCII and a match for the 40 non-ASCII characters of 3GPP TS 23.038.
/// Mapping is strict: no look-alike folding (`ç` is not `Ç`, the Ohm sign is
/// not `Ω`), since the text is sent as written.
#[inline]
fn gsm7_code(c: char) -> u8 {
    if c.is_ascii() {
        return ASCII_TO_GSM[c as usize];
    }
    match c {
        '£' => 0x01,
        '¥' => 0x03,
        'è' => 0x04,
        'é' => 0x05,
        'ù' => 0x06,
        'ì' => 0x07,
        'ò' => 0x08,
        'Ç' => 0x09,
        'Ø' => 0x0B,
        'ø' => 0x0C,
        'Å' => 0x0E,
        'å' => 0x0F,
        'Δ' => 0x10,
        'Φ' => 0x12,
        'Γ' => 0x13,
        'Λ' => 0x14,
        'Ω' => 0x15,
        'Π' => 0x16,
        'Ψ' => 0x17,
        'Σ' => 0x18,
        'Θ' => 0x19,
        'Ξ' => 0x1A,
        'Æ' => 0x1C,
        'æ' => 0x1D,
        'ß' => 0x1E,
        'É' => 0x1F,
        '¤' => 0x24,
        '¡' => 0x40,
        'Ä' => 0x5B,
        'Ö' => 0x5C,
        'Ñ' => 0x5D,
        'Ü' => 0x5E,
        '§' => 0x5F,
        '¿' => 0x60,
        'ä' => 0x7B,
        'ö' => 0x7C,
        'ñ' => 0x7D,
        'ü' => 0x7E,
        'à' => 0x7F,
        '€' => EXT_FLAG | 0x65,
        _ => NOT_GSM,
    }
}

/// Septets of one char in the GSM 03.38 default alphabet
/// (3GPP TS 23.038 §6.2.1): `Some(1)` for the basic table, `Some(2)` for the
/// extension table (ESC + code, §6.2.1.1), `None` when it is not GSM.
#[inline]
pub fn gsm7_septets(c: char) -> Option<usize> {
    match gsm7_code(c) {
        NOT_GSM => None,
        code if code & EXT_FLAG != 0 => Some(2),
        _ => Some(1),
    }
}

/// Encode to unpacked GSM 03.38 septets, one byte each (values 0x00..=0x7F),
/// extension characters as `0x1B` followed by their code. `None` when any
/// character is not in the default alphabet.
pub fn encode_gsm7_unpacked(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match gsm7_code(c) {
            NOT_GSM => return None,
            code if code & EXT_FLAG != 0 => {
                out.push(ESC);
                out.push(code & !EXT_FLAG);
            }
            code => out.push(code),
        }
    }
    Some(out)
}

/// Decode unpacked septets (one per byte), leniently; never fails.
///
/// - A byte of 0x80 or more is not a septet and becomes `'?'`.
/// - `ESC` + an extension code gives the extension character.
/// - `ESC` + a code with no extension character gives the basic-table
///   character for that code, as 3GPP TS 23.038 §6.2.1.1 tells a receiver to
///   display (`'?'` if that code is 0x80 or more).
/// - `ESC ESC` is reserved for a further extension table; the same clause
///   says to display a space, so it becomes `' '`.
/// - A lone `ESC` as the last byte has nothing to escape and is dropped.
pub fn decode_gsm7_unpacked(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(b) = iter.next() {
        if b != ESC {
            out.push(basic_char(b));
            continue;
        }
        match iter.next() {
            None => break,
            Some(ESC) => out.push(' '),
            Some(code) => out.push(extension_char(code).unwrap_or_else(|| basic_char(code))),
        }
    }
    out
}

/// The basic-table character of a septet; `'?'` for a byte that is not one.
fn basic_char(septet: u8) -> char {
    BASIC.get(usize::from(septet)).copied().unwrap_or('?')
}

/// The extension-table character after ESC, if the code has one.
fn extension_char(code: u8) -> Option<char> {
    EXTENSION.iter().find(|&&(k, _)| k == code).map(|&(_, c)| c)
}

/// Encode as UTF-16BE, which is what "UCS-2" means on the wire today:
/// characters outside the BMP go as surrogate pairs.
pub fn encode_ucs2(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.encode_utf16().count() * 2);
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Decode UTF-16BE, lossily: an unpaired surrogate becomes U+FFFD and an odd
/// trailing byte is dropped.
pub fn decode_ucs2(bytes: &[u8]) -> String {
    let (pairs, _odd) = bytes.as_chunks::<2>();
    char::decode_utf16(pairs.iter().map(|&pair| u16::from_be_bytes(pair)))
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Data coding of a message (3GPP TS 23.038 §4, SMS data coding scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// GSM 7-bit default alphabet; units are septets.
    Gsm7,
    /// UCS-2 (UTF-16 in practice); units are 16-bit code units.
    Ucs2,
}

impl Encoding {
    /// `"gsm7"` or `"ucs2"`, as serialised.
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }

    /// Units that fit one unconcatenated message: 140 octets of user data
    /// (3GPP TS 23.040 §9.2.3.24) hold 160 septets or 70 UCS-2 units.
    pub const fn single_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units that fit one part of a concatenated message: the 6-octet user
    /// data header leaves 134 octets, 153 septets or 67 UCS-2 units.
    pub const fn part_limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }

    /// Units one character costs in a text of this encoding. For GSM the
    /// character is known to be in the alphabet; the fallback is never used.
    #[inline]
    fn units_of(self, c: char) -> usize {
        match self {
            Encoding::Gsm7 => gsm7_septets(c).unwrap_or(2),
            Encoding::Ucs2 => c.len_utf16(),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The text has no characters at all.
    #[error("text is empty")]
    Empty,
}

/// A non-empty message text, analysed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    text: String,
    encoding: Encoding,
    units: usize,
    segments: u32,
}

impl Text {
    /// Analyse `s`. Only the empty string is refused; whitespace-only text
    /// is a text. One pass over the characters; the owned copy of `s` is the
    /// only allocation.
    pub fn parse(s: &str) -> Result<Text, TextError> {
        let analysis = analyse(s)?;
        Ok(analysis.into_text(s.to_owned()))
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// GSM 7-bit when every character is in the default alphabet, else UCS-2.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// GSM septets (an extension character counts 2) or UTF-16 code units
    /// (a character outside the BMP counts 2).
    pub fn units(&self) -> usize {
        self.units
    }

    /// Billable segments: the number of parts [`Text::split`] sends.
    ///
    /// That is 1 when the units fit the single limit, else
    /// `ceil(units / part_limit)`, plus one more whenever an escape pair or a
    /// surrogate pair had to move whole to the next part and the unit it
    /// left unused pushes the count over. For example 152 GSM letters, `€`
    /// and 152 more letters are 306 septets, `ceil(306 / 153) = 2`, but the
    /// `€` cannot be cut after its ESC, so three parts go out and three are
    /// billed. Counted in the same pass as the units.
    pub fn segments(&self) -> u32 {
        self.segments
    }

    /// The parts as sent: one part when the text fits the single limit,
    /// otherwise parts of at most the part limit, filled greedily. A part
    /// never ends between the two septets of an extension character or the
    /// two units of a surrogate pair. The parts joined give the text back.
    pub fn split(&self) -> Vec<&str> {
        let s = self.text.as_str();
        if self.units <= self.encoding.single_limit() {
            return vec![s];
        }
        let limit = self.encoding.part_limit();
        let mut parts = Vec::with_capacity(self.segments as usize);
        let mut start = 0;
        let mut current = 0;
        for (i, c) in s.char_indices() {
            let w = self.encoding.units_of(c);
            if current + w > limit {
                parts.push(&s[start..i]);
                start = i;
                current = 0;
            }
            current += w;
        }
        parts.push(&s[start..]);
        parts
    }
}

impl TryFrom<String> for Text {
    type Error = TextError;

    /// As [`Text::parse`], keeping the given buffer instead of copying it.
    fn try_from(s: String) -> Result<Text, TextError> {
        let analysis = analyse(&s)?;
        Ok(analysis.into_text(s))
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What one pass over a text finds.
struct Analysis {
    encoding: Encoding,
    units: usize,
    segments: u32,
}

impl Analysis {
    fn into_text(self, text: String) -> Text {
        Text { text, encoding: self.encoding, units: self.units, segments: self.segments }
    }
}

/// Units and greedy part count of a text under one encoding, fed a
/// character's units at a time. Filling parts of `part_limit` the same way
/// as [`Text::split`] is what makes `segments()` equal the parts sent.
struct PartCounter {
    part_limit: usize,
    units: usize,
    closed: u32,
    current: usize,
}

impl PartCounter {
    const fn new(encoding: Encoding) -> PartCounter {
        PartCounter { part_limit: encoding.part_limit(), units: 0, closed: 0, current: 0 }
    }

    #[inline]
    fn push(&mut self, w: usize) {
        self.units += w;
        if self.current + w > self.part_limit {
            self.closed = self.closed.saturating_add(1);
            self.current = 0;
        }
        self.current += w;
    }

    fn finish(self, encoding: Encoding) -> Analysis {
        let segments = if self.units <= encoding.single_limit() { 1 } else { self.closed.saturating_add(1) };
        Analysis { encoding, units: self.units, segments }
    }
}

/// The single pass: counts GSM septets and parts while every character so
/// far is GSM, and UTF-16 units and parts all along, so that whichever
/// encoding wins is already counted at the end.
fn analyse(s: &str) -> Result<Analysis, TextError> {
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    let mut gsm = PartCounter::new(Encoding::Gsm7);
    let mut ucs2 = PartCounter::new(Encoding::Ucs2);
    let mut all_gsm = true;
    for c in s.chars() {
        ucs2.push(c.len_utf16());
        if all_gsm {
            match gsm7_septets(c) {
                Some(w) => gsm.push(w),
                None => all_gsm = false,
            }
        }
    }
    Ok(if all_gsm { gsm.finish(Encoding::Gsm7) } else { ucs2.finish(Encoding::Ucs2) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The basic table of 3GPP TS 23.038 §6.2.1 in code order, ESC left out,
    /// written out independently of `BASIC`.
    const SPEC_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                              ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

    /// The extension table of §6.2.1.1 and the septets each encodes to.
    const SPEC_EXTENSION: [(char, u8); 10] = [
        ('\u{0C}', 0x0A),
        ('^', 0x14),
        ('{', 0x28),
        ('}', 0x29),
        ('\\', 0x2F),
        ('[', 0x3C),
        ('~', 0x3D),
        (']', 0x3E),
        ('|', 0x40),
        ('€', 0x65),
    ];

    fn text(s: &str) -> Text {
        Text::parse(s).expect("non-empty text parses")
    }

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    #[test]
    fn basic_table_is_exact() {
        let codes: Vec<u8> = (0u8..128).filter(|&b| b != ESC).collect();
        assert_eq!(SPEC_BASIC.chars().count(), 127);
        assert_eq!(encode_gsm7_unpacked(SPEC_BASIC), Some(codes.clone()));
        assert_eq!(decode_gsm7_unpacked(&codes), SPEC_BASIC);
        for c in SPEC_BASIC.chars() {
            assert_eq!(gsm7_septets(c), Some(1), "{c:?}");
        }
    }

    #[test]
    fn extension_table_is_exact() {
        for (c, code) in SPEC_EXTENSION {
            assert_eq!(gsm7_septets(c), Some(2), "{c:?}");
            assert_eq!(encode_gsm7_unpacked(&c.to_string()), Some(vec![ESC, code]));
            assert_eq!(decode_gsm7_unpacked(&[ESC, code]), c.to_string());
        }
    }

    #[test]
    fn nothing_else_is_gsm() {
        let mut basic = 0;
        let mut extension = 0;
        for c in all_chars() {
            match gsm7_septets(c) {
                Some(1) => {
                    basic += 1;
                    assert!(SPEC_BASIC.contains(c), "{c:?}");
                }
                Some(2) => {
                    extension += 1;
                    assert!(SPEC_EXTENSION.iter().any(|&(e, _)| e == c), "{c:?}");
                }
                Some(n) => panic!("{c:?} counts {n}"),
                None => assert_eq!(encode_gsm7_unpacked(&c.to_string()), None),
            }
        }
        assert_eq!((basic, extension), (127, 10));
    }

    #[test]
    fn notable_characters() {
        assert_eq!(gsm7_septets('$'), Some(1));
        assert_eq!(gsm7_septets('¤'), Some(1));
        assert_eq!(gsm7_septets('@'), Some(1));
        assert_eq!(gsm7_septets('_'), Some(1));
        assert_eq!(gsm7_septets('€'), Some(2));
        assert_eq!(gsm7_septets('`'), None);
        assert_eq!(gsm7_septets('\t'), None);
        assert_eq!(gsm7_septets('\u{1B}'), None);
        assert_eq!(gsm7_septets('ç'), None);
        assert_eq!(gsm7_septets('\u{2126}'), None); // Ohm sign, not Ω
        assert_eq!(gsm7_septets('中'), None);
        assert_eq!(gsm7_septets('😀'), None);
        assert_eq!(encode_gsm7_unpacked("$¤"), Some(vec![0x02, 0x24]));
    }

    #[test]
    fn empty_is_an_error_but_whitespace_is_text() {
        assert_eq!(Text::parse(""), Err(TextError::Empty));
        assert_eq!(Text::try_from(String::new()), Err(TextError::Empty));
        assert_eq!(TextError::Empty.to_string(), "text is empty");
        let t = text(" ");
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Gsm7, 1, 1));
        assert_eq!(text("\t").encoding(), Encoding::Ucs2);
    }

    #[test]
    fn ascii_160_is_one_segment_161_is_two() {
        let t = text(&"a".repeat(160));
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Gsm7, 160, 1));
        assert_eq!(t.split(), vec![t.as_str()]);

        let t = text(&"a".repeat(161));
        assert_eq!((t.units(), t.segments()), (161, 2));
        let parts = t.split();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].len(), parts[1].len()), (153, 8));
    }

    #[test]
    fn gsm_part_multiples() {
        assert_eq!(text(&"a".repeat(306)).segments(), 2);
        assert_eq!(text(&"a".repeat(307)).segments(), 3);
        assert_eq!(text(&"a".repeat(459)).segments(), 3);
    }

    #[test]
    fn chinese_70_is_one_segment_71_is_two() {
        let t = text(&"测".repeat(70));
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Ucs2, 70, 1));
        assert_eq!(t.split().len(), 1);

        let t = text(&"测".repeat(71));
        assert_eq!((t.units(), t.segments()), (71, 2));
        let parts = t.split();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].chars().count(), parts[1].chars().count()), (67, 4));
    }

    #[test]
    fn one_non_gsm_char_makes_the_whole_text_ucs2() {
        let t = text(&format!("{}中", "a".repeat(69)));
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Ucs2, 70, 1));
        let t = text(&format!("{}`", "a".repeat(70)));
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Ucs2, 71, 2));
    }

    #[test]
    fn euro_counts_two_septets() {
        let t = text("€");
        assert_eq!((t.encoding(), t.units()), (Encoding::Gsm7, 2));
        assert_eq!(text(&"€".repeat(80)).segments(), 1);
        assert_eq!(text(&"€".repeat(81)).segments(), 2);
        assert_eq!(text("x^{}\\[~]|\u{0C}").units(), 19);
    }

    #[test]
    fn extension_char_at_the_153_boundary_moves_to_the_next_part() {
        // 152 septets, then an escape pair that would end at septet 154.
        let s = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let t = text(&s);
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Gsm7, 164, 2));
        let parts = t.split();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(152));
        assert_eq!(parts[1], format!("€{}", "b".repeat(10)));

        // One septet earlier the pair ends exactly at 153 and stays.
        let s = format!("{}€{}", "a".repeat(151), "b".repeat(10));
        let parts = text(&s).split().into_iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(parts, vec![format!("{}€", "a".repeat(151)), "b".repeat(10)]);
    }

    #[test]
    fn a_moved_pair_can_cost_an_extra_segment() {
        // 306 septets would be 2 parts of 153, but the € cannot be cut.
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        let t = text(&s);
        assert_eq!((t.units(), t.segments()), (306, 3));
        let parts = t.split();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), s);
    }

    #[test]
    fn emoji_counts_two_units_and_is_never_split() {
        let t = text("😀");
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Ucs2, 2, 1));

        // 66 units, then a surrogate pair that would end at unit 68.
        let s = format!("{}😀{}", "测".repeat(66), "测".repeat(10));
        let t = text(&s);
        assert_eq!((t.units(), t.segments()), (78, 2));
        let parts = t.split();
        assert_eq!(parts[0], "测".repeat(66));
        assert!(parts[1].starts_with('😀'));

        // One unit earlier it fits exactly.
        let s = format!("{}😀{}", "测".repeat(65), "测".repeat(10));
        let t = text(&s);
        let parts = t.split();
        assert_eq!(parts[0], format!("{}😀", "测".repeat(65)));
        assert_eq!(parts[1], "测".repeat(10));

        assert_eq!(text(&"😀".repeat(35)).segments(), 1);
        assert_eq!(text(&"😀".repeat(36)).segments(), 2);
    }

    #[test]
    fn signed_chinese_verification_code_is_ucs2() {
        let t = text("【签名】验证码123456");
        assert_eq!((t.encoding(), t.units(), t.segments()), (Encoding::Ucs2, 13, 1));
        assert_eq!(t.as_str(), "【签名】验证码123456");
        assert_eq!(t.to_string(), "【签名】验证码123456");
    }

    #[test]
    fn try_from_string_matches_parse() {
        let s = format!("{}€", "a".repeat(200));
        assert_eq!(Text::try_from(s.clone()), Text::parse(&s));
    }

    #[test]
    fn gsm_round_trip() {
        let s = "Hello @ £5 {x} [y] ~ | \\ ^ € ÆØÅ\r\n¿¡ ΔΦΓΛΩΠΨΣΘΞ\u{0C}";
        let bytes = encode_gsm7_unpacked(s).expect("all GSM");
        assert_eq!(bytes.len(), text(s).units());
        assert!(bytes.iter().all(|&b| b < 0x80));
        assert_eq!(decode_gsm7_unpacked(&bytes), s);
        assert_eq!(encode_gsm7_unpacked("Hi 中"), None);
    }

    #[test]
    fn gsm_decode_is_lenient() {
        // Trailing lone ESC is dropped.
        assert_eq!(decode_gsm7_unpacked(&[0x41, ESC]), "A");
        // Bytes that are not septets become '?'.
        assert_eq!(decode_gsm7_unpacked(&[0x80, 0x41, 0xFF]), "?A?");
        assert_eq!(decode_gsm7_unpacked(&[ESC, 0x90]), "?");
        // ESC ESC shows as a space.
        assert_eq!(decode_gsm7_unpacked(&[ESC, ESC, 0x41]), " A");
        // ESC + a code with no extension character shows the basic one.
        assert_eq!(decode_gsm7_unpacked(&[ESC, 0x41]), "A");
        assert_eq!(decode_gsm7_unpacked(&[ESC, 0x00]), "@");
        assert_eq!(decode_gsm7_unpacked(&[]), "");
    }

    #[test]
    fn ucs2_round_trip() {
        assert_eq!(encode_ucs2("A中"), vec![0x00, 0x41, 0x4E, 0x2D]);
        assert_eq!(encode_ucs2("😀"), vec![0xD8, 0x3D, 0xDE, 0x00]);
        let s = "【签名】验证码123456 😀 €`";
        let bytes = encode_ucs2(s);
        assert_eq!(bytes.len(), 2 * text(s).units());
        assert_eq!(decode_ucs2(&bytes), s);
    }

    #[test]
    fn ucs2_decode_is_lossy() {
        // Odd trailing byte dropped.
        assert_eq!(decode_ucs2(&[0x00, 0x41, 0x00]), "A");
        // Unpaired surrogates become U+FFFD.
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0x00, 0x41]), "\u{FFFD}A");
        assert_eq!(decode_ucs2(&[0xDE, 0x00]), "\u{FFFD}");
        assert_eq!(decode_ucs2(&[]), "");
    }

    #[test]
    fn every_gsm_char_round_trips_alone() {
        for c in all_chars().filter(|&c| gsm7_septets(c).is_some()) {
            let s = c.to_string();
            let bytes = encode_gsm7_unpacked(&s).expect("GSM char encodes");
            assert_eq!(bytes.len(), gsm7_septets(c).unwrap_or(0));
            assert_eq!(decode_gsm7_unpacked(&bytes), s);
        }
    }

    #[test]
    fn encoding_names_and_limits() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};

        assert_eq!(Encoding::Gsm7.as_str(), "gsm7");
        assert_eq!(Encoding::Ucs2.as_str(), "ucs2");
        assert_eq!(Encoding::Ucs2.to_string(), "ucs2");
        for enc in [Encoding::Gsm7, Encoding::Ucs2] {
            let d: StrDeserializer<'_, Error> = enc.as_str().into_deserializer();
            assert_eq!(Encoding::deserialize(d), Ok(enc));
        }
        assert_eq!((Encoding::Gsm7.single_limit(), Encoding::Gsm7.part_limit()), (160, 153));
        assert_eq!((Encoding::Ucs2.single_limit(), Encoding::Ucs2.part_limit()), (70, 67));
    }

    mod props {
        use super::super::*;
        use super::{SPEC_BASIC, SPEC_EXTENSION};
        use proptest::prelude::*;

        fn gsm_chars() -> Vec<char> {
            SPEC_BASIC.chars().chain(SPEC_EXTENSION.iter().map(|&(c, _)| c)).collect()
        }

        fn extension_chars() -> Vec<char> {
            SPEC_EXTENSION.iter().map(|&(c, _)| c).collect()
        }

        /// ASCII, GSM extension characters, Chinese and emoji.
        fn mixed_char() -> impl Strategy<Value = char> {
            prop_oneof![
                4 => proptest::char::range(' ', '~'),
                2 => prop::sample::select(extension_chars()),
                3 => proptest::char::range('\u{4E00}', '\u{9FFF}'),
                1 => proptest::char::range('\u{1F300}', '\u{1F64F}'),
            ]
        }

        /// Chinese with emoji often enough to land on part boundaries.
        fn ucs2_char() -> impl Strategy<Value = char> {
            prop_oneof![
                3 => proptest::char::range('\u{4E00}', '\u{9FFF}'),
                2 => proptest::char::range('\u{1F300}', '\u{1F64F}'),
                1 => proptest::char::range('0', '9'),
            ]
        }

        /// Plain letters with escape pairs often enough to land on
        /// boundaries.
        fn escapy_char() -> impl Strategy<Value = char> {
            prop_oneof![
                3 => Just('a'),
                2 => prop::sample::select(extension_chars()),
            ]
        }

        fn string_of(chars: impl Strategy<Value = char>, max: usize) -> impl Strategy<Value = String> {
            prop::collection::vec(chars, 1..max).prop_map(|v| v.into_iter().collect())
        }

        /// Runs of `filler` each closed by one two-unit character, with run
        /// lengths biased to put that character right on a part boundary
        /// (`part_limit - 1` or `- 2` units in), then a tail of `filler`.
        fn boundary_string(filler: char, pairs: Vec<char>, part_limit: usize) -> impl Strategy<Value = String> {
            let run = prop_oneof![
                2 => Just(part_limit - 2),
                2 => Just(part_limit - 1),
                1 => 0..part_limit,
            ];
            (prop::collection::vec((run, prop::sample::select(pairs)), 1..4), 0..part_limit + 10).prop_map(
                move |(runs, tail)| {
                    let mut s = String::new();
                    for (n, pair) in runs {
                        s.extend(std::iter::repeat_n(filler, n));
                        s.push(pair);
                    }
                    s.extend(std::iter::repeat_n(filler, tail));
                    s
                },
            )
        }

        fn any_text() -> impl Strategy<Value = String> {
            prop_oneof![
                string_of(prop::sample::select(gsm_chars()), 480),
                string_of(escapy_char(), 480),
                string_of(mixed_char(), 300),
                string_of(ucs2_char(), 250),
                boundary_string('a', extension_chars(), Encoding::Gsm7.part_limit()),
                boundary_string('测', vec!['😀', '🎉'], Encoding::Ucs2.part_limit()),
            ]
        }

        /// Units of `s` counted independently of the analysis.
        fn units_in(encoding: Encoding, s: &str) -> usize {
            match encoding {
                Encoding::Gsm7 => encode_gsm7_unpacked(s).map_or(usize::MAX, |b| b.len()),
                Encoding::Ucs2 => encode_ucs2(s).len() / 2,
            }
        }

        proptest! {
            #[test]
            fn split_then_join_is_identity(s in any_text()) {
                let t = Text::parse(&s).expect("non-empty");
                prop_assert_eq!(t.split().concat(), s);
            }

            #[test]
            fn split_count_equals_segments(s in any_text()) {
                let t = Text::parse(&s).expect("non-empty");
                prop_assert_eq!(t.split().len(), t.segments() as usize);
            }

            #[test]
            fn every_part_fits_its_limit(s in any_text()) {
                let t = Text::parse(&s).expect("non-empty");
                let enc = t.encoding();
                let parts = t.split();
                let limit = if parts.len() == 1 { enc.single_limit() } else { enc.part_limit() };
                for part in &parts {
                    prop_assert!(!part.is_empty());
                    prop_assert!(units_in(enc, part) <= limit);
                }
                let total: usize = parts.iter().map(|p| units_in(enc, p)).sum();
                prop_assert_eq!(total, t.units());
            }

            #[test]
            fn parts_are_filled_greedily(s in any_text()) {
                let t = Text::parse(&s).expect("non-empty");
                let enc = t.encoding();
                let parts = t.split();
                for pair in parts.windows(2) {
                    let next = pair[1].chars().next().expect("parts are non-empty");
                    let next_units = units_in(enc, &next.to_string());
                    prop_assert!(units_in(enc, pair[0]) + next_units > enc.part_limit());
                }
                // So segments never fall below the plain formula, and meet
                // it when no character costs two units.
                let floor = if t.units() <= enc.single_limit() {
                    1
                } else {
                    t.units().div_ceil(enc.part_limit())
                };
                prop_assert!(t.segments() as usize >= floor);
                if t.units() == s.chars().count() {
                    prop_assert_eq!(t.segments() as usize, floor);
                }
            }

            #[test]
            fn encoding_and_units_are_right(s in any_text()) {
                let t = Text::parse(&s).expect("non-empty");
                let all_gsm = s.chars().all(|c| gsm7_septets(c).is_some());
                let expected = if all_gsm { Encoding::Gsm7 } else { Encoding::Ucs2 };
                prop_assert_eq!(t.encoding(), expected);
                prop_assert_eq!(t.units(), units_in(expected, &s));
            }

            #[test]
            fn gsm_encoding_round_trips(s in string_of(prop::sample::select(gsm_chars()), 300)) {
                let bytes = encode_gsm7_unpacked(&s).expect("all GSM");
                prop_assert_eq!(decode_gsm7_unpacked(&bytes), s);
            }

            #[test]
            fn ucs2_encoding_round_trips(s in any::<String>()) {
                prop_assert_eq!(decode_ucs2(&encode_ucs2(&s)), s);
            }

            #[test]
            fn decoders_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                let gsm = decode_gsm7_unpacked(&bytes);
                prop_assert!(gsm.chars().count() <= bytes.len());
                let ucs2 = decode_ucs2(&bytes);
                prop_assert!(ucs2.encode_utf16().count() <= bytes.len() / 2);
            }
        }
    }
}
