//! What a carrier's answer to submit_sm means for the message (values, not strings).

use tongdao_smpp::status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// The carrier took it; its id, for matching receipts.
    Accepted { message_id: String },
    /// Try again later on this or another link: throttled, queue full, system error, or no
    /// answer in time. The message keeps its place.
    TemporaryFailure { status: Option<u32> },
    /// The carrier will never take it (bad address, bad length, …): the message fails.
    PermanentFailure { status: u32 },
}

impl SubmitOutcome {
    pub fn from_response(command_status: u32, message_id: String) -> SubmitOutcome {
        match command_status {
            status::ESME_ROK => SubmitOutcome::Accepted { message_id },
            status::ESME_RTHROTTLED | status::ESME_RMSGQFUL | status::ESME_RSYSERR => {
                SubmitOutcome::TemporaryFailure { status: Some(command_status) }
            }
            other => SubmitOutcome::PermanentFailure { status: other },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert_eq!(SubmitOutcome::from_response(0, "a1".into()), SubmitOutcome::Accepted { message_id: "a1".into() });
        for temporary in [status::ESME_RTHROTTLED, status::ESME_RMSGQFUL, status::ESME_RSYSERR] {
            assert!(matches!(
                SubmitOutcome::from_response(temporary, String::new()),
                SubmitOutcome::TemporaryFailure { .. }
            ));
        }
        for permanent in [status::ESME_RINVDSTADR, status::ESME_RINVMSGLEN, status::ESME_RSUBMITFAIL] {
            assert!(matches!(
                SubmitOutcome::from_response(permanent, String::new()),
                SubmitOutcome::PermanentFailure { .. }
            ));
        }
    }
}
