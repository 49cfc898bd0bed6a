//! Advertising signals beyond lexicon words: built-in phrases (matched on the folded text with
//! the lexicon terms, in the same automaton), links, `N% off`, `N折` and 400/800 numbers (found
//! on the lite text, where dots and percent signs are still there).

use crate::normalise::LiteChar;

/// What a built-in phrase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhraseKind {
    /// A promotional word; scores `score`.
    Promotion,
    /// A solicitation that needs nothing after it; scores `score`.
    Solicitation,
    /// A contact keyword (微信号, QQ, VX …): scores `score` when an id of 5+ Latin letters or
    /// digits follows at once, `base` otherwise.
    Contact { base: u32 },
    /// A marketing opt-out footer; scores `score`.
    OptOut,
    /// The start of "reply … to get": scores only when a [`PhraseKind::ReplyGoal`] follows closely.
    ReplyLead,
    /// The end of "reply … to get".
    ReplyGoal,
}

pub(crate) struct Phrase {
    pub text: &'static str,
    pub kind: PhraseKind,
    pub score: u32,
}

const fn promo(text: &'static str, score: u32) -> Phrase {
    Phrase { text, kind: PhraseKind::Promotion, score }
}
const fn solicit(text: &'static str, score: u32) -> Phrase {
    Phrase { text, kind: PhraseKind::Solicitation, score }
}
const fn contact(text: &'static str, base: u32) -> Phrase {
    Phrase { text, kind: PhraseKind::Contact { base }, score: SCORE_CONTACT_ID }
}
const fn opt_out(text: &'static str) -> Phrase {
    Phrase { text, kind: PhraseKind::OptOut, score: SCORE_OPT_OUT }
}
const fn lead(text: &'static str) -> Phrase {
    Phrase { text, kind: PhraseKind::ReplyLead, score: 0 }
}
const fn goal(text: &'static str) -> Phrase {
    Phrase { text, kind: PhraseKind::ReplyGoal, score: 0 }
}

/// A marketing opt-out footer (回T退订 …): the signature of marketing SMS in China.
pub const SCORE_OPT_OUT: u32 = 4;
/// A contact keyword followed by an id (加微信 abc123, QQ 12345678).
pub const SCORE_CONTACT_ID: u32 = 4;
/// "reply … to get", 回复…领取.
pub const SCORE_REPLY_TO_GET: u32 = 3;
/// A link to a known URL shortener.
pub const SCORE_SHORTENER: u32 = 3;
/// Any other link.
pub const SCORE_LINK: u32 = 1;
/// `N折`, `N% off`.
pub const SCORE_DISCOUNT_PATTERN: u32 = 3;
/// A 400/800 service number.
pub const SCORE_SERVICE_NUMBER: u32 = 1;

