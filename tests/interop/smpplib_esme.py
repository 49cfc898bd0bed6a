"""An independent ESME (PyPI smpplib) against tongdao's SMSC simulator.

Binds as transceiver, submits a GSM message, a UCS-2 message and a long message split into
UDH parts, and waits for one delivery receipt per submit_sm, checking the receipt text and
the receipted_message_id / message_state TLVs; then an enquire_link and an unbind.
Usage: smpplib_esme.py PORT. Prints "N passed, M failed" and exits non-zero on a failure.
"""
import socket
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.gsm

PORT = int(sys.argv[1])
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + name + (": " + detail if detail and not ok else ""), flush=True)


receipts = {}
submitted = []

client = smpplib.client.Client("127.0.0.1", PORT, timeout=10, allow_unknown_opt_params=True)


def on_sent(pdu):
    submitted.append(pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else pdu.message_id)


def on_received(pdu):
    text = pdu.short_message.decode("ascii", "replace")
    tlv_id = getattr(pdu, "receipted_message_id", None)
    if isinstance(tlv_id, bytes):
        tlv_id = tlv_id.decode()
    receipts[tlv_id] = (text, getattr(pdu, "message_state", None))


client.set_message_sent_handler(on_sent)
client.set_message_received_handler(on_received)
client.connect()
bound = client.bind_transceiver(system_id="interop", password="secret")
check("bind_transceiver answered OK", bound.status == 0, str(bound.status))


def submit(parts, coding, esm_class):
    for part in parts:
        client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="tongdao",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            destination_addr="8613800138000",
            short_message=part,
            data_coding=coding,
            esm_class=esm_class,
            registered_delivery=True,
        )


parts, coding, esm = smpplib.gsm.make_parts("Your verification code is 123456")
submit(parts, coding, esm)
parts, coding, esm = smpplib.gsm.make_parts("您的验证码是123456，五分钟内有效。")
check("UCS-2 text is sent with data_coding 8", coding == smpplib.consts.SMPP_ENCODING_ISO10646, str(coding))
submit(parts, coding, esm)
parts, coding, esm = smpplib.gsm.make_parts("A long message. " * 20)
check("a long message is split into UDH parts", len(parts) == 3 and esm & 0x40, f"{len(parts)} parts, esm {esm}")
submit(parts, coding, esm)

expected = 5  # 1 GSM + 1 UCS-2 + 3 parts
deadline = time.time() + 10
client._socket.settimeout(0.5)
while (len(submitted) < expected or len(receipts) < expected) and time.time() < deadline:
    try:
        client.read_once()
    except socket.timeout:
        pass
check("every submit_sm_resp carried a message id", len(submitted) == expected and all(submitted), str(submitted))
check("one receipt per submitted part", sorted(receipts) == sorted(submitted), f"{sorted(receipts)} vs {sorted(submitted)}")
for message_id in submitted:
    text, state = receipts.get(message_id, ("", None))
    check(f"receipt for {message_id} reads delivered", f"id:{message_id} " in text and "stat:DELIVRD" in text, text)
    check(f"receipt for {message_id} has message_state 2", state in (2, b"\x02"), repr(state))

client._socket.settimeout(10)
client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
answer = client.read_pdu()
check("enquire_link answered", answer.command == "enquire_link_resp", answer.command)
unbound = client.unbind()
check("unbind answered", unbound is not None and unbound.command == "unbind_resp", repr(unbound))
client.disconnect()

failed = results.count(False)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
