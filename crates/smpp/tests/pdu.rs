//! PDUs: every kind survives encode → frame → decode; malformed input is a DecodeError that
//! keeps the sequence number (for the generic_nack), never a panic; carriers' deviations are
//! decoded and counted.

use proptest::prelude::*;
use tongdao_smpp::pdu::{
    Bind, BindResp, CancelSm, DataSm, DataSmResp, MessageIdResp, Outbind, QuerySm, QuerySmResp, ReplaceSm, Sm,
};
use tongdao_smpp::status;
use tongdao_smpp::tlv::{self, Tlvs};
use tongdao_smpp::{Command, CommandId, FrameError, Leniency, Pdu, Tlv, split_frame};

const CAP: u32 = 64 * 1024;

fn c(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ -~]{{0,{}}}", max - 1)).expect("regex")
}

fn tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..4)
        .prop_map(|v| v.into_iter().map(|(tag, value)| Tlv { tag, value }).collect())
}

fn bind() -> impl Strategy<Value = Bind> {
    (c(16), c(9), c(13), any::<u8>(), any::<u8>(), any::<u8>(), c(41)).prop_map(|(a, b, c, d, e, f, g)| Bind {
        system_id: a,
        password: b,
        system_type: c,
        interface_version: d,
        addr_ton: e,
        addr_npi: f,
        address_range: g,
    })
}

fn sm() -> impl Strategy<Value = Sm> {
    (
        (c(6), any::<[u8; 2]>(), c(21), any::<[u8; 2]>(), c(21)),
        (any::<[u8; 3]>(), c(17), c(17), any::<[u8; 4]>()),
        (proptest::collection::vec(any::<u8>(), 0..=254), tlvs()),
    )
        .prop_map(|((st, src, sa, dst, da), (flags, sched, valid, more), (short_message, tlvs))| Sm {
            service_type: st,
            source_addr_ton: src[0],
            source_addr_npi: src[1],
            source_addr: sa,
            dest_addr_ton: dst[0],
            dest_addr_npi: dst[1],
            destination_addr: da,
            esm_class: flags[0],
            protocol_id: flags[1],
            priority_flag: flags[2],
            schedule_delivery_time: sched,
            validity_period: valid,
            registered_delivery: more[0],
            replace_if_present_flag: more[1],
            data_coding: more[2],
            sm_default_msg_id: more[3],
            short_message,
            tlvs,
        })
}

