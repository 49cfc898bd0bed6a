"""An independent ESME (PyPI smpplib) against tongdao's customer-facing SMPP server.

Binds as the demo customer (credentials from DATA_DIR/demo.smpp) and checks: refused binds
(bad password, unknown system_id), GSM and UCS-2 submit_sm (and the stored text and encoding
over HTTP), a 300-character text in two UDH parts (two messages of one segment each), one
delivery receipt per submit_sm (answered deliver_sm_resp), query_sm, cancel_sm of a scheduled
message and of a delivered one, throttling of an account with tps 1 (created through the
operator API), and unbind.
Usage: smpplib_customer.py HOST:PORT HTTP_BASE_URL DATA_DIR
Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
"""
import json
import os
import socket
import sys
import time
import traceback
import urllib.error
import urllib.request

import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp
from smpplib.command import Command, Param

HOST, PORT = sys.argv[1].rsplit(":", 1)
PORT = int(PORT)
HTTP = sys.argv[2].rstrip("/")
DATA = sys.argv[3]

ESME_ROK = 0x00
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RCANCELFAIL = 0x11
ESME_RTHROTTLED = 0x58
ESME_RQUERYFAIL = 0x67
DESTINATION = "8613800138000"

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("ok   " if ok else "FAIL ") + name + (": " + str(detail) if detail and not ok else ""), flush=True)
    return bool(ok)


def section(name, func):
    """Runs one group of checks; an exception there is one failure, and the next group runs."""
    try:
        func()
    except Exception as e:  # noqa: BLE001 - any error is a failed check, reported with its trace
        check(f"{name} ran to the end", False, f"{type(e).__name__}: {e}")
        traceback.print_exc()


def text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else (value or "")


# smpplib 2.2.4 knows cancel_sm's command id but has no PDU class for it (its factory raises
# UnknownCommandError for cancel_sm and cancel_sm_resp), so the two are described here with
# smpplib's own Command/Param machinery and added to the factory.
class CancelSM(Command):
    params = {
        "service_type": Param(type=str, max=6),
        "message_id": Param(type=str, max=65),
        "source_addr_ton": Param(type=int, size=1),
        "source_addr_npi": Param(type=int, size=1),
        "source_addr": Param(type=str, max=21),
        "dest_addr_ton": Param(type=int, size=1),
        "dest_addr_npi": Param(type=int, size=1),
        "destination_addr": Param(type=str, max=21),
    }
    params_order = (
        "service_type", "message_id", "source_addr_ton", "source_addr_npi", "source_addr",
        "dest_addr_ton", "dest_addr_npi", "destination_addr",
    )

    def __init__(self, command, **kwargs):
        super().__init__(command, **kwargs)
        self._set_vars(**(dict.fromkeys(self.params)))


class CancelSMResp(Command):
    params = {}
    params_order = ()

    def __init__(self, command, **kwargs):
        super().__init__(command, need_sequence=False, **kwargs)


_factory = smpplib.command.factory


def _factory_with_cancel(command_name, **kwargs):
    extra = {"cancel_sm": CancelSM, "cancel_sm_resp": CancelSMResp}
    if command_name in extra:
        return extra[command_name](command_name, **kwargs)
    return _factory(command_name, **kwargs)


smpplib.command.factory = _factory_with_cancel