/// The built-in phrases. Strong promotional words score 3, common ones 2, words that ordinary
/// notifications also use 1. Written for this crate.
pub(crate) const PHRASES: &[Phrase] = &[
    // Chinese, strong
    promo("秒杀", 3),
    promo("抢购", 3),
    promo("大促", 3),
    promo("清仓", 3),
    promo("特价", 3),
    promo("低至", 3),
    promo("免费领", 3),
    promo("领券", 3),
    promo("满减", 3),
    promo("包邮", 3),
    promo("新品上市", 3),
    promo("限时抢", 3),
    promo("折起", 3),
    promo("买一送一", 3),
    promo("第二件半价", 3),
    promo("钜惠", 3),
    promo("巨惠", 3),
    promo("让利", 3),
    promo("直降", 3),
    promo("进店有礼", 3),
    promo("0元购", 3),
    promo("一元购", 3),
    promo("爆款", 3),
    promo("狂欢", 3),
    promo("优惠券", 3),
    promo("代金券", 3),
    promo("福利", 2),
    promo("好礼", 2),
    promo("全场", 2),
    promo("立减", 2),
    promo("半价", 2),
    promo("团购", 2),
    promo("上新", 2),
    promo("周年庆", 2),
    promo("限时", 2),
    promo("优惠", 2),
    promo("折扣", 2),
    promo("打折", 2),
    promo("促销", 2),
    promo("红包", 2),
    promo("会员日", 2),
    promo("仅需", 2),
    promo("火爆", 2),
    promo("抽奖", 2),
    promo("赠品", 2),
    promo("送礼", 2),
    promo("惊喜价", 3),
    promo("点击领取", 3),
    promo("立即购买", 3),
    promo("马上抢", 3),
    promo("速来", 2),
    promo("名额有限", 2),
    promo("先到先得", 3),
    promo("欢迎选购", 2),
    promo("欢迎进店", 2),
    promo("免费", 1),
    promo("领取", 1),
    promo("活动", 1),
    // English
    promo("flash sale", 3),
    promo("buy now", 3),
    promo("shop now", 3),
    promo("order now", 3),
    promo("limited time", 3),
    promo("promo code", 3),
    promo("free gift", 3),
    promo("clearance", 3),
    promo("buy one get one", 3),
    promo("bogo", 3),
    promo("special offer", 3),
    promo("best price", 2),
    promo("lowest price", 3),
    promo("big sale", 3),
    promo("mega sale", 3),
    promo("act now", 3),
    promo("don't miss", 2),
    promo("hurry", 2),
    promo("exclusive offer", 3),
    promo("sale", 2),
    promo("discount", 2),
    promo("discounts", 2),
    promo("coupon", 2),
    promo("coupons", 2),
    promo("voucher", 2),
    promo("cashback", 2),
    promo("new arrivals", 2),
    promo("up to", 1),
    promo("offer", 1),
    promo("offers", 1),
    promo("deal", 1),
    promo("deals", 1),
    promo("save", 1),
    promo("free", 1),
    promo("gift", 1),
    // solicitations
    contact("加微信", 2),
    contact("加我微信", 2),
    contact("微信号", 1),
    contact("微信同号", 2),
    contact("加v", 2),
    contact("加vx", 2),
    contact("vx", 1),
    contact("v信", 2),
    contact("薇信", 3),
    contact("徾信", 3),
    contact("wx", 0),
    contact("加qq", 2),
    contact("qq号", 1),
    contact("qq", 0),
    contact("qq群", 2),
    contact("whatsapp", 1),
    contact("telegram", 1),
    contact("加群", 2),
    solicit("扫码进群", 3),
    solicit("扫码加群", 3),
    solicit("进群", 2),
    solicit("私聊", 2),
    solicit("加我", 1),
    solicit("详询", 1),
    solicit("dm us", 2),
    solicit("dm me", 2),
    solicit("text us", 1),
    solicit("call now", 2),
    // opt-out footers
    opt_out("回T退订"),
    opt_out("退订回T"),
    opt_out("回TD退订"),
    opt_out("退订回TD"),
    opt_out("回复T退订"),
    opt_out("回复TD退订"),
    opt_out("回N退订"),
    opt_out("退订回N"),
    opt_out("回复N退订"),
    opt_out("回复退订"),
    opt_out("退订请回复"),
    opt_out("拒收请回复R"),
    opt_out("拒收回R"),
    opt_out("回R拒收"),
    opt_out("回0退订"),
    opt_out("reply stop"),
    opt_out("text stop"),
    opt_out("txt stop"),
    opt_out("to unsubscribe"),
    opt_out("to opt out"),
    opt_out("stop to end"),
    opt_out("stop to quit"),
    opt_out("stop2end"),
    opt_out("stop to opt out"),
    // reply … to get
    lead("回复"),
    lead("reply"),
    lead("text"),
    lead("send"),
    goal("领取"),
    goal("获取"),
    goal("即可领"),
    goal("免费"),
    goal("抽奖"),
    goal("领红包"),
    goal("to get"),
    goal("to claim"),
    goal("to receive"),
    goal("to win"),
    goal("for free"),
    goal("for a chance"),
];

/// How many folded chars may lie between a reply lead and its goal.
pub(crate) const REPLY_GAP_CHARS: usize = 8;

/// URL shorteners; a link whose host is one of these (or a subdomain) scores high.
pub(crate) const SHORTENERS: &[&str] = &[
    "t.cn",
    "bit.ly",
    "tinyurl.com",
    "dwz.cn",
    "url.cn",
    "suo.im",
    "goo.gl",
    "t.co",
    "is.gd",
    "ow.ly",
    "rebrand.ly",
    "cutt.ly",
    "tb.cn",
    "3.cn",
    "j.mp",
    "buff.ly",
    "rb.gy",
    "tiny.cc",
    "shorturl.at",
    "s.id",
    "v.gd",
    "u.nu",
    "dwz.date",
    "sohu.gg",
    "qr.net",
    "shrtco.de",
    "tinyurl.cn",
    "kurl.cn",
    "mrw.so",
    "t.ly",
    "lnkd.in",
    "x.co",
];

/// Top-level domains that make a bare `name.tld` count as a link.
const TLDS: &[&str] = &[
    "com", "cn", "net", "top", "xyz", "vip", "shop", "cc", "me", "io", "ly", "org", "info", "biz", "club", "site",
    "online", "app", "link", "wang", "ren", "ltd", "xin", "tk", "co", "store", "win", "live", "fun", "icu", "hk", "tw",
    "tv", "ink", "work", "im", "gd", "gl", "gg",
];

