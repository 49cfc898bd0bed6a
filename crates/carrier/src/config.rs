//! One `[[carrier]]` of the config file: where the carrier is, how we bind, how fast we may
//! send, how long messages and UCS-2 text are encoded, and which destinations it serves.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::link::BindMode;

/// How a message longer than one segment goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LongMessage {
    /// One submit_sm per segment, each starting with a concatenation UDH (esm_class 0x40).
    #[default]
    Udh,
    /// One submit_sm per segment with the sar_* TLVs.
    Sar,
    /// One submit_sm carrying the whole text in message_payload.
    Payload,
}

/// Bind as one transceiver, or as a transmitter plus a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BindModes {
    #[default]
    Transceiver,
    TransmitterReceiver,
}

impl BindModes {
    /// The binds one "bind" of the config opens.
    pub fn modes(self) -> &'static [BindMode] {
        match self {
            BindModes::Transceiver => &[BindMode::Transceiver],
            BindModes::TransmitterReceiver => &[BindMode::Transmitter, BindMode::Receiver],
        }
    }
}

/// The destinations a carrier serves; empty means every destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Destinations {
    /// Destination carriers by the numbering plan's names (`cmcc`, `cucc`, `ctcc`, …).
    #[serde(default)]
    pub carriers: Vec<String>,
    /// E.164 prefixes without `+` (`86138`, `852`).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CarrierConfig {
    /// Unique name; also the namespace of the carrier's message ids.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub bind_mode: BindModes,
    /// Binds (or transmitter + receiver pairs) kept open.
    pub binds: u32,
    /// Outstanding submit_sm per bind.
    pub window: u32,
    /// submit_sm per second per bind; 0 for no limit.
    pub tps: u32,
    pub enquire_link_interval_ms: u64,
    pub response_timeout_ms: u64,
    pub source_addr: String,
    pub source_ton: u8,
    pub source_npi: u8,
    pub long_message: LongMessage,
    /// data_coding for UCS-2 text (8 in SMPP 3.4).
    pub ucs2_data_coding: u8,
    /// Lower goes first among carriers serving a destination.
    pub priority: i32,
    pub destinations: Destinations,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        CarrierConfig {
            name: String::new(),
            host: "127.0.0.1".into(),
            port: 2775,
            system_id: String::new(),
            password: String::new(),
            system_type: String::new(),
            bind_mode: BindModes::Transceiver,
            binds: 1,
            window: 256,
            tps: 0,
            enquire_link_interval_ms: 30_000,
            response_timeout_ms: 10_000,
            source_addr: String::new(),
            source_ton: 0,
            source_npi: 0,
            long_message: LongMessage::Udh,
            ucs2_data_coding: 8,
            priority: 100,
            destinations: Destinations::default(),
        }
    }
}

impl CarrierConfig {
    pub fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }
    pub fn enquire_link_interval(&self) -> Duration {
        Duration::from_millis(self.enquire_link_interval_ms)
    }

    /// Refuses what cannot work, with a message naming the carrier and the field.
    pub fn validate(&self) -> Result<(), String> {
        let problem = if self.name.is_empty() || self.name.len() > 64 {
            Some("name must be 1-64 characters")
        } else if self.system_id.len() > 15 {
            Some("system_id is at most 15 characters (SMPP 3.4)")
        } else if self.password.len() > 8 {
            Some("password is at most 8 characters (SMPP 3.4)")
        } else if self.binds == 0 || self.binds > 64 {
            Some("binds must be 1-64")
        } else if self.window == 0 || self.window > 10_000 {
            Some("window must be 1-10000")
        } else if self.response_timeout_ms == 0 {
            Some("response_timeout_ms must be positive")
        } else if self.source_addr.len() > 20 {
            Some("source_addr is at most 20 characters")
        } else {
            None
        };
        match problem {
            Some(p) => Err(format!("carrier {:?}: {p}", self.name)),
            None => Ok(()),
        }
    }

    /// Whether this carrier serves a destination.
    pub fn serves(&self, carrier: Option<&str>, recipient_digits: &str) -> bool {
        let d = &self.destinations;
        if d.carriers.is_empty() && d.prefixes.is_empty() {
            return true;
        }
        carrier.is_some_and(|c| d.carriers.iter().any(|x| x.eq_ignore_ascii_case(c)))
            || d.prefixes.iter().any(|p| recipient_digits.starts_with(p.trim_start_matches('+')))
    }
}