def http(method, path, token, body=None):
    """(status, decoded JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(HTTP + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def read_secret(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return f.read().strip()


DEMO = json.loads(read_secret("demo.smpp"))
API_KEY = read_secret("demo.key")
OPERATOR = read_secret("operator.token")


def is_smpp_id(message_id):
    """Over SMPP a message id is the HTTP API's without its `msg_` prefix: 26 lowercase
    letters and digits, the same octets in GSM 03.38 and ASCII."""
    return len(message_id) == 26 and all(c.isdigit() or ("a" <= c <= "z") for c in message_id)


def get_message(message_id):
    status, body = http("GET", f"/v1/messages/msg_{message_id}", API_KEY)
    if status != 200:
        raise AssertionError(f"GET /v1/messages/msg_{message_id} answered {status}: {body}")
    return body.get("message", body) if isinstance(body, dict) else body


class Esme:
    """An smpplib Client plus a synchronous request/response helper that answers the
    deliver_sm and enquire_link PDUs that arrive in between."""

    def __init__(self):
        self.client = smpplib.client.Client(HOST, PORT, timeout=10, allow_unknown_opt_params=True)
        self.receipts = {}  # receipted message id -> the deliver_sm
        self.client.set_message_received_handler(self._on_deliver_sm)
        self.deliver_sm_resps_sent = 0
        self.responses = {}  # sequence -> a response not yet waited for
        self.answer_order = []  # sequence numbers of the responses as they came

    def _on_deliver_sm(self, pdu):
        key = text(getattr(pdu, "receipted_message_id", None)) or text(pdu.short_message)
        self.receipts[key] = pdu
        self.deliver_sm_resps_sent += 1
        return None  # smpplib answers deliver_sm_resp ESME_ROK

    def connect(self):
        self.client.connect()

    def read(self, timeout):
        """One PDU within `timeout` s, handled if it is a request from the server; None on timeout."""
        self.client._socket.settimeout(timeout)
        try:
            pdu = self.client.read_pdu()
        except socket.timeout:
            return None
        finally:
            if self.client._socket is not None:
                self.client._socket.settimeout(10)
        if pdu.command == "deliver_sm":
            self.client._message_received(pdu)  # calls the handler, then sends deliver_sm_resp
        elif pdu.command == "enquire_link":
            self.client._enquire_link_received(pdu)
        return pdu

    def send(self, command_name, **kwargs):
        pdu = smpplib.smpp.make_pdu(command_name, client=self.client, **kwargs)
        self.client.send_pdu(pdu)
        return pdu

    def wait_response(self, request, timeout=10):
        """The response to `request`; responses to other requests that come first (the server
        may answer out of order) are kept for their own wait_response."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if request.sequence in self.responses:
                return self.responses.pop(request.sequence)
            pdu = self.read(max(0.05, deadline - time.time()))
            if pdu is not None and pdu.is_response():
                self.responses[pdu.sequence] = pdu
                self.answer_order.append(pdu.sequence)
        raise AssertionError(f"no answer to {request.command} (sequence {request.sequence}) within {timeout} s")

    def request(self, command_name, **kwargs):
        return self.wait_response(self.send(command_name, **kwargs))

    def submit(self, short_message, data_coding=0, esm_class=0, registered_delivery=1, **kwargs):
        return self.request(
            "submit_sm",
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr=DESTINATION,
            short_message=short_message,
            data_coding=data_coding,
            esm_class=esm_class,
            registered_delivery=registered_delivery,
            **kwargs,
        )

    def wait_receipts(self, ids, timeout=10):
        deadline = time.time() + timeout
        while not set(ids) <= set(self.receipts) and time.time() < deadline:
            self.read(0.5)
        return [i for i in ids if i not in self.receipts]


def gsm_decode(octets):
    """GSM 03.38 default alphabet, one septet per octet: the server's data_coding 0 (smpplib
    has an encoder but no decoder)."""
    table = smpplib.gsm.GSM_CHARACTER_TABLE
    out, escaped = [], False
    for octet in octets or b"":
        if escaped:
            out.append(table[0x80 + octet] if octet < 0x80 else "?")
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            out.append(table[octet] if octet < 0x80 else "?")
    return "".join(out)


def wrong_password(password):
    # smpplib cuts the password to 8 octets (a C-Octet String of at most 9 with its NUL), so
    # the wrong password has the right length and differs in its last character.
    return password[:-1] + ("x" if password[-1:] != "x" else "y")


