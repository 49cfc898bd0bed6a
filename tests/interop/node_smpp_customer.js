// An independent ESME (npm smpp 0.5.1) against tongdao's customer-facing SMPP server.
//
// Binds as the demo customer (credentials from DATA_DIR/demo.smpp) and checks: refused binds
// (bad password, unknown system_id), GSM and UCS-2 submit_sm (and the stored text and encoding
// over HTTP), a 300-character text as one message_payload TLV (one message of 2 segments) and
// as two UDH parts (two messages of one segment), one delivery receipt per submit_sm (answered
// deliver_sm_resp), query_sm, cancel_sm of a scheduled message and of a delivered one,
// throttling of an account with tps 1 (created through the operator API), and unbind.
// Usage: node node_smpp_customer.js HOST:PORT HTTP_BASE_URL DATA_DIR
// Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
'use strict';

const fs = require('fs');
const path = require('path');
const smpp = require('smpp');

const [hostPort, httpBase, dataDir] = process.argv.slice(2);
if (!hostPort || !httpBase || !dataDir) {
  console.error('usage: node_smpp_customer.js HOST:PORT HTTP_BASE_URL DATA_DIR');
  process.exit(2);
}
const colon = hostPort.lastIndexOf(':');
const HOST = hostPort.slice(0, colon);
const PORT = Number(hostPort.slice(colon + 1));
const HTTP = httpBase.replace(/\/+$/, '');
const DESTINATION = '8613800138000';

const ESME_ROK = 0x00;
const ESME_RINVPASWD = 0x0e;
const ESME_RINVSYSID = 0x0f;
const ESME_RCANCELFAIL = 0x11;
const ESME_RTHROTTLED = 0x58;
const ESME_RQUERYFAIL = 0x67;

const results = [];
function check(name, ok, detail) {
  results.push(Boolean(ok));
  const extra = !ok && detail !== undefined ? ': ' + (typeof detail === 'string' ? detail : JSON.stringify(detail)) : '';
  console.log((ok ? 'ok   ' : 'FAIL ') + name + extra);
  return Boolean(ok);
}
const hex = (n) => (typeof n === 'number' ? '0x' + n.toString(16).padStart(2, '0') : String(n));

function finish() {
  const failed = results.filter((r) => !r).length;
  console.log(`node-smpp: ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

// Never hang: the whole run has 100 s.
setTimeout(() => {
  check('the node smpp run finished within 100 s', false);
  finish();
}, 100000).unref();

async function section(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(`${name} ran to the end`, false, String(e && e.stack ? e.stack : e));
  }
}

const readSecret = (name) => fs.readFileSync(path.join(dataDir, name), 'utf8').trim();
const DEMO = JSON.parse(readSecret('demo.smpp'));
const API_KEY = readSecret('demo.key');
const OPERATOR = readSecret('operator.token');

async function http(method, urlPath, token, body) {
  const response = await fetch(HTTP + urlPath, {
    method,
    headers: Object.assign(
      { Authorization: 'Bearer ' + token },
      body === undefined ? {} : { 'Content-Type': 'application/json' },
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const raw = await response.text();
  let json = null;
  try {
    json = raw ? JSON.parse(raw) : null;
  } catch (e) {
    json = raw;
  }
  return { status: response.status, body: json };
}

// Over SMPP a message id is the HTTP API's without its `msg_` prefix: 26 lowercase letters
// and digits, the same octets in GSM 03.38 and ASCII.
const SMPP_ID = /^[0-9a-z]{26}$/;

async function getMessage(id) {
  const { status, body } = await http('GET', `/v1/messages/msg_${id}`, API_KEY);
  if (status !== 200) throw new Error(`GET /v1/messages/msg_${id} answered ${status}: ${JSON.stringify(body)}`);
  return body && body.message ? body.message : body;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One ESME connection: promises over the library's callbacks, receipts recorded and answered.
class Esme {
  constructor() {
    this.receipts = new Map(); // receipted_message_id -> deliver_sm
    this.deliverSmRespsSent = 0;
    this.closed = false;
    this.errors = [];
  }

  connect() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connect timed out')), 10000);
      this.session = smpp.connect({ host: HOST, port: PORT }, () => {
        clearTimeout(timer);
        resolve(this);
      });
      this.session.on('error', (e) => {
        this.errors.push(e);
        clearTimeout(timer);
        reject(e);
      });
      this.session.on('close', () => {
        this.closed = true;
      });
      this.session.on('deliver_sm', (pdu) => {
        const id = pdu.receipted_message_id || (pdu.short_message && pdu.short_message.message) || '';
        this.receipts.set(id, pdu);
        this.session.send(pdu.response());
        this.deliverSmRespsSent += 1;
      });
      this.session.on('enquire_link', (pdu) => this.session.send(pdu.response()));
      this.session.on('unbind', (pdu) => this.session.send(pdu.response()));
    });
  }

  // Sends a request PDU and resolves to its response (or generic_nack) within `timeout` ms.
  call(command, options, timeout = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${command} within ${timeout} ms`)), timeout);
      const sent = this.session[command](options || {}, (pdu) => {
        clearTimeout(timer);
        resolve(pdu);
      });
      if (!sent) {
        clearTimeout(timer);
        reject(new Error(`${command} not sent: the socket is not writable`));
      }
    });
  }

  submit(options) {
    return this.call(
      'submit_sm',
      Object.assign(
        {
          source_addr_ton: 5,
          source_addr: '',
          dest_addr_ton: 1,
          dest_addr_npi: 1,
          destination_addr: DESTINATION,
          data_coding: 0,
          registered_delivery: 1,
        },
        options,
      ),
    );
  }

  async waitFor(predicate, timeout) {
    const deadline = Date.now() + timeout;
    while (!predicate() && Date.now() < deadline) await sleep(50);
    return predicate();
  }

  async waitReceipts(ids, timeout = 10000) {
    await this.waitFor(() => ids.every((id) => this.receipts.has(id)), timeout);
    return ids.filter((id) => !this.receipts.has(id));
  }

  waitClosed(timeout = 5000) {
    return this.waitFor(() => this.closed, timeout);
  }

  destroy() {
    if (!this.closed) this.session.destroy();
  }
}

