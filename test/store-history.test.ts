// The history, erasure and event-ledger stores' contract, on SQLite and on PostgreSQL alike: two
// replicas appending to one conversation never take the same place; the head moves with every
// exchange and with an erase; an erase takes everything of one user and nothing of another, and a
// write begun before it writes nothing; a redelivered event is claimed by one replica only.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Exchange } from '../src/store/history-store.ts';
import { STORE_ENGINES } from './support/store-engines.ts';
import type { StoreUnderTest } from './support/store-engines.ts';

const NOW = Date.parse('2031-03-10T12:00:00.000Z');

function exchange(owner: string, conversation: string, question: string): Exchange {
  return { conversationKey: conversation, ownerKey: owner, command: 'ask', question, answer: { text: `answer to ${question}`, kind: 'excerpts', sources: [] } };
}

for (const engine of STORE_ENGINES) {
  const withStore = async (fn: (store: StoreUnderTest) => Promise<void>) => {
    const store = await engine.open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  void describe(`history store on ${engine.name}`, () => {
    void it('two replicas appending to one conversation at once: every exchange in its own place, in order, none lost', () =>
      withStore(async (store) => {
        const replicas = [(await store.replica()).history(), (await store.replica()).history()];
        const appended = await Promise.all(Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.appendExchange(exchange('slack:T1:UA', 'c1', `q${i}`), NOW + i)));
        const seqs = appended.map((a) => a!.seq).sort((x, y) => x - y);
        assert.deepEqual(seqs, Array.from({ length: 20 }, (_, i) => 1 + 2 * i), 'sequence numbers 1, 3, 5, … each taken once');
        const turns = await replicas[0]!.recentTurns('c1', 'slack:T1:UA', 100);
        assert.equal(turns.length, 40);
        assert.deepEqual(turns.map((t) => t.seq), Array.from({ length: 40 }, (_, i) => i + 1), 'oldest first');
        for (let i = 0; i < 40; i += 2) assert.equal(turns[i + 1]!.text, `answer to ${turns[i]!.text}`, 'each answer right after its question');
        assert.equal(new Set(appended.map((a) => a!.answerId)).size, 20);
      }));

    void it('appends an exchange with a key once, on whichever replica, and keys no answer id of another key or of none', () =>
      withStore(async (store) => {
        const replicas = [(await store.replica()).history(), (await store.replica()).history()];
        const keyed = { ...exchange('slack:T1:UA', 'c1', 'how many vacation days?'), key: 'slack:T1:Ev1' };
        // A retry on another replica at the same moment, and one later: one exchange, one answer id.
        const [first, second] = await Promise.all(replicas.map((history) => history.appendExchange(keyed, NOW)));
        const third = await replicas[0]!.appendExchange(keyed, NOW + 5);
        const ids = [first, second, third].map((a) => a!.answerId);
        assert.equal(new Set(ids).size, 1, 'the same answer id every time');
        assert.deepEqual([first, second, third].map((a) => a!.repeated === true).sort(), [false, true, true]);
        assert.deepEqual([first, second, third].map((a) => a!.seq), [1, 1, 1]);
        assert.equal((await replicas[1]!.recentTurns('c1', 'slack:T1:UA', 100)).length, 2, 'written once');
        assert.equal(await replicas[1]!.answerOwner(ids[0]!), 'slack:T1:UA');
        // Another key, or none, is another exchange with another id.
        const other = await replicas[0]!.appendExchange({ ...keyed, key: 'slack:T1:Ev2' }, NOW + 6);
        const unkeyed = await replicas[0]!.appendExchange(exchange('slack:T1:UA', 'c1', 'and sick days?'), NOW + 7);
        assert.equal(new Set([ids[0], other!.answerId, unkeyed!.answerId]).size, 3);
        assert.equal(other!.repeated, undefined);
        assert.equal((await replicas[1]!.recentTurns('c1', 'slack:T1:UA', 100)).length, 6);
        assert.match(other!.answerId, /^[A-Za-z0-9_-]{16}$/, 'as opaque as a random id');
      }));

    void it('gives answer ids that sort by when their event came (or the append, without one), the same on every attempt', () =>
      withStore(async (store) => {
        const history = (await store.replica()).history();
        const at = (n: number, key?: string) => ({ ...exchange('slack:T1:UA', `c${n}`, `question ${n}`), ...(key === undefined ? {} : { key, keyAt: NOW + n * 1_000 }) });
        const made = [
          await history.appendExchange(at(3, 'slack:T1:Ev3'), NOW + 9_000),
          await history.appendExchange(at(1, 'slack:T1:Ev1'), NOW + 9_001),
          await history.appendExchange(at(2), NOW + 2_000),
          await history.appendExchange(at(4, 'slack:T1:Ev4'), NOW + 9_002),
        ].map((appended) => appended!.answerId);
        // By the events' times (1, 3, 4 s) and the unkeyed append's own (2 s), not by the order of the appends.
        assert.deepEqual([...made].sort(), [made[1], made[2], made[0], made[3]]);
        for (const id of made) assert.match(id, /^[0-9a-z]{8}[A-Za-z0-9_-]{16}$/);
        assert.equal((await history.appendExchange(at(3, 'slack:T1:Ev3'), NOW + 20_000))!.answerId, made[0], 'a retry later: the same id');
      }));

    void it('the head moves with each exchange and after an erase, whichever replica wrote', () =>
      withStore(async (store) => {
        const [a, b] = [await store.replica(), await store.replica()];
        assert.equal(await a.history().head('c1', 'slack:T1:UA'), undefined);
        const first = await a.history().appendExchange(exchange('slack:T1:UA', 'c1', 'one'), NOW);
        assert.equal(await b.history().head('c1', 'slack:T1:UA'), first!.heads.after);
        const second = await b.history().appendExchange(exchange('slack:T1:UA', 'c1', 'two'), NOW + 1);
        assert.equal(second!.heads.before, first!.heads.after);
        assert.equal(await a.history().head('c1', 'slack:T1:UA'), second!.heads.after);
        await b.erasure().erase('slack:T1:UA', NOW + 2);
        assert.equal(await a.history().head('c1', 'slack:T1:UA'), undefined, 'erased: no head');
        const again = await a.history().appendExchange(exchange('slack:T1:UA', 'c1', 'three'), NOW + 3);
        assert.notEqual(again!.heads.after, second!.heads.after, 'a conversation begun again has another head');
      }));

    void it("lists a user's own questions newest first, and who owns an answer", () =>
      withStore(async (store) => {
        const history = (await store.replica()).history();
        await history.appendExchange(exchange('slack:T1:UA', 'c1', 'older'), NOW);
        const newer = await history.appendExchange(exchange('slack:T1:UA', 'c2', 'newer'), NOW + 1);
        await history.appendExchange(exchange('slack:T1:UB', 'c3', 'not mine'), NOW + 2);
        assert.deepEqual(
          (await history.recentQuestions('slack:T1:UA', 10)).map((q) => q.text),
          ['newer', 'older'],
        );
        assert.equal(await history.answerOwner(newer!.answerId), 'slack:T1:UA');
        assert.equal(await history.answerOwner('no-such-answer'), undefined);
        // A question's row is keyed next to its answer's id (see questionRowId) but is no answer.
        assert.equal(await history.answerOwner(`${newer!.answerId}.q`), undefined, 'a question is owned as no answer');
        const turns = await history.recentTurns('c2', 'slack:T1:UA', 10);
        assert.deepEqual(
          turns.map((turn) => [turn.role, turn.answerId ?? null]),
          [
            ['user', null],
            ['assistant', newer!.answerId],
          ],
          'only the answer carries an answer id',
        );
      }));

    void it("gives one tenant's recent answer sources for suggested topics, never another tenant's", () =>
      withStore(async (store) => {
        const history = (await store.replica()).history();
        const withSources = (owner: string, question: string): Exchange => ({
          ...exchange(owner, `conv-${owner}`, question),
          answer: { text: 'a', kind: 'excerpts', sources: [{ file: 'leave.md', anchor: 'x', heading: 'Leave', headingPath: 'Leave', title: 'Leave' }] },
        });
        await history.appendExchange(withSources('slack:T1:UA', 'one'), NOW);
        await history.appendExchange(withSources('slack:T_:UB', 'wildcard tenant'), NOW + 1);
        await history.appendExchange(withSources('slack:T10:UC', 'longer tenant id'), NOW + 2);
        await history.appendExchange(exchange('slack:T1:UD', 'c9', 'no sources'), NOW + 3);
        const rows = await history.recentSources('slack:T1', 10);
        assert.deepEqual(rows.map((row) => row.owner), ['slack:T1:UA']);
        assert.match(rows[0]!.sources, /leave\.md/);
        assert.deepEqual((await history.recentSources('slack:T_', 10)).map((row) => row.owner), ['slack:T_:UB']);
      }));
  });

  void describe(`erasure store on ${engine.name}`, () => {
    void it("takes everything of one user in one go, nothing of another's, and a write begun before it writes nothing", () =>
      withStore(async (store) => {
        const replica = await store.replica();
        const other = await store.replica();
        const history = replica.history();
        const usage = replica.usage({ perMinute: 100, dailyQuestions: 100 });
        const mine = await history.appendExchange(exchange('slack:T1:UA', 'c1', 'mine'), NOW);
        await history.recordFeedback(mine!.answerId, 'slack:T1:UA', 'up', NOW);
        await usage.admit('slack:T1:UA', 'slack:T1', { question: true }, NOW);
        await history.appendExchange(exchange('slack:T1:UB', 'c2', 'theirs'), NOW);
        await replica.query(
          "INSERT INTO inbox (event_hash, platform, lane_key, owner_hash, ord, payload, bytes, state, received_at) VALUES ('e1', 'slack', 'c1', ?, 1, '{}', 2, 'pending', ?)",
          [await replica.hash('slack:T1:UA'), NOW],
        );
        const before = await other.erasure().mark('slack:T1:UA');
        assert.equal(before, 0, 'never erased');
        const report = await other.erasure().erase('slack:T1:UA', NOW + 1);
        assert.deepEqual(report, { conversations: 1, messages: 2, feedback: 1, usageDays: 1, cachedAnswers: 0 });
        assert.ok((await replica.erasure().mark('slack:T1:UA')) > before, 'a newer mark, seen by every replica');
        assert.deepEqual(await replica.query("SELECT COUNT(*) AS n FROM messages WHERE owner_key = 'slack:T1:UA'"), [{ n: 0 }]);
        assert.deepEqual(
          (await replica.query<{ state: string; owner_hash: string; payload: string | null }>('SELECT state, owner_hash, payload FROM inbox')).map((r) => [r.state, r.owner_hash, r.payload]),
          [['done', '', null]],
          'its waiting messages too: the bare key of the event stays, so a redelivery is not answered after the erase',
        );
        assert.deepEqual(await replica.query("SELECT COUNT(*) AS n FROM messages WHERE owner_key = 'slack:T1:UB'"), [{ n: 2 }], "another's untouched");
        // A turn that began before the erase (it took mark 0) writes nothing after it.
        assert.equal(await history.appendExchange(exchange('slack:T1:UA', 'c1', 'late'), NOW + 2, before), undefined);
        assert.equal(await usage.admit('slack:T1:UA', 'slack:T1', { question: true, mark: before }, NOW + 2), false);
        assert.deepEqual(await replica.query("SELECT COUNT(*) AS n FROM messages WHERE owner_key = 'slack:T1:UA'"), [{ n: 0 }]);
        // Marks only grow.
        await replica.erasure().erase('slack:T1:UB', NOW + 3);
        const marks = await replica.query<{ seq: number }>('SELECT seq FROM erasures ORDER BY seq');
        assert.deepEqual(marks.map((m) => Number(m.seq)), [1, 2]);
      }));

    void it('an answered inbox item keeps no owner; an erase empties the ones still open, keeps their ids, and a redelivery of either stays known', () =>
      withStore(async (store) => {
        const replica = await store.replica();
        const inbox = replica.inbox({});
        const item = (n: number) => ({ eventKey: `slack:Ev${n}`, platform: 'slack', laneKey: 'c1', ownerKey: 'slack:T1:UA', order: n, payload: `{"n":${n}}` });
        const answered = await inbox.enqueue(item(1), NOW);
        const waiting = await inbox.enqueue(item(2), NOW);
        assert.ok(answered.status === 'accepted' && waiting.status === 'accepted');
        assert.equal(await inbox.complete(answered.id, NOW + 1), true);
        const owner = await replica.hash('slack:T1:UA');
        assert.deepEqual(
          (await replica.query<{ id: number; owner_hash: string; payload: string | null }>('SELECT id, owner_hash, payload FROM inbox ORDER BY id')).map((r) => [Number(r.id), r.owner_hash, r.payload]),
          [
            [answered.id, '', null],
            [waiting.id, owner, '{"n":2}'],
          ],
        );
        await replica.erasure().erase('slack:T1:UA', NOW + 2);
        assert.deepEqual(
          (await replica.query<{ id: number; state: string; owner_hash: string; payload: string | null }>('SELECT id, state, owner_hash, payload FROM inbox ORDER BY id')).map((r) => [Number(r.id), r.state, r.owner_hash, r.payload]),
          [
            [answered.id, 'done', '', null],
            [waiting.id, 'done', '', null],
          ],
          'the open item erased to its bare key; its id is never handed to another message',
        );
        assert.equal(await inbox.complete(waiting.id, NOW + 3), false, 'an attempt still at work on it finds it gone');
        const next = await inbox.enqueue(item(3), NOW + 3);
        assert.ok(next.status === 'accepted' && next.id > waiting.id);
        assert.equal(await inbox.isOpen(next.id), true);
        for (const n of [1, 2]) assert.equal((await inbox.enqueue(item(n), NOW + 4)).status, 'duplicate', 'a redelivery is not answered after the erase');
      }));

    void it("keys an event by the platform's time of it when it has one, and knows a redelivery either way", () =>
      withStore(async (store) => {
        const replica = await store.replica();
        const inbox = replica.inbox({});
        const item = (n: number, eventAt?: number) => ({
          eventKey: `slack:Ev${n}`,
          platform: 'slack',
          laneKey: `c${n}`,
          ownerKey: 'slack:T1:UA',
          order: n,
          payload: '{}',
          ...(eventAt === undefined ? {} : { eventAt }),
        });
        // Stored before keys had their time (no eventAt), then redelivered with one: still the same event.
        assert.equal((await inbox.enqueue(item(1), NOW)).status, 'accepted');
        assert.equal((await inbox.enqueue(item(1, NOW), NOW + 1)).status, 'duplicate');
        // Later events get keys that sort by their time, whatever order they arrive in.
        for (const [n, at] of [[3, NOW + 3_000], [2, NOW + 2_000], [4, NOW + 4_000]] as const) assert.equal((await inbox.enqueue(item(n, at), NOW + 5)).status, 'accepted');
        assert.equal((await inbox.enqueue(item(2, NOW + 2_000), NOW + 6)).status, 'duplicate', 'a redelivery');
        const keys = (await replica.query<{ ord: number; event_hash: string }>('SELECT ord, event_hash FROM inbox WHERE ord > 1 AND ord < 5 ORDER BY event_hash')).map((row) => Number(row.ord));
        assert.deepEqual(keys, [2, 3, 4]);
        // Stored under the envelope's second (before messages were keyed by their own time), then
        // redelivered keyed by the message's own time, with that second as an earlier key: the same event.
        assert.equal((await inbox.enqueue(item(5, NOW + 5_000), NOW + 7)).status, 'accepted');
        assert.equal((await inbox.enqueue({ ...item(5, NOW + 5_432.1), alsoKeyedAt: NOW + 5_000 }, NOW + 8)).status, 'duplicate');
        assert.equal((await inbox.enqueue(item(5, NOW + 5_432.1), NOW + 9)).status, 'accepted', 'without it, another key');
      }));
  });

  void describe(`event ledger on ${engine.name}`, () => {
    void it('an event delivered to two replicas at once is claimed by one; done stays done; an abandoned claim is taken over', () =>
      withStore(async (store) => {
        const ledgers = [(await store.replica()).ledger({ leaseMs: 1_000 }), (await store.replica()).ledger({ leaseMs: 1_000 })];
        const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => ledgers[i % 2]!.claim('slack:Ev1', NOW)));
        assert.deepEqual(claims.filter((c) => c === 'claimed').length, 1, JSON.stringify(claims));
        assert.ok(claims.every((c) => c === 'claimed' || c === 'in_progress'));
        await ledgers[0]!.finish('slack:Ev1', NOW + 1);
        assert.equal(await ledgers[1]!.claim('slack:Ev1', NOW + 10_000), 'done');
        assert.equal(await ledgers[0]!.claim('slack:Ev2', NOW), 'claimed');
        assert.equal(await ledgers[1]!.claim('slack:Ev2', NOW + 500), 'in_progress');
        assert.equal(await ledgers[1]!.claim('slack:Ev2', NOW + 1_500), 'claimed', 'its lease ran out: the claimer crashed');
        await ledgers[1]!.release('slack:Ev2');
        assert.equal(await ledgers[0]!.claim('slack:Ev2', NOW + 1_600), 'claimed', 'given back, taken again');
      }));
  });
}