def refused_bind(system_id, password):
    """(the bind_transceiver_resp command_status, whether the server then closed the connection)."""
    esme = Esme()
    esme.connect()
    try:
        esme.client.bind_transceiver(system_id=system_id, password=password)
        status = ESME_ROK
    except smpplib.exceptions.PDUError as e:
        status = e.args[1] if len(e.args) > 1 else None
    closed = False
    try:
        esme.client._socket.settimeout(5)
        closed = esme.client._socket.recv(1) == b""
    except OSError:
        closed = True
    esme.client.disconnect()
    return status, closed


# Every message submitted with registered_delivery 1 and expected to be delivered.
delivered_ids = []
notes = []
main = Esme()


def bind_checks():
    status, closed = refused_bind(DEMO["system_id"], wrong_password(DEMO["password"]))
    check("bind_transceiver with a wrong password is ESME_RINVPASWD (0x0E)", status == ESME_RINVPASWD, hex(status or 0))
    check("the server closes the connection after a refused bind", closed)
    status, closed = refused_bind("nosuchsystem", "whatever")
    check("bind_transceiver with an unknown system_id is ESME_RINVSYSID (0x0F)", status == ESME_RINVSYSID, hex(status or 0))
    main.connect()
    answer = main.client.bind_transceiver(system_id=DEMO["system_id"], password=DEMO["password"])
    check("bind_transceiver with the demo credentials is OK", answer.status == ESME_ROK, answer.status)
    check("bind_transceiver_resp names the MC", text(answer.system_id) != "", repr(answer.system_id))


def plain_submits():
    parts, coding, esm = smpplib.gsm.make_parts("Your verification code is 123456")
    check("smpplib encodes the short text as one GSM part", len(parts) == 1 and coding == 0, (len(parts), coding))
    answer = main.submit(parts[0], coding, esm)
    message_id = text(answer.message_id)
    check("GSM submit_sm is OK", answer.status == ESME_ROK, hex(answer.status))
    check("GSM submit_sm_resp carries a message id", is_smpp_id(message_id), message_id)
    delivered_ids.append(message_id)
    message = get_message(message_id)
    check("GET shows the GSM text", message.get("text") == "Your verification code is 123456", message)

    chinese = "您的验证码是123456"
    parts, coding, esm = smpplib.gsm.make_parts(chinese)
    check("smpplib encodes the Chinese text as one UCS-2 part", len(parts) == 1 and coding == 8, (len(parts), coding))
    answer = main.submit(parts[0], coding, esm)
    message_id = text(answer.message_id)
    check("UCS-2 submit_sm is OK with a message id", answer.status == ESME_ROK and is_smpp_id(message_id), (hex(answer.status), message_id))
    delivered_ids.append(message_id)
    message = get_message(message_id)
    check("GET shows the same Chinese text", message.get("text") == chinese, message.get("text"))
    check("GET shows encoding ucs2", message.get("encoding") == "ucs2", message.get("encoding"))


def long_submit():
    long_text = "".join(f"{i:03d} long message text. " for i in range(15))[:300]
    assert len(long_text) == 300
    parts, coding, esm = smpplib.gsm.make_parts(long_text)
    check("smpplib splits 300 GSM chars into 2 UDH parts", len(parts) == 2 and esm & 0x40 and coding == 0, (len(parts), esm, coding))
    ids = []
    for number, part in enumerate(parts, 1):
        answer = main.submit(part, coding, esm)
        message_id = text(answer.message_id)
        check(f"UDH part {number}/2 submit_sm is OK with a message id", answer.status == ESME_ROK and is_smpp_id(message_id), (hex(answer.status), message_id))
        ids.append(message_id)
        delivered_ids.append(message_id)
    check("each UDH part is its own message", len(set(ids)) == 2, ids)
    texts = []
    for number, message_id in enumerate(ids, 1):
        message = get_message(message_id)
        texts.append(message.get("text", ""))
        check(f"UDH part {number} is 1 segment", message.get("segments") == 1, message.get("segments"))
        check(f"UDH part {number} is priced 0.0450", str(message.get("price")) == "0.0450", message.get("price"))
    check("the two parts' texts make up the 300 chars (no UDH bytes in the text)", "".join(texts) == long_text, texts)


