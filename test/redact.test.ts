import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { HrbotError } from '../src/errors.ts';
import { createLogger, silentLogger } from '../src/log/logger.ts';
import type { Logger } from '../src/log/logger.ts';
import { createPseudonymizer, ibanValid, luhnValid, MARKERS, redactText, redactValue } from '../src/log/redact.ts';

const KEY = 'test-pseudonym-key';

/** A logger writing into memory through a real Writable, as pino would write to a file or pipe. */
function capture(level = 'info'): { log: Logger; lines: () => Record<string, unknown>[]; raw: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const log = createLogger({ level, destination, pseudonymKey: KEY, name: 'hrbot-test' });
  const raw = () => chunks.join('');
  const lines = () =>
    raw()
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, raw };
}

/** Each class: marker, seeded values (the whole value is secret), and the secret part to look for. */
const SEEDED: Record<string, { marker: string; seeds: string[]; secretPart?: (seed: string) => string }> = {
  email: {
    marker: MARKERS.email,
    seeds: ['alice.smith@example.com', 'bob+payroll@hr.example.co.uk', 'j_doe99@corp-mail.example.org'],
  },
  phone: {
    marker: MARKERS.phone,
    seeds: ['+44 20 7946 0958', '+1-415-555-0100', '(415) 555-0199', '415.555.0123', '415-555-0142', '+33 6 12 34 56 78', '020 7946 0991'],
  },
  ssn: { marker: MARKERS.ssn, seeds: ['123-45-6789', '078-05-1120', '219-09-9999'] },
  card: {
    marker: MARKERS.card,
    seeds: ['4111 1111 1111 1111', '5500-0000-0000-0004', '378282246310005', '6011111111111117', '2223 0031 2200 3222'],
  },
  iban: {
    marker: MARKERS.iban,
    seeds: ['GB82 WEST 1234 5698 7654 32', 'DE89370400440532013000', 'FR14 2004 1010 0505 0001 3M02 606', 'NL91ABNA0417164300'],
  },
  ipv4: { marker: MARKERS.ip, seeds: ['192.168.1.20', '10.20.30.40', '203.0.113.7'] },
  ipv6: { marker: MARKERS.ip, seeds: ['2001:db8::ff00:42:8329', 'fe80::1ff:fe23:4567:890a', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'] },
  slackToken: {
    marker: MARKERS.token,
    seeds: [
      'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
      'xoxp-123456789012-123456789012-1234567890123-0123456789abcdef0123456789abcdef',
      'xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef',
      'xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIz',
    ],
  },
  awsKey: { marker: MARKERS.awsKey, seeds: ['AKIAIOSFODNN7EXAMPLE', 'ASIAY34FZKBOKMUTVV7A', 'AKIA2E0A8F3B244C9986'] },
  awsSecret: {
    marker: MARKERS.secret,
    seeds: ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY', 'Xk3nB9pQ2rT7vW1yZ5aC8dE0fG4hJ6kL9mN2pQ5r'],
  },
  bearer: {
    marker: MARKERS.token,
    seeds: ['Bearer abc123def456ghi789jkl', 'bearer 9f8e7d6c5b4a39281706f5e4', 'Bearer ya29.a0AfH6SMBx3ZqLongOpaqueToken'],
    secretPart: (seed) => seed.split(' ')[1]!,
  },
  jwt: {
    marker: MARKERS.jwt,
    seeds: [
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJocmJvdCIsImV4cCI6MTczMjMwMDAwMH0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      'eyJhbGciOiJub25lIn0.eyJ1c2VyIjoiYWxpY2UifQ.',
    ],
  },
};

/**
 * The forms the redactor used to miss (issue 8, defect 8), several variants each. Every seed must
 * be caught whole: no digit group, local part or id may survive.
 */
const EVASIVE: Record<string, { marker: string; seeds: string[]; residue: (seed: string) => string[] }> = {
  card: {
    marker: MARKERS.card,
    seeds: [
      '4111\u00a01111\u00a01111\u00a01111', // NBSP
      '5500\u202f0000\u202f0000\u202f0004', // narrow NBSP
      '4111  1111  1111  1111', // double spaces
      '4111/1111/1111/1111',
      '4111_1111_1111_1111',
      '4111\u200b1111\u200b1111\u200b1111', // zero-width space
      '4\u200c1\u200d1\u20601 1111 1111 1111', // zero-width (non-)joiner, word joiner inside a group
      '\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11', // fullwidth digits
      '\uff13\uff17\uff18\uff12\uff18\uff12\uff12\uff14\uff16\uff13\uff11\uff10\uff10\uff10\uff15', // fullwidth, one group (Amex)
      '6011\ufeff1111\ufeff1111\ufeff1117', // BOM as separator
    ],
    residue: (seed) => [seed.normalize('NFKC').replace(/[^0-9]/g, '').slice(4, 12)],
  },
  iban: {
    marker: MARKERS.iban,
    seeds: ['gb82 west 1234 5698 7654 32', 'de89370400440532013000', 'fr14 2004 1010 0505 0001 3m02 606', 'nl91abna0417164300', 'Gb82West12345698765432', 'DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000'],
    residue: (seed) => [seed.normalize('NFKC').replace(/\s/g, '').toLowerCase().slice(4, 14)],
  },
  email: {
    marker: MARKERS.email,
    seeds: ['josé.garcía@ejemplo.es', 'müller.jürgen@bücher.de', 'françois+rh@société.fr', 'δοκιμή@παράδειγμα.ελ', '用户@例子.广告', 'zoë_o.brien@example.com', 'ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ'],
    residue: (seed) => [seed.split(/[@＠]/)[0]!.slice(-4), seed.split(/[@＠]/)[1]!.slice(0, 4)],
  },
  phone: {
    marker: MARKERS.phone,
    seeds: ['415 5550100', '4155550100', '(415)5550100', '415-5550100', '415555-0100', '1 4155550100', '212\u00a0555\u00a00199', '\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10'],
    residue: (seed) => [seed.normalize('NFKC').replace(/\D/g, '').slice(-7)],
  },
  ssn: {
    marker: MARKERS.ssn,
    seeds: ['123 45 6789', '078 05 1120', '219 09 9999', '123\u00a045\u00a06789', '123-45-6789'],
    residue: (seed) => [seed.normalize('NFKC').replace(/\D/g, '').slice(3)],
  },
  guid: {
    marker: MARKERS.user,
    seeds: ['00000000-0000-4000-8000-0000000a11ce', '6F9619FF-8B86-D011-B42D-00C04FC964FF', '{3f2504e0-4f89-11d3-9a0c-0305e82c3301}', 'a:personal-72f988bf-86f1-41af-91ab-2d7cd011db47', '8:orgid:9b2c6e3a-1f4d-4c1e-8a7b-3d5e6f708192'],
    residue: (seed) => [seed.replace(/^.*?([0-9a-fA-F]{8}-)/, '$1').slice(0, 13)],
  },
};

/**
 * Realistic log strings with nothing personal in them: versions, order and ticket numbers, dates,
 * durations, Slack ids, amounts, statuses, ports, paths, hashes. At most 2% may change.
 */
const BENIGN_CORPUS = [
  'botbuilder 4.23.3 loaded', 'upgraded pino from 9.6.0 to 10.4.0', 'release 1.2.3.4-beta', 'node v20.19.0', 'typescript@5.6.3',
  'schema version 12', 'build 2025.11.22.1', 'semver 2.0.0-rc.1+build.5', 'chrome/131.0.6778.86', 'openssl 3.0.13',
  'order 100234 shipped', 'order #5012345 cancelled', 'PO-2025-00123 approved', 'invoice INV-000482 paid', 'order 12345678 refunded',
  'batch 42 of 120 done', 'reference 2025-000173', 'case 3004512 closed', 'return RMA-77812', 'quote Q-2025-0042', 'order 2025112201 (date-based: also a valid NANP number, one known false positive)',
  '2025-11-22T18:53:00.123Z', '2025-11-22 18:53:00', '2025-11-22', '22/11/2025', '11/22/2025 6:53 PM',
  'next run at 2025-12-01T00:00:00+01:00', 'window 2025-11-01..2025-11-30', 'day 2025-W47', '18:53:00.123', 'Sat, 22 Nov 2025 18:53:00 GMT',
  'took 1234 ms', 'latency p50=120ms p95=840ms p99=2300ms', 'timeout after 30000 ms', 'retry in 1500ms', 'duration 00:01:30.250',
  'uptime 86400 s', 'elapsed 2.5s', 'slow request 12045 ms', 'gc pause 38 ms', 'backoff 250, 500, 1000, 2000 ms',
  'posted to C0123ABCD', 'team T0123ABCD enterprise E0123ABCD', 'bot B0123ABCD', 'app A0123ABCD installed', 'channel G0123ABCD archived',
  'message ts 1732300000.123456', 'thread 1710000000.000100', 'file F0123ABCD uploaded', 'event Ev0123ABCD45 received', 'view V0123ABCD opened',
  'JIRA-1234 fixed', 'HR-12345 escalated to HR-12346', 'PROJ-9 blocked by PROJ-10', 'ticket SUP-20931', 'see ABC-123, ABC-124 and ABC-125',
  'total 2,000.00 EUR', 'budget $1,250,000.00', 'amount 1.234,56 €', 'salary band 45,000–60,000', 'cost 0.0042 USD per call',
  'paid 99.99', 'refund 12,345.67', 'fx rate 1.0842', 'tax 19%', '3,500 tokens used',
  'HTTP 200 OK', 'status 404', 'upstream answered 503', 'got 429, waiting 30 s', 'POST /slack/events 200 12ms',
  'GET /healthz 200', 'PUT /v3/conversations/x/activities/1 201', '500 Internal Server Error', 'status=401 code=unauthorized', 'HTTP/1.1 302 Found',
  'listening on 0.0.0.0:3000', 'port 8080', 'localhost:5432', 'redis://cache:6379/0', 'bound to 127.0.0.1:38211',
  'listening on :443', 'metrics on port 9464', 'upstream hrbot-db is healthy', 'connect ECONNREFUSED 127.0.0.1:443', 'proxy http://proxy:3128',
  'git da39a3ee5e6b4b0d3255bfef95601890afd80709', 'commit 66b6b54', 'sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'etag "33a64df551425fcc55e4d42a148795d9f25f89d4"', 'cache key 9f86d081884c',
  'inputTokens 1200 outputTokens 350', 'rows 42 erased', 'queue depth 17/500', 'handbook 12 files, 148 sections', 'concurrency 4 -> 3',
  'file knowledge/leave/parental-leave.md reindexed', 'db at /var/lib/hrbot/hrbot.db', 'PID 48213 started', 'heap 182.4 MB', 'rss 170 MB -> 212 MB',
  'the bearer of this letter', 'see section 4.2.1', 'page 3 of 12', 'table row 17 skipped', 'attempt 2 of 5',
  'epoch 1732300000000', 'ISO 8601 duration PT15M', 'cron 0 3 * * *', 'max 1000 chars', 'limit 20000 chars, got 20001',
  'model anthropic.claude-3-5-sonnet-20240620-v1:0', 'region eu-central-1', 'arn:aws:bedrock:eu-central-1::foundation-model/x', 'requestId abc-123-def', 'shard 7 of 16',
  'timestamps 1710000000 and 1710003600', 'range 100-200', 'ids 101, 102, 103', 'phase 3/4', 'error code 0x80004005',
];

/** Every evasive seed's secret pieces. */
function evasiveResidue(name: string, seed: string): string[] {
  return EVASIVE[name]!.residue(seed).filter((piece) => piece.length >= 3);
}

const BENIGN = [
  '2025-11-22T18:53:00.123Z',
  '2025-11-22T18:53:00+01:00',
  '2025-11-22',
  '18:53:00',
  '1732300000000',
  '1732300000',
  '1732300000.123456',
  'HR-12345',
  'ticket HR-12345 escalated to HR-12346',
  'v1.2.3',
  '20.19.0',
  '2.0.0-beta.1',
  'pino@10.4.0',
  '1500ms',
  '2.5s',
  'PT15M',
  '00:01:30',
  'took 1234 ms, retry 3 of 5',
  '42',
  '1,234 items',
  'port 8080',
  'localhost:3000',
  'listening on :443',
  'C0123ABCD',
  'posted to C0123ABCD in team T0123ABCD',
  'git da39a3ee5e6b4b0d3255bfef95601890afd80709',
  'the bearer of this letter',
  'inputTokens 1200 outputTokens 350',
];

/** Every secret string the output must not contain, for one seed. */
function secretsOf(seed: string, secretPart?: (seed: string) => string): string[] {
  const part = secretPart ? secretPart(seed) : seed;
  const compact = part.replace(/[ -]/g, '');
  return compact !== part && compact.length >= 9 ? [part, compact] : [part];
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('redactText', () => {
  for (const [name, { marker, seeds, secretPart }] of Object.entries(SEEDED)) {
    it(`redacts ${name} in free text`, () => {
      for (const seed of seeds) {
        const out = redactText(`before ${seed} after`);
        for (const secret of secretsOf(seed, secretPart)) assert.ok(!out.includes(secret), `${name}: ${secret} leaked in ${out}`);
        assert.ok(out.includes(marker), `${name}: no ${marker} in ${out}`);
        assert.ok(out.startsWith('before ') && out.endsWith(' after'), `${name}: surrounding text changed: ${out}`);
      }
    });
  }

  it('passes the benign corpus through unchanged', () => {
    for (const text of BENIGN) assert.equal(redactText(text), text);
  });

  it('checks cards with Luhn and IBANs with mod-97', () => {
    assert.equal(luhnValid('4111111111111111'), true);
    assert.equal(luhnValid('4111111111111112'), false);
    assert.equal(redactText('card 4111 1111 1111 1112'), 'card 4111 1111 1111 1112');
    assert.equal(ibanValid('GB82WEST12345698765432'), true);
    assert.equal(ibanValid('GB82WEST12345698765433'), false);
    assert.equal(redactText('iban GB82 WEST 1234 5698 7654 33'), 'iban GB82 WEST 1234 5698 7654 33');
  });

  it('does not take bare digit runs for phones unless they are valid NANP numbers', () => {
    for (const text of ['1732300000000', '1732300000', 'ticket 12345678', 'id 20251122185300', 'order 1234567890']) assert.equal(redactText(text), text);
  });

  it('redacts secrets assigned in free text and credentials in URLs', () => {
    const out = redactText('password=hunter2&next=1 {"client_secret":"s3cr3tvalue"} postgres://hr:pa55word@db.internal/hr');
    for (const secret of ['hunter2', 's3cr3tvalue', 'pa55word']) assert.ok(!out.includes(secret), out);
    assert.ok(out.includes('next=1'));
  });

  it('is idempotent, so the second pass in the logger changes nothing', () => {
    const all = Object.values(SEEDED).flatMap((c) => c.seeds).join(' | ');
    const once = redactText(all);
    assert.equal(redactText(once), once);
  });

  it('stays linear on adversarial 100 kB inputs', () => {
    const n = 100_000;
    const adversarial = [
      '1'.repeat(n), '4 '.repeat(n / 2), '41-'.repeat(n / 3), '+1 '.repeat(n / 3), 'a@'.repeat(n / 2), 'a'.repeat(n),
      'a@' + 'b.'.repeat(n / 2), ':'.repeat(n), 'a:'.repeat(n / 2), 'Ab1/'.repeat(n / 4), '1.'.repeat(n / 2),
      'eyJ'.repeat(n / 3), 'bearer '.repeat(n / 7), 'GB82 WEST '.repeat(n / 10), 'http://a:'.repeat(n / 9), '123-45-'.repeat(n / 7),
      '0 12 '.repeat(n / 5), '+1 (1)'.repeat(n / 6), '29:'.repeat(n / 3),
    ];
    for (const input of adversarial) assert.equal(typeof redactText(input), 'string');
    const unit = 'Mail alice@example.com, call +44 20 7946 0958, card 4111 1111 1111 1111, from 10.0.0.1; ';
    const copies = Math.floor(n / unit.length);
    const out = redactText(unit.repeat(copies));
    for (const marker of [MARKERS.email, MARKERS.phone, MARKERS.card, MARKERS.ip]) {
      assert.equal(out.split(marker).length - 1, copies, `${marker} count`);
    }
  });

  it('replaces Slack and Teams user ids in free text with pseudonyms', () => {
    const pseudonymize = createPseudonymizer(KEY);
    const out = redactText('<@U0123ABCD> and 29:1AbCdEfGhIjKlMnOpQrStUv asked', { pseudonymize });
    assert.equal(out, `<@${pseudonymize('U0123ABCD')}> and ${pseudonymize('29:1AbCdEfGhIjKlMnOpQrStUv')} asked`);
    assert.equal(redactText('<@U0123ABCD>'), `<@${MARKERS.user}>`);
  });

  for (const [name, { marker, seeds }] of Object.entries(EVASIVE)) {
    it(`catches every evasive ${name} form`, () => {
      let caught = 0;
      for (const seed of seeds) {
        const out = redactText(`before ${seed} after`);
        const folded = out.normalize('NFKC').replace(/[\u200b-\u200d\u2060\ufeff]/g, '').toLowerCase();
        const leaked = evasiveResidue(name, seed).filter((piece) => folded.includes(piece.toLowerCase()));
        if (out.includes(marker) && leaked.length === 0 && out.startsWith('before ') && out.endsWith(' after')) caught++;
        else assert.fail(`${name}: ${JSON.stringify(seed)} became ${JSON.stringify(out)}`);
      }
      assert.equal(caught, seeds.length);
    });
  }

  it('changes at most 2% of a benign corpus of realistic log strings', () => {
    assert.ok(BENIGN_CORPUS.length >= 100, `corpus has ${BENIGN_CORPUS.length}`);
    const pseudonymize = createPseudonymizer(KEY);
    const changed = BENIGN_CORPUS.filter((text) => redactText(text, { pseudonymize }) !== text);
    assert.ok(changed.length / BENIGN_CORPUS.length <= 0.02, `changed: ${JSON.stringify(changed.map((text) => [text, redactText(text, { pseudonymize })]))}`);
  });

  it('keeps the text around a folded match as it was written', () => {
    assert.equal(redactText('carte\u00a0: 4111\u00a01111\u00a01111\u00a01111, merci'), `carte\u00a0: ${MARKERS.card}, merci`);
    assert.equal(redactText('Ｎｏ．\u3000４１１１ １１１１ １１１１ １１１１ ２０２５'), `Ｎｏ．\u3000${MARKERS.card} ２０２５`);
    assert.equal(redactText('écrire à josé.garcía@ejemplo.es — merci'), `écrire à ${MARKERS.email} — merci`);
    assert.equal(redactText('👩‍💼 asked about 4111\u200b1111\u200b1111\u200b1111 😊'), `👩‍💼 asked about ${MARKERS.card} 😊`);
  });

  it('gives an AAD object id the same pseudonym in free text, in any case and form, and under user keys', () => {
    const pseudonymize = createPseudonymizer(KEY);
    const id = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    const expected = pseudonymize(id);
    assert.equal(redactText(`user ${id} asked`, { pseudonymize }), `user ${expected} asked`);
    assert.equal(redactText(`user ${id.toUpperCase()} asked`, { pseudonymize }), `user ${expected} asked`);
    assert.equal(redactText(`from 8:orgid:${id}`, { pseudonymize }), `from ${expected}`);
    assert.deepEqual(redactValue({ aadObjectId: id.toUpperCase() }, { pseudonymize }), { aadObjectId: expected });
  });

  it('stays idempotent and linear with folded and invisible characters', () => {
    const all = Object.values(EVASIVE).flatMap((c) => c.seeds).join(' | ');
    const once = redactText(all);
    assert.equal(redactText(once), once);
    const n = 100_000;
    for (const input of ['\uff14'.repeat(n), '4\u200b'.repeat(n / 2), '4\u00a0'.repeat(n / 2), 'é@'.repeat(n / 2), '4  '.repeat(n / 3), '4_'.repeat(n / 2), 'ab12 '.repeat(n / 5)]) {
      assert.equal(typeof redactText(input), 'string');
    }
  });
});

describe('redactValue', () => {
  const pseudonymize = createPseudonymizer(KEY);

  it('applies secret, user, name and text key rules case-insensitively', () => {
    const out = redactValue(
      {
        password: 'hunter2', API_KEY: 'k', apiKey: 'k', signingSecret: 's', Authorization: 'Bearer x', cookie: 'c', botToken: 'xoxb-1',
        userId: 'U0123ABCD', user_id: 'U0123ABCE', ownerKey: 'owner-1', from: { id: '29:abc', name: 'Alice Smith', aadObjectId: 'a-b' },
        users: ['U1', 'U2'], displayName: 'Alice', text: 'hi', question: 'q', answer: 'a', body: 'b', context: 'kept',
        inputTokens: 10, maxTokens: 20, tokenCount: 3, enabled: true, nothing: null,
      },
      { pseudonymize },
    );
    assert.deepEqual(out, {
      password: '[secret]', API_KEY: '[secret]', apiKey: '[secret]', signingSecret: '[secret]', Authorization: '[secret]', cookie: '[secret]',
      botToken: '[secret]', userId: pseudonymize('U0123ABCD'), user_id: pseudonymize('U0123ABCE'), ownerKey: pseudonymize('owner-1'),
      from: { id: pseudonymize('29:abc'), name: '[name]', aadObjectId: pseudonymize('a-b') }, users: [pseudonymize('U1'), pseudonymize('U2')],
      displayName: '[name]', text: '[text]', question: '[text]', answer: '[text]', body: '[text]', context: 'kept',
      inputTokens: 10, maxTokens: 20, tokenCount: 3, enabled: true, nothing: null,
    });
  });

  it('keeps text redacted and truncated when allowed', () => {
    const long = 'Reach me at alice@example.com ' + 'x'.repeat(200);
    const out = redactValue({ text: long, short: 'ok' }, { pseudonymize, allowText: true }) as Record<string, string>;
    assert.equal(out['text'], ('Reach me at [email] ' + 'x'.repeat(200)).slice(0, 80) + '…');
    assert.equal(out['short'], 'ok');
  });

  it('handles cycles, depth and errors', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    assert.deepEqual(redactValue(cyclic), { a: 1, self: '[circular]' });

    let deep: unknown = 'bottom';
    for (let i = 0; i < 20; i++) deep = { next: deep };
    assert.ok(JSON.stringify(redactValue(deep)).includes(MARKERS.maxDepth));

    const error = new HrbotError('store_failed', 'lookup failed for alice@example.com', { cause: new Error('host 10.1.2.3 down') });
    const out = redactValue(error) as Record<string, unknown>;
    assert.equal(out['name'], 'HrbotError');
    assert.equal(out['code'], 'store_failed');
    assert.equal(out['message'], 'lookup failed for [email]');
    assert.ok(typeof out['stack'] === 'string' && !out['stack'].includes('alice@example.com'));
    assert.equal((out['cause'] as Record<string, unknown>)['message'], 'host [ip] down');
  });
});

describe('error summaries', () => {
  const pseudonymize = createPseudonymizer(KEY);
  const question = 'zebrafish question about my salary';

  /** An error shaped as axios and HTTP clients build them: request, response and body hung on it. */
  function clientError(): Error {
    const error = new Error('Request failed with status code 500') as Error & Record<string, unknown>;
    error['code'] = 'ERR_BAD_RESPONSE';
    error['config'] = { url: 'https://hooks.slack.com/commands/T1/2/s3cretPath', data: JSON.stringify({ text: question }), headers: { Authorization: 'Bearer xoxb-1-2-3' } };
    error['request'] = { path: '/commands/T1/2/s3cretPath', _header: `POST /commands/T1/2/s3cretPath\r\n` };
    error['response'] = { status: 500, data: question, headers: { 'set-cookie': 'sid=1' } };
    error['body'] = question;
    error['details'] = { error: { message: question } };
    return error;
  }

  it('keeps type, message, code, status, stack and causes, and nothing a client hung on the error', () => {
    const out = redactValue({ err: new HrbotError('slack_delivery_failed', 'Could not post', { cause: clientError() }) }, { pseudonymize }) as Record<string, Record<string, unknown>>;
    const err = out['err']!;
    assert.deepEqual(Object.keys(err).sort(), ['cause', 'code', 'message', 'name', 'stack', 'type']);
    const cause = err['cause'] as Record<string, unknown>;
    assert.deepEqual(Object.keys(cause).sort(), ['code', 'message', 'name', 'stack', 'status', 'type']);
    assert.equal(cause['status'], 500);
    assert.equal(cause['code'], 'ERR_BAD_RESPONSE');
    const json = JSON.stringify(out);
    for (const secret of ['zebrafish', 's3cretPath', 'xoxb-1-2-3', 'sid=1']) assert.ok(!json.includes(secret), `${secret} leaked: ${json}`);
  });

  it('treats error-shaped objects, non-Error causes and serialized errors the same way', () => {
    const shaped = { name: 'AxiosError', message: 'failed', stack: 'AxiosError: failed\n    at x (y.js:1:1)', config: { data: question } };
    const out = redactValue({ err: shaped, other: new Error('outer', { cause: { response: { data: question }, status: 502 } }) }) as Record<string, Record<string, unknown>>;
    assert.deepEqual(out['err'], { type: 'AxiosError', name: 'AxiosError', message: 'failed', stack: 'AxiosError: failed\n    at x (y.js:1:1)' });
    assert.deepEqual(out['other']!['cause'], { type: 'Object', name: 'Object', message: '', status: 502 });
    assert.ok(!JSON.stringify(out).includes('zebrafish'));
    // The logger's second pass sees the summary again and leaves it as it is.
    assert.deepEqual(redactValue(out), out);
  });

  it('bounds the message, the stack and the cause chain, and survives cycles', () => {
    const long = new Error(`Unexpected token, "${'x'.repeat(500)}" is not valid JSON`);
    const summary = redactValue(long) as Record<string, string>;
    assert.ok(summary['message']!.length <= 201);
    assert.ok(!summary['stack']!.includes('x'.repeat(250)), 'the stack repeats only the bounded message');

    let chained: Error = new Error('bottom');
    for (let i = 0; i < 20; i++) chained = new Error(`level ${i}`, { cause: chained });
    assert.ok(JSON.stringify(redactValue(chained)).includes(MARKERS.maxDepth));

    const cyclic = new Error('a') as Error & { cause?: unknown };
    cyclic.cause = cyclic;
    assert.equal((redactValue(cyclic) as Record<string, unknown>)['cause'], MARKERS.circular);
  });

  it('logs a failing client error at info without its request or response', async () => {
    const { log, raw, lines } = capture('info');
    log.error({ err: new HrbotError('slack_delivery_failed', 'Could not post', { cause: clientError() }) }, 'could not answer');
    log.warn(clientError());
    log.child({ err: clientError(), failure: clientError() }).info('bound errors');
    await settle();
    for (const secret of ['zebrafish', 's3cretPath', 'xoxb-1-2-3']) assert.ok(!raw().includes(secret), `${secret} leaked`);
    assert.equal(((lines()[0]!['err'] as Record<string, unknown>)['cause'] as Record<string, unknown>)['status'], 500);
  });
});

describe('createPseudonymizer', () => {
  it('is stable per key and differs across keys', () => {
    const a = createPseudonymizer(KEY);
    const b = createPseudonymizer(Buffer.from('another key'));
    assert.match(a('U0123ABCD'), /^u_[0-9a-f]{16}$/);
    assert.equal(a('U0123ABCD'), createPseudonymizer(KEY)('U0123ABCD'));
    assert.notEqual(a('U0123ABCD'), a('U0123ABCE'));
    assert.notEqual(a('U0123ABCD'), b('U0123ABCD'));
  });
});

describe('createLogger', () => {
  for (const [name, { marker, seeds, secretPart }] of Object.entries(SEEDED)) {
    it(`never writes ${name} (free text, nested fields, errors, bindings, arguments)`, async () => {
      const { log, lines, raw } = capture();
      for (const seed of seeds) {
        log.info({ ctx: { deep: { list: [`x ${seed} y`, { note: seed }] } } }, `free text ${seed}`);
        log.error(new HrbotError('failed', `failed for ${seed}`, { cause: new Error(`cause ${seed}`) }));
        log.warn({ err: new Error(seed), items: new Map([['k', seed]]) }, 'with %s interpolated', seed);
        log.child({ note: seed, nested: { value: seed } }).info('from a child');
      }
      await settle();
      const output = raw();
      for (const seed of seeds) {
        for (const secret of secretsOf(seed, secretPart)) assert.ok(!output.includes(secret), `${name}: ${secret} leaked`);
      }
      assert.ok(output.includes(marker), `${name}: no ${marker}`);
      assert.equal(lines().length, seeds.length * 4);
    });
  }

  it('writes the benign corpus unchanged', async () => {
    const { log, lines } = capture();
    for (const text of BENIGN) log.info({ value: text, nested: { list: [text] } }, text);
    await settle();
    const written = lines();
    assert.equal(written.length, BENIGN.length);
    BENIGN.forEach((text, i) => {
      const line = written[i]!;
      assert.equal(line['msg'], text);
      assert.equal(line['value'], text);
      assert.deepEqual(line['nested'], { list: [text] });
    });
  });

  it('pseudonymizes user ids and never writes the raw id', async () => {
    const { log, lines, raw } = capture();
    const pseudonymize = createPseudonymizer(KEY);
    log.info({ userId: 'U0123ABCD', from: { id: '29:1AbCdEfGhIjKlMnOpQrStUv', name: 'Alice Smith' } }, 'asked by <@U0123ABCD>');
    log.child({ user: 'U0123ABCD' }).info('again');
    await settle();
    const [first, second] = lines();
    assert.equal(first!['userId'], pseudonymize('U0123ABCD'));
    assert.equal(first!['msg'], `asked by <@${pseudonymize('U0123ABCD')}>`);
    assert.equal(second!['user'], pseudonymize('U0123ABCD'));
    for (const raw_ of ['U0123ABCD', '29:1AbCdEfGhIjKlMnOpQrStUv', 'Alice Smith']) assert.ok(!raw().includes(raw_), `${raw_} leaked`);
  });

  it('replaces secret-named keys and keeps usage counts', async () => {
    const { log, lines } = capture();
    log.info({ headers: { authorization: 'Basic dXNlcjpwYXNz', Cookie: 'sid=abc' }, signingSecret: 'shh', inputTokens: 1200 });
    await settle();
    const [line] = lines();
    assert.deepEqual(line!['headers'], { authorization: '[secret]', Cookie: '[secret]' });
    assert.equal(line!['signingSecret'], '[secret]');
    assert.equal(line!['inputTokens'], 1200);
  });

  it('logs message text as [text] at info level', async () => {
    const { log, lines, raw } = capture('info');
    log.info({ text: 'my salary question', question: 'q?', answer: 'a.', body: 'b' }, 'turn');
    log.child({ text: 'bound text' }).info('child');
    await settle();
    const [first, second] = lines();
    assert.deepEqual([first!['text'], first!['question'], first!['answer'], first!['body']], ['[text]', '[text]', '[text]', '[text]']);
    assert.equal(second!['text'], '[text]');
    assert.ok(!raw().includes('salary'));
  });

  it('keeps message text redacted and truncated at debug level', async () => {
    const { log, lines } = capture('debug');
    const long = 'My SSN is 123-45-6789 and my email alice@example.com, ' + 'please help '.repeat(20);
    log.debug({ text: long }, 'turn');
    log.info({ question: 'short one' }, 'info line from a debug logger');
    await settle();
    const [first, second] = lines();
    const text = first!['text'] as string;
    assert.equal(text.length, 81);
    assert.ok(text.endsWith('…'));
    assert.ok(text.startsWith('My SSN is [ssn] and my email [email], please help'));
    assert.equal(second!['question'], 'short one');
  });

  it('accepts a PassThrough (NodeJS.WritableStream) destination', async () => {
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const log = createLogger({ destination: stream, pseudonymKey: KEY });
    log.info({ email: 'alice@example.com' }, 'hello');
    await settle();
    const line = JSON.parse(written.trim()) as Record<string, unknown>;
    assert.equal(line['email'], '[email]');
    assert.equal(line['msg'], 'hello');
  });

  it('offers a silent logger', () => {
    const log = silentLogger();
    assert.equal(log.level, 'silent');
    log.error({ password: 'x' }, 'nothing is written');
  });
});