async function refusedBind(systemId, password) {
  const esme = await new Esme().connect();
  const answer = await esme.call('bind_transceiver', { system_id: systemId, password });
  const closed = await esme.waitClosed(5000);
  esme.destroy();
  return { status: answer.command_status, command: answer.command, closed };
}

const deliveredIds = [];
let main = null;
let bound = false;

async function bindChecks() {
  // Wrong in its last character, same length (SMPP 3.4 passwords are at most 8 characters).
  const last = DEMO.password.slice(-1) === 'x' ? 'y' : 'x';
  let r = await refusedBind(DEMO.system_id, DEMO.password.slice(0, -1) + last);
  check('bind_transceiver with a wrong password is ESME_RINVPASWD (0x0E)',
    r.command === 'bind_transceiver_resp' && r.status === ESME_RINVPASWD, [r.command, hex(r.status)]);
  check('the server closes the connection after a refused bind', r.closed);
  // npm smpp does not cut passwords: the right one plus a character must not bind either.
  r = await refusedBind(DEMO.system_id, DEMO.password + 'x');
  check('bind_transceiver with the password plus one character is ESME_RINVPASWD (0x0E)',
    r.command === 'bind_transceiver_resp' && r.status === ESME_RINVPASWD, [r.command, hex(r.status)]);
  r = await refusedBind('nosuchsystem', 'whatever');
  check('bind_transceiver with an unknown system_id is ESME_RINVSYSID (0x0F)',
    r.command === 'bind_transceiver_resp' && r.status === ESME_RINVSYSID, [r.command, hex(r.status)]);
  main = await new Esme().connect();
  const answer = await main.call('bind_transceiver', { system_id: DEMO.system_id, password: DEMO.password });
  bound = check('bind_transceiver with the demo credentials is OK', answer.command_status === ESME_ROK, hex(answer.command_status));
  check('bind_transceiver_resp names the MC', Boolean(answer.system_id), answer.system_id);
}