def receipt_checks():
    missing = main.wait_receipts(delivered_ids, timeout=10)
    check(f"a deliver_sm receipt for each of the {len(delivered_ids)} messages", not missing, f"missing {missing}")
    for message_id in delivered_ids:
        pdu = main.receipts.get(message_id)
        if pdu is None:
            continue
        raw = text(pdu.short_message)
        body = gsm_decode(pdu.short_message) if pdu.data_coding == 0 else raw
        if body != raw and not notes:
            notes.append(raw)
            print(f"note: receipts use GSM 03.38 in data_coding 0, '_' is octet 0x11: read as Latin-1 the text is {raw[:40]!r}")
        ok = (
            pdu.esm_class == 0x04
            and body.startswith(f"id:{message_id} ")
            and "stat:DELIVRD" in body
            and "err:000" in body
            and getattr(pdu, "message_state", None) == 2
        )
        check(f"receipt for {message_id}: esm_class 4, id: and stat:DELIVRD, message_state 2", ok,
              f"esm_class {pdu.esm_class}, state {getattr(pdu, 'message_state', None)!r}, text {body!r}")
    check("every receipt was answered deliver_sm_resp", main.deliver_sm_resps_sent >= len(delivered_ids), main.deliver_sm_resps_sent)


def query_checks():
    message_id = delivered_ids[0]
    answer = main.request("query_sm", message_id=message_id, source_addr_ton=0, source_addr_npi=0, source_addr="")
    check("query_sm of a delivered message is OK", answer.status == ESME_ROK, hex(answer.status))
    check("query_sm_resp names the message", text(answer.message_id) == message_id, answer.message_id)
    check("query_sm_resp message_state is 2 (DELIVERED)", answer.message_state == 2, answer.message_state)
    check("query_sm_resp has a final_date", len(text(answer.final_date)) == 16, answer.final_date)
    answer = main.request("query_sm", message_id="00000000000000000000000000", source_addr_ton=0,
                          source_addr_npi=0, source_addr="")
    check("query_sm of an unknown id is ESME_RQUERYFAIL (0x67)", answer.status == ESME_RQUERYFAIL, hex(answer.status))


def cancel_checks():
    answer = main.submit(b"This one waits an hour", schedule_delivery_time="000000010000000R")
    message_id = text(answer.message_id)
    check("scheduled submit_sm (relative 1 h) is OK", answer.status == ESME_ROK and is_smpp_id(message_id), (hex(answer.status), message_id))
    message = get_message(message_id)
    check("GET shows the scheduled message as scheduled", message.get("status") == "scheduled", message.get("status"))
    answer = main.request("cancel_sm", message_id=message_id, source_addr_ton=0, source_addr_npi=0, source_addr="",
                          dest_addr_ton=1, dest_addr_npi=1, destination_addr=DESTINATION)
    check("cancel_sm of the scheduled message is OK", answer.command == "cancel_sm_resp" and answer.status == ESME_ROK,
          (answer.command, hex(answer.status)))
    message = get_message(message_id)
    check("GET shows the message cancelled", message.get("status") == "cancelled", message.get("status"))
    # A cancelled message is final: a receipt asked for is a DELETED one.
    missing = main.wait_receipts([message_id], timeout=5)
    pdu = main.receipts.get(message_id)
    check("the cancelled message's receipt reads stat:DELETED, message_state 4",
          not missing and "stat:DELETED" in text(pdu.short_message) and getattr(pdu, "message_state", None) == 4,
          "no receipt" if missing else (text(pdu.short_message), getattr(pdu, "message_state", None)))
    answer = main.request("cancel_sm", message_id=delivered_ids[0], source_addr_ton=0, source_addr_npi=0,
                          source_addr="", dest_addr_ton=1, dest_addr_npi=1, destination_addr=DESTINATION)
    check("cancel_sm of a delivered message is ESME_RCANCELFAIL (0x11)", answer.status == ESME_RCANCELFAIL, hex(answer.status))


