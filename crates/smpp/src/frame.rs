//! Finding whole PDUs in a byte stream (SMPP 3.4 §3.2: every PDU starts with a 16-octet
//! header whose first field, command_length, counts the whole PDU).

/// The PDU header: command_length, command_id, command_status, sequence_number.
pub const HEADER_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A command_length below 16 cannot be a PDU; the stream cannot be resynchronised.
    #[error("command_length {0} is shorter than the header")]
    TooShort(u32),
    /// Over the cap: refused before anything is allocated for it.
    #[error("command_length {length} is over the cap of {cap}")]
    TooLong { length: u32, cap: u32 },
}

/// The length of the first PDU in `buffer` if all of it has arrived, `None` if more bytes
/// are needed. Allocates nothing; the caller slices the frame off its buffer.
pub fn split_frame(buffer: &[u8], cap: u32) -> Result<Option<usize>, FrameError> {
    let Some(length) = buffer.get(..4) else { return Ok(None) };
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    if (length as usize) < HEADER_LEN {
        return Err(FrameError::TooShort(length));
    }
    if length > cap {
        return Err(FrameError::TooLong { length, cap });
    }
    Ok((buffer.len() >= length as usize).then_some(length as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_found_only_when_whole_and_within_the_cap() {
        let mut pdu = vec![0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(split_frame(&pdu[..3], 4096), Ok(None));
        assert_eq!(split_frame(&pdu[..15], 4096), Ok(None));
        assert_eq!(split_frame(&pdu, 4096), Ok(Some(16)));
        pdu.extend_from_slice(&[1, 2, 3]);
        assert_eq!(split_frame(&pdu, 4096), Ok(Some(16)), "the next PDU's bytes stay in the buffer");
        assert_eq!(split_frame(&[0, 0, 0, 15], 4096), Err(FrameError::TooShort(15)));
        assert_eq!(
            split_frame(&[0xff, 0xff, 0xff, 0xff], 4096),
            Err(FrameError::TooLong { length: u32::MAX, cap: 4096 })
        );
    }
}