async function plainSubmits() {
  const gsm = 'Your verification code is 123456';
  let answer = await main.submit({ short_message: gsm });
  let id = answer.message_id;
  check('GSM submit_sm is OK', answer.command_status === ESME_ROK, hex(answer.command_status));
  check('GSM submit_sm_resp carries a message id', SMPP_ID.test(id || ''), id);
  deliveredIds.push(id);
  let message = await getMessage(id);
  check('GET shows the GSM text', message.text === gsm, message);

  const chinese = '您的验证码是123456';
  answer = await main.submit({ short_message: chinese, data_coding: 8 });
  id = answer.message_id;
  check('UCS-2 submit_sm is OK with a message id', answer.command_status === ESME_ROK && SMPP_ID.test(id || ''),
    [hex(answer.command_status), id]);
  deliveredIds.push(id);
  message = await getMessage(id);
  check('GET shows the same Chinese text', message.text === chinese, message.text);
  check('GET shows encoding ucs2', message.encoding === 'ucs2', message.encoding);
}

function longText() {
  let t = '';
  for (let i = 0; t.length < 300; i++) t += String(i).padStart(3, '0') + ' long message text. ';
  return t.slice(0, 300);
}

async function payloadSubmit() {
  const text = longText();
  const answer = await main.submit({ message_payload: text });
  const id = answer.message_id;
  check('300 GSM chars in message_payload: submit_sm is OK with a message id',
    answer.command_status === ESME_ROK && SMPP_ID.test(id || ''), [hex(answer.command_status), id]);
  deliveredIds.push(id);
  const message = await getMessage(id);
  check('the message_payload message has the whole text', message.text === text, message.text);
  check('the message_payload message is 2 segments', message.segments === 2, message.segments);
  check('the message_payload message is priced 0.0900', String(message.price) === '0.0900', message.price);
}

async function udhSubmit() {
  const text = longText();
  const chunks = [text.slice(0, 153), text.slice(153)];
  const reference = 0x2a;
  const ids = [];
  for (let i = 0; i < chunks.length; i++) {
    const udh = Buffer.from([0x05, 0x00, 0x03, reference, chunks.length, i + 1]);
    const answer = await main.submit({ esm_class: 0, short_message: { udh, message: chunks[i] } });
    const id = answer.message_id;
    check(`UDH part ${i + 1}/2 submit_sm is OK with a message id`,
      answer.command_status === ESME_ROK && SMPP_ID.test(id || ''), [hex(answer.command_status), id]);
    ids.push(id);
    deliveredIds.push(id);
  }
  check('each UDH part is its own message', new Set(ids).size === 2, ids);
  const texts = [];
  for (let i = 0; i < ids.length; i++) {
    const message = await getMessage(ids[i]);
    texts.push(message.text);
    check(`UDH part ${i + 1} is 1 segment`, message.segments === 1, message.segments);
    check(`UDH part ${i + 1} is priced 0.0450`, String(message.price) === '0.0450', message.price);
  }
  check('the two parts\' texts make up the 300 chars (no UDH bytes in the text)', texts.join('') === text, texts);
}

async function receiptChecks() {
  const missing = await main.waitReceipts(deliveredIds, 10000);
  check(`a deliver_sm receipt for each of the ${deliveredIds.length} messages`, missing.length === 0, { missing });
  for (const id of deliveredIds) {
    const pdu = main.receipts.get(id);
    if (!pdu) continue;
    const body = (pdu.short_message && pdu.short_message.message) || '';
    const ok = pdu.esm_class === 0x04 && body.startsWith(`id:${id} `) && body.includes('stat:DELIVRD') &&
      body.includes('err:000') && pdu.message_state === 2;
    check(`receipt for ${id}: esm_class 4, id: and stat:DELIVRD, message_state 2`, ok,
      { esm_class: pdu.esm_class, message_state: pdu.message_state, text: body });
  }
  check('every receipt was answered deliver_sm_resp', main.deliverSmRespsSent >= deliveredIds.length, main.deliverSmRespsSent);
}

async function queryChecks() {
  const id = deliveredIds[0];
  let answer = await main.call('query_sm', { message_id: id });
  check('query_sm of a delivered message is OK', answer.command_status === ESME_ROK, hex(answer.command_status));
  check('query_sm_resp names the message', answer.message_id === id, answer.message_id);
  check('query_sm_resp message_state is 2 (DELIVERED)', answer.message_state === smpp.MESSAGE_STATE.DELIVERED, answer.message_state);
  check('query_sm_resp has a final_date', answer.final_date instanceof Date && !isNaN(answer.final_date), String(answer.final_date));
  answer = await main.call('query_sm', { message_id: '00000000000000000000000000' });
  check('query_sm of an unknown id is ESME_RQUERYFAIL (0x67)', answer.command_status === ESME_RQUERYFAIL, hex(answer.command_status));
}