def throttle_checks():
    system_id = "pythrottle"
    status, body = http("POST", "/admin/v1/customers/demo/smpp-accounts", OPERATOR,
                        {"system_id": system_id, "password": "pyth1234", "tps": 1})
    check("the operator API creates an account with tps 1", status == 201 and body["account"]["tps"] == 1, (status, body))
    password = body.get("password") or "pyth1234"
    esme = Esme()
    try:
        throttled_bind(esme, system_id, password)
    finally:
        if esme.client._socket is not None:
            esme.client.disconnect()


def throttled_bind(esme, system_id, password):
    esme.connect()
    # A transmitter: the demo customer's receipts keep going to the main transceiver.
    answer = esme.client.bind_transmitter(system_id=system_id, password=password)
    check("bind_transmitter with the new account is OK", answer.status == ESME_ROK, answer.status)
    # Three submit_sm written back to back, before any answer.
    sent = [esme.send("submit_sm", source_addr_ton=5, source_addr="", dest_addr_ton=1, dest_addr_npi=1,
                      destination_addr=DESTINATION, short_message=f"Throttle test {i}".encode(), data_coding=0,
                      registered_delivery=0) for i in range(3)]
    answers = [esme.wait_response(pdu) for pdu in sent]
    statuses = [a.status for a in answers]
    order = [[p.sequence for p in sent].index(seq) + 1 for seq in esme.answer_order if seq in [p.sequence for p in sent]]
    print(f"note: the three submit_sm_resp came in the order {order} of the submit_sm")
    check("3 back-to-back submit_sm at tps 1: at least one ESME_RTHROTTLED (0x58)", ESME_RTHROTTLED in statuses,
          [hex(s) for s in statuses])
    check("the first of them is OK", statuses[0] == ESME_ROK, [hex(s) for s in statuses])
    check("a throttled submit_sm_resp has an empty message_id",
          all(text(a.message_id) == "" for a in answers if a.status == ESME_RTHROTTLED), [a.message_id for a in answers])
    answer = esme.client.unbind()
    check("the throttled account unbinds", answer.command == "unbind_resp" and answer.status == ESME_ROK, answer.command)
    esme.client.disconnect()


def unbind_checks():
    main.client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=main.client))
    answer = None
    deadline = time.time() + 10
    while time.time() < deadline:
        answer = main.read(1)
        if answer is not None and answer.command == "enquire_link_resp":
            break
    check("enquire_link is answered", answer is not None and answer.command == "enquire_link_resp", answer and answer.command)
    request = main.send("unbind")
    answer = main.wait_response(request)
    check("unbind is answered unbind_resp OK", answer.command == "unbind_resp" and answer.status == ESME_ROK,
          (answer.command, hex(answer.status)))
    main.client._socket.settimeout(5)
    try:
        closed = main.client._socket.recv(1) == b""
    except OSError as e:
        closed = not isinstance(e, socket.timeout)
    check("the server closes the connection after unbind_resp", closed)
    main.client.disconnect()


section("bind", bind_checks)
if main.client.state == smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX:
    section("submit_sm GSM and UCS-2", plain_submits)
    section("long message in UDH parts", long_submit)
    section("receipts", receipt_checks)
    section("query_sm", query_checks)
    section("cancel_sm", cancel_checks)
    section("throttling", throttle_checks)
    section("unbind", unbind_checks)
else:
    check("the demo bind succeeded, so the other checks can run", False)

failed = results.count(False)
print(f"smpplib: {len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