fn pdu() -> impl Strategy<Value = Pdu> {
    prop_oneof![
        bind().prop_map(Pdu::BindTransmitter),
        bind().prop_map(Pdu::BindReceiver),
        bind().prop_map(Pdu::BindTransceiver),
        (c(16), tlvs()).prop_map(|(system_id, tlvs)| Pdu::BindTransmitterResp(BindResp { system_id, tlvs })),
        (c(16), tlvs()).prop_map(|(system_id, tlvs)| Pdu::BindReceiverResp(BindResp { system_id, tlvs })),
        (c(16), tlvs()).prop_map(|(system_id, tlvs)| Pdu::BindTransceiverResp(BindResp { system_id, tlvs })),
        (c(16), c(9)).prop_map(|(system_id, password)| Pdu::Outbind(Outbind { system_id, password })),
        Just(Pdu::Unbind),
        Just(Pdu::UnbindResp),
        Just(Pdu::EnquireLink),
        Just(Pdu::EnquireLinkResp),
        Just(Pdu::GenericNack),
        sm().prop_map(Pdu::SubmitSm),
        sm().prop_map(Pdu::DeliverSm),
        c(65).prop_map(|message_id| Pdu::SubmitSmResp(MessageIdResp { message_id })),
        c(65).prop_map(|message_id| Pdu::DeliverSmResp(MessageIdResp { message_id })),
        (c(6), any::<[u8; 2]>(), c(65), any::<[u8; 2]>(), c(65), any::<[u8; 3]>(), tlvs()).prop_map(
            |(st, src, sa, dst, da, f, tlvs)| Pdu::DataSm(DataSm {
                service_type: st,
                source_addr_ton: src[0],
                source_addr_npi: src[1],
                source_addr: sa,
                dest_addr_ton: dst[0],
                dest_addr_npi: dst[1],
                destination_addr: da,
                esm_class: f[0],
                registered_delivery: f[1],
                data_coding: f[2],
                tlvs,
            })
        ),
        (c(65), tlvs()).prop_map(|(message_id, tlvs)| Pdu::DataSmResp(DataSmResp { message_id, tlvs })),
        (c(65), any::<[u8; 2]>(), c(21)).prop_map(|(message_id, a, source_addr)| Pdu::QuerySm(QuerySm {
            message_id,
            source_addr_ton: a[0],
            source_addr_npi: a[1],
            source_addr,
        })),
        (c(65), c(17), any::<[u8; 2]>()).prop_map(|(message_id, final_date, s)| Pdu::QuerySmResp(QuerySmResp {
            message_id,
            final_date,
            message_state: s[0],
            error_code: s[1],
        })),
        (c(6), c(65), any::<[u8; 2]>(), c(21), any::<[u8; 2]>(), c(21)).prop_map(|(st, id, s, sa, d, da)| {
            Pdu::CancelSm(CancelSm {
                service_type: st,
                message_id: id,
                source_addr_ton: s[0],
                source_addr_npi: s[1],
                source_addr: sa,
                dest_addr_ton: d[0],
                dest_addr_npi: d[1],
                destination_addr: da,
            })
        }),
        Just(Pdu::CancelSmResp),
        (
            c(65),
            any::<[u8; 2]>(),
            c(21),
            c(17),
            c(17),
            any::<[u8; 2]>(),
            proptest::collection::vec(any::<u8>(), 0..=254)
        )
            .prop_map(|(id, s, sa, sched, valid, f, short_message)| Pdu::ReplaceSm(ReplaceSm {
                message_id: id,
                source_addr_ton: s[0],
                source_addr_npi: s[1],
                source_addr: sa,
                schedule_delivery_time: sched,
                validity_period: valid,
                registered_delivery: f[0],
                sm_default_msg_id: f[1],
                short_message,
            })),
        Just(Pdu::ReplaceSmResp),
    ]
}