async function cancelChecks() {
  let answer = await main.submit({ short_message: 'This one waits an hour', schedule_delivery_time: '000000010000000R' });
  const id = answer.message_id;
  check('scheduled submit_sm (relative 1 h) is OK', answer.command_status === ESME_ROK && SMPP_ID.test(id || ''),
    [hex(answer.command_status), id]);
  let message = await getMessage(id);
  check('GET shows the scheduled message as scheduled', message.status === 'scheduled', message.status);
  answer = await main.call('cancel_sm', { message_id: id, dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: DESTINATION });
  check('cancel_sm of the scheduled message is OK', answer.command === 'cancel_sm_resp' && answer.command_status === ESME_ROK,
    [answer.command, hex(answer.command_status)]);
  message = await getMessage(id);
  check('GET shows the message cancelled', message.status === 'cancelled', message.status);
  const missing = await main.waitReceipts([id], 5000);
  const pdu = main.receipts.get(id);
  const body = pdu && pdu.short_message ? pdu.short_message.message : '';
  check('the cancelled message\'s receipt reads stat:DELETED, message_state 4',
    missing.length === 0 && body.includes('stat:DELETED') && pdu.message_state === 4,
    missing.length ? 'no receipt' : { text: body, message_state: pdu.message_state });
  answer = await main.call('cancel_sm', { message_id: deliveredIds[0], dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: DESTINATION });
  check('cancel_sm of a delivered message is ESME_RCANCELFAIL (0x11)', answer.command_status === ESME_RCANCELFAIL, hex(answer.command_status));
}

async function throttleChecks() {
  const systemId = 'nodethrottle';
  const { status, body } = await http('POST', '/admin/v1/customers/demo/smpp-accounts', OPERATOR,
    { system_id: systemId, password: 'node1234', tps: 1 });
  check('the operator API creates an account with tps 1', status === 201 && body.account && body.account.tps === 1, { status, body });
  const password = (body && body.password) || 'node1234';
  const esme = await new Esme().connect();
  // A transmitter: the demo customer's receipts keep going to the main transceiver.
  const answer = await esme.call('bind_transmitter', { system_id: systemId, password });
  check('bind_transmitter with the new account is OK', answer.command_status === ESME_ROK, hex(answer.command_status));
  // Three submit_sm written back to back, before any answer.
  const pending = [0, 1, 2].map((i) => esme.submit({ short_message: `Throttle test ${i}`, registered_delivery: 0 }));
  const answers = await Promise.all(pending);
  const statuses = answers.map((a) => a.command_status);
  check('3 back-to-back submit_sm at tps 1: at least one ESME_RTHROTTLED (0x58)', statuses.includes(ESME_RTHROTTLED), statuses.map(hex));
  check('the first of them is OK', statuses[0] === ESME_ROK, statuses.map(hex));
  check('a throttled submit_sm_resp has an empty message_id',
    answers.filter((a) => a.command_status === ESME_RTHROTTLED).every((a) => !a.message_id), answers.map((a) => a.message_id));
  const unbound = await esme.call('unbind', {});
  check('the throttled account unbinds', unbound.command === 'unbind_resp' && unbound.command_status === ESME_ROK, unbound.command);
  esme.destroy();
}

async function unbindChecks() {
  let answer = await main.call('enquire_link', {});
  check('enquire_link is answered', answer.command === 'enquire_link_resp' && answer.command_status === ESME_ROK, answer.command);
  answer = await main.call('unbind', {});
  check('unbind is answered unbind_resp OK', answer.command === 'unbind_resp' && answer.command_status === ESME_ROK,
    [answer.command, hex(answer.command_status)]);
  check('the server closes the connection after unbind_resp', await main.waitClosed(5000));
  main.destroy();
}

(async () => {
  await section('bind', bindChecks);
  if (bound) {
    await section('submit_sm GSM and UCS-2', plainSubmits);
    await section('long message in message_payload', payloadSubmit);
    await section('long message in UDH parts', udhSubmit);
    await section('receipts', receiptChecks);
    await section('query_sm', queryChecks);
    await section('cancel_sm', cancelChecks);
    await section('throttling', throttleChecks);
    await section('unbind', unbindChecks);
  } else {
    check('the demo bind succeeded, so the other checks can run', false);
  }
  finish();
})();