/// A signal found on the lite text: kind, lite char range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiteSignal {
    Link { shortener: bool },
    Discount,
    ServiceNumber,
}

#[inline]
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

#[inline]
fn is_dot(c: char) -> bool {
    c == '.' || c == '。'
}

/// Finds links, `N% off`, `N折` and 400/800 numbers; calls `found(kind, lite_start, lite_end)`.
pub(crate) fn scan_lite(lite: &[LiteChar], mut found: impl FnMut(LiteSignal, usize, usize)) {
    let at = |i: usize| lite.get(i).map_or('\0', |l| l.c);
    let mut i = 0;
    let mut host = String::new();
    while i < lite.len() {
        let c = at(i);
        if c == '%' {
            if let Some(start) = digits_before(lite, i)
                && let Some(end) = word_after(lite, i + 1, "off")
            {
                found(LiteSignal::Discount, start, end);
            }
            i += 1;
            continue;
        }
        if c == '折' {
            if let Some(start) = discount_number_before(lite, i) {
                found(LiteSignal::Discount, start, i + 1);
            }
            i += 1;
            continue;
        }
        if !is_host_char(c) || (i > 0 && (is_host_char(at(i - 1)) || at(i - 1) == '@')) {
            // Not the start of a token; tokens preceded by '@' are e-mail domains.
            if at(i.wrapping_sub(1)) == '@' && is_host_char(c) {
                i = token_end(lite, i).0.max(i + 1);
            } else {
                i += 1;
            }
            continue;
        }
        // A token: host characters and dots between them.
        let (end, dotted) = token_end(lite, i);
        // http(s)://host
        let is_scheme = (end - i == 4 || end - i == 5)
            && at(end) == ':'
            && at(end + 1) == '/'
            && at(end + 2) == '/'
            && matches!(token_text(lite, i, end, &mut host), "http" | "https");
        if is_scheme {
            let host_start = end + 3;
            let (host_end, _) = token_end(lite, host_start);
            let h = token_text(lite, host_start, host_end, &mut host);
            let shortener = is_shortener(h);
            let link_end = path_end(lite, host_end);
            found(LiteSignal::Link { shortener }, i, link_end);
            i = link_end.max(i + 1);
            continue;
        }
        if dotted {
            let h = token_text(lite, i, end, &mut host);
            let www = h.starts_with("www.") && h.len() > 4;
            let last = h.rsplit('.').next().unwrap_or("");
            let shortener = is_shortener(h);
            if (www || shortener || TLDS.contains(&last)) && !last.is_empty() {
                let link_end = path_end(lite, end);
                found(LiteSignal::Link { shortener }, i, link_end);
                i = link_end.max(i + 1);
                continue;
            }
        }
        if let Some(num_end) = service_number(lite, i) {
            found(LiteSignal::ServiceNumber, i, num_end);
            i = num_end;
            continue;
        }
        i = end.max(i + 1);
    }
}

fn is_shortener(host: &str) -> bool {
    SHORTENERS.iter().any(|s| host.strip_suffix(s).is_some_and(|rest| rest.is_empty() || rest.ends_with('.')))
}

/// The end of the token starting at `i` (host chars, with single dots between them), and
/// whether it has a dot.
fn token_end(lite: &[LiteChar], mut i: usize) -> (usize, bool) {
    let at = |i: usize| lite.get(i).map_or('\0', |l| l.c);
    let mut dotted = false;
    while i < lite.len() {
        let c = at(i);
        if !is_host_char(c) {
            if is_dot(c) && i > 0 && is_host_char(at(i - 1)) && at(i + 1).is_ascii_alphanumeric() {
                dotted = true;
            } else {
                break;
            }
        }
        i += 1;
    }
    (i, dotted)
}

/// The token's text, dots as '.', into `buf`.
fn token_text<'a>(lite: &[LiteChar], start: usize, end: usize, buf: &'a mut String) -> &'a str {
    buf.clear();
    for l in lite.get(start..end).unwrap_or_default() {
        buf.push(if is_dot(l.c) { '.' } else { l.c });
    }
    buf.as_str()
}

/// A link's path: `/` or `?` followed by printable ASCII up to whitespace.
fn path_end(lite: &[LiteChar], mut i: usize) -> usize {
    if lite.get(i).is_some_and(|l| matches!(l.c, '/' | '?' | ':')) {
        while lite.get(i).is_some_and(|l| l.c.is_ascii_graphic()) {
            i += 1;
        }
    }
    i
}

