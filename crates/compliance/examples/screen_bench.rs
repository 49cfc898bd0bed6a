//! Screening throughput on one thread: a 50,000-term synthetic lexicon plus the starter
//! lexicons, 1,000,000 deterministic 70-char messages.
//!
//! `CARGO_TARGET_DIR=/tmp/compliance-target cargo run --release -p tongdao-compliance --example screen_bench`

use std::time::Instant;

use tongdao_compliance::{Category, Lexicon, Policy, Scratch, Screener, Verdict, starter_lexicons};

const TERMS: usize = 50_000;
const MESSAGES: usize = 1_000_000;
const MESSAGE_CHARS: usize = 70;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Common Chinese characters (a frequent-use subset) for terms and messages.
const COMMON: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质";

fn synthetic_lexicon(rng: &mut Rng) -> Lexicon {
    let common: Vec<char> = COMMON.chars().collect();
    let mut text = String::with_capacity(TERMS * 12);
    for i in 0..TERMS {
        if i % 10 == 9 {
            // some ASCII words
            let len = 4 + rng.below(6);
            for _ in 0..len {
                text.push((b'a' + rng.below(26) as u8) as char);
            }
        } else {
            // 2..=5 chars, two-char terms one in ten; half the chars from the common set, half
            // from the whole CJK block, so terms are realistic phrases rather than frequent bigrams.
            let len = if rng.below(10) == 0 { 2 } else { 3 + rng.below(3) };
            for _ in 0..len {
                let c = if rng.below(2) == 0 {
                    common[rng.below(common.len())]
                } else {
                    char::from_u32(0x4E00 + rng.below(0x51A6) as u32).unwrap_or('中')
                };
                text.push(c);
            }
        }
        if i % 7 == 0 {
            text.push_str(" @review");
        }
        text.push('\n');
    }
    Lexicon::parse(Category::OtherUnlawful, &text).unwrap_or_else(|e| panic!("synthetic lexicon: {e}"))
}

const ZH_PARTS: &[&str] = &[
    "【顺丰速运】您的快件已到达",
    "您的验证码是",
    "，5分钟内有效，请勿泄露给他人。",
    "【招商银行】您尾号",
    "的信用卡本月账单已出，应还金额",
    "元，还款日",
    "【美团】您的订单已送达，感谢使用",
    "会议通知：明天上午",
    "点在三楼会议室召开季度总结会，请准时参加",
    "【医院】您已成功预约",
    "日上午门诊，请携带身份证就诊",
    "您的密码已重置，如非本人操作请联系客服",
    "查看详情 https://www.example.com/o/",
    "取件码",
    "，请凭取件码到驿站领取包裹",
    "家长您好，本周五下午学校举行运动会",
];
const EN_PARTS: &[&str] = &[
    "Your verification code is ",
    ", valid for 5 minutes. ",
    "Your parcel ",
    " is out for delivery today. ",
    "Your bill of $",
    " is due on the 15th. ",
    "Meeting moved to room ",
    " at 3pm. ",
    "Reset your password at https://acme.io/reset/",
    "Appointment confirmed for ",
    "Thanks for your order #",
];

fn message(rng: &mut Rng, out: &mut String) {
    out.clear();
    let english = rng.below(4) == 0;
    let mut chars = 0;
    while chars < MESSAGE_CHARS {
        let part = if english { EN_PARTS[rng.below(EN_PARTS.len())] } else { ZH_PARTS[rng.below(ZH_PARTS.len())] };
        for c in part.chars() {
            if chars >= MESSAGE_CHARS {
                break;
            }
            out.push(c);
            chars += 1;
        }
        // digits: codes, amounts, tracking numbers
        let digits = 2 + rng.below(6);
        for _ in 0..digits {
            if chars >= MESSAGE_CHARS {
                break;
            }
            out.push((b'0' + rng.below(10) as u8) as char);
            chars += 1;
        }
    }
}

fn main() {
    let mut rng = Rng(0x7061_6e67_7461_6f21);
    let mut lexicons = starter_lexicons();
    lexicons.push(synthetic_lexicon(&mut rng));

    let t = Instant::now();
    let screener = Screener::new(&lexicons).unwrap_or_else(|e| panic!("build: {e}"));
    let build = t.elapsed();
    println!("build: {} terms in {:.1} ms", screener.term_count(), build.as_secs_f64() * 1e3);

    // Messages are generated up front so only screening is timed.
    let mut messages = Vec::with_capacity(MESSAGES);
    let mut buf = String::new();
    for _ in 0..MESSAGES {
        message(&mut rng, &mut buf);
        messages.push(buf.clone());
    }
    let bytes: usize = messages.iter().map(String::len).sum();

    let policy = Policy::default();
    let mut scratch = Scratch::new();
    let (mut pass, mut review, mut reject) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    for m in &messages {
        match screener.screen_with(m, &policy, &mut scratch).verdict {
            Verdict::Pass => pass += 1,
            Verdict::Review => review += 1,
            Verdict::Reject => reject += 1,
        }
    }
    let total = t.elapsed();
    let secs = total.as_secs_f64();
    println!(
        "screened {MESSAGES} messages ({} MB, {MESSAGE_CHARS} chars each) in {:.3} s: {:.0} messages/s, {:.0} ns/message",
        bytes / 1_000_000,
        secs,
        MESSAGES as f64 / secs,
        secs * 1e9 / MESSAGES as f64
    );
    println!("verdicts: pass {pass}, review {review}, reject {reject}");

    let t = Instant::now();
    let mut flagged = 0usize;
    for m in messages.iter().take(MESSAGES / 10) {
        flagged += usize::from(screener.screen(m, &policy).verdict != Verdict::Pass);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "screen() with the thread-local scratch: {:.0} ns/message ({flagged} flagged of {})",
        secs * 1e9 / (MESSAGES / 10) as f64,
        MESSAGES / 10
    );
}