proptest! {
    #[test]
    fn every_pdu_survives_encode_frame_decode(pdu in pdu(), sequence in 1u32..0x7FFF_FFFF) {
        let command = Command { status: status::ESME_ROK, sequence, pdu };
        let bytes = command.encode();
        prop_assert_eq!(split_frame(&bytes, CAP), Ok(Some(bytes.len())));
        let mut leniency = Leniency::default();
        prop_assert_eq!(Command::decode(&bytes, &mut leniency), Ok(command));
        prop_assert_eq!(leniency, Leniency::default(), "a strict encoding needs no leniency");
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_decodes_re_encodes_to_itself(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Command::decode(&bytes, &mut Leniency::default());
        tongdao_smpp::fuzzing::decode_stream(&bytes);
    }

    #[test]
    fn mangled_real_pdus_never_panic(pdu in pdu(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = Command { status: 0, sequence: 1, pdu }.encode();
        for (at, value) in flips {
            let i = 4 + at.index(bytes.len() - 4); // keep command_length so the frame is whole
            bytes[i] = value;
        }
        tongdao_smpp::fuzzing::decode_stream(&bytes);
    }

    #[test]
    fn a_truncated_pdu_is_an_error_that_keeps_its_sequence(pdu in pdu(), sequence in 1u32..1000, cut in 1usize..40) {
        let bytes = Command { status: 0, sequence, pdu }.encode();
        prop_assume!(bytes.len() > 16 + cut);
        let mut truncated = bytes[..bytes.len() - cut].to_vec();
        let length = truncated.len() as u32;
        truncated[..4].copy_from_slice(&length.to_be_bytes());
        let mut leniency = Leniency::default();
        // Either decoded leniently (a cut inside trailing optional data) or refused with the sequence.
        if let Err(e) = Command::decode(&truncated, &mut leniency) {
            prop_assert_eq!(e.sequence, sequence);
            prop_assert_eq!(e.status, status::ESME_RINVCMDLEN);
        }
    }
}

fn frame(command_id: u32, status: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn an_unknown_command_is_refused_with_invalid_command_id_and_its_sequence() {
    let mut leniency = Leniency::default();
    let e = Command::decode(&frame(0x999, 0, 42, &[]), &mut leniency).expect_err("unknown");
    assert_eq!((e.sequence, e.status, e.command_id), (42, status::ESME_RINVCMDID, 0x999));
}

#[test]
fn a_message_id_without_its_nul_is_read_and_counted() {
    let mut leniency = Leniency::default();
    let command =
        Command::decode(&frame(CommandId::SubmitSmResp.as_u32(), 0, 7, b"abc123"), &mut leniency).expect("lenient");
    assert_eq!(command.pdu, Pdu::SubmitSmResp(MessageIdResp { message_id: "abc123".into() }));
    assert_eq!(leniency.missing_nul, 1);
}

#[test]
fn an_error_response_may_come_without_a_body() {
    let mut leniency = Leniency::default();
    let command =
        Command::decode(&frame(CommandId::SubmitSmResp.as_u32(), status::ESME_RTHROTTLED, 8, &[]), &mut leniency)
            .expect("allowed");
    assert_eq!(command.status, status::ESME_RTHROTTLED);
    assert_eq!(leniency, Leniency::default(), "this is the specification, not a leniency");
    let bind_error =
        Command::decode(&frame(CommandId::BindTransceiverResp.as_u32(), status::ESME_RINVPASWD, 1, &[]), &mut leniency);
    assert!(bind_error.is_ok());
}

#[test]
fn an_overlong_system_id_and_trailing_bytes_are_accepted_and_counted() {
    let mut body = b"a-system-id-of-20-ch\0pw\0\0".to_vec();
    body.extend_from_slice(&[0x34, 0, 0, 0]);
    body.extend_from_slice(b"junk");
    let mut leniency = Leniency::default();
    let command =
        Command::decode(&frame(CommandId::BindTransceiver.as_u32(), 0, 1, &body), &mut leniency).expect("lenient");
    let Pdu::BindTransceiver(bind) = command.pdu else { panic!("a bind") };
    assert_eq!(bind.system_id, "a-system-id-of-20-ch");
    assert_eq!(bind.interface_version, 0x34);
    assert_eq!((leniency.overlong_field, leniency.trailing_bytes), (1, 1));
}

#[test]
fn the_frame_cap_holds_before_allocation() {
    assert_eq!(split_frame(&[0, 1, 0, 0], 4096), Err(FrameError::TooLong { length: 65536, cap: 4096 }));
}

#[test]
fn named_tlvs_are_typed_and_unknown_ones_kept() {
    let tlvs = vec![
        Tlv::c_string(tlv::RECEIPTED_MESSAGE_ID, "ab12"),
        Tlv::u8(tlv::MESSAGE_STATE, 2),
        Tlv::u16(tlv::SAR_MSG_REF_NUM, 513),
        Tlv::u8(tlv::SAR_TOTAL_SEGMENTS, 3),
        Tlv::u8(tlv::SAR_SEGMENT_SEQNUM, 2),
        Tlv::new(tlv::NETWORK_ERROR_CODE, vec![3, 0, 34]),
        Tlv::u16(tlv::USER_MESSAGE_REFERENCE, 7),
        Tlv::new(0x1401, vec![9, 9]),
    ];
    let sm = Sm { esm_class: 0x04, tlvs, ..Sm::default() };
    let bytes = Command { status: 0, sequence: 3, pdu: Pdu::DeliverSm(sm) }.encode();
    let decoded = Command::decode(&bytes, &mut Leniency::default()).expect("decodes");
    let Pdu::DeliverSm(sm) = decoded.pdu else { panic!("deliver_sm") };
    assert!(sm.is_delivery_receipt());
    assert_eq!(sm.tlvs.receipted_message_id().as_deref(), Some("ab12"));
    assert_eq!(sm.tlvs.message_state(), Some(2));
    assert_eq!(sm.tlvs.sar(), Some((513, 3, 2)));
    assert_eq!(sm.tlvs.network_error_code(), Some((3, 34)));
    assert_eq!(sm.tlvs.user_message_reference(), Some(7));
    assert_eq!(sm.tlvs.tlv(0x1401).map(|t| t.value.clone()), Some(vec![9, 9]), "a vendor TLV survives");
}