/// `50%`: the start of the digits (and decimal point) just before `pct`, spaces allowed.
fn digits_before(lite: &[LiteChar], pct: usize) -> Option<usize> {
    let mut i = pct;
    while i > 0 && lite.get(i - 1).is_some_and(|l| l.c == ' ') {
        i -= 1;
    }
    let end = i;
    while i > 0 && lite.get(i - 1).is_some_and(|l| l.c.is_ascii_digit() || l.c == '.') {
        i -= 1;
    }
    (i < end && lite.get(i).is_some_and(|l| l.c.is_ascii_digit())).then_some(i)
}

/// `word` after optional spaces at `i`, not followed by a letter: the end index.
fn word_after(lite: &[LiteChar], mut i: usize, word: &str) -> Option<usize> {
    while lite.get(i).is_some_and(|l| l.c == ' ') {
        i += 1;
    }
    for w in word.chars() {
        if lite.get(i).map(|l| l.c) != Some(w) {
            return None;
        }
        i += 1;
    }
    (!lite.get(i).is_some_and(|l| l.c.is_ascii_alphabetic())).then_some(i)
}

/// `8折`, `5.5折`, `五折`: the start of the number before `zhe`.
fn discount_number_before(lite: &[LiteChar], zhe: usize) -> Option<usize> {
    let mut i = zhe;
    while i > 0 && lite.get(i - 1).is_some_and(|l| l.c == ' ') {
        i -= 1;
    }
    let prev = lite.get(i.checked_sub(1)?)?.c;
    if "一二三四五六七八九两".contains(prev) {
        // 一波三折 and the like: a numeral right after another CJK numeral phrase is rare in SMS;
        // 转折/骨折/挫折 have no numeral.
        return Some(i - 1);
    }
    if prev.is_ascii_digit() { digits_before(lite, zhe) } else { None }
}

/// `400-123-4567`, `4001234567`, `800 123 4567` starting at `i`: the end index.
fn service_number(lite: &[LiteChar], i: usize) -> Option<usize> {
    let at = |i: usize| lite.get(i).map_or('\0', |l| l.c);
    if !matches!(at(i), '4' | '8') || at(i + 1) != '0' || at(i + 2) != '0' {
        return None;
    }
    let mut j = i + 3;
    let mut digits = 3;
    while j < lite.len() && digits < 10 {
        let c = at(j);
        if c.is_ascii_digit() {
            digits += 1;
        } else if !(c == '-' || c == ' ') {
            break;
        }
        j += 1;
    }
    (digits == 10 && !at(j).is_ascii_digit()).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::normalise;

    fn scan(text: &str) -> Vec<(LiteSignal, String)> {
        let n = normalise(text);
        let mut out = Vec::new();
        scan_lite(&n.lite, |k, s, e| {
            let span = n.lite[s].start as usize..n.lite[e - 1].end as usize;
            out.push((k, text[span].to_string()));
        });
        out
    }

    #[test]
    fn links() {
        let link = LiteSignal::Link { shortener: false };
        let short = LiteSignal::Link { shortener: true };
        assert_eq!(scan("see https://example.org/a?b=1 now"), vec![(link, "https://example.org/a?b=1".into())]);
        assert_eq!(scan("点击t.cn/A6xYz领取"), vec![(short, "t.cn/A6xYz".into())]);
        assert_eq!(scan("ｗｗｗ．ｘｘ．ｃｏｍ"), vec![(link, "ｗｗｗ．ｘｘ．ｃｏｍ".into())]);
        assert_eq!(scan("go to bit.ly/3abc"), vec![(short, "bit.ly/3abc".into())]);
        assert_eq!(scan("访问jd.com查询"), vec![(link, "jd.com".into())]);
        assert!(scan("mail me at john@example.com please").is_empty());
        assert!(scan("version 3.5 at 10.30 e.g. No.1").is_empty());
    }

    #[test]
    fn discounts_and_numbers() {
        assert_eq!(scan("全场5.5折起")[0], (LiteSignal::Discount, "5.5折".into()));
        assert_eq!(scan("全场五折")[0], (LiteSignal::Discount, "五折".into()));
        assert!(scan("他骨折了").is_empty());
        assert_eq!(scan("50 % off today")[0], (LiteSignal::Discount, "50 % off".into()));
        assert!(scan("50% offline").is_empty());
        assert_eq!(scan("拨打400-123-4567")[0], (LiteSignal::ServiceNumber, "400-123-4567".into()));
    }
}
