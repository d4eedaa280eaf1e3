import type { EnqueueResult, InboxStore, NewInboxItem, NoticeRule } from './inbox-store.ts';

/** Events written in one transaction at most; the rest go in the next. Default 256. */
export const DEFAULT_MAX_BATCH = 256;

interface Waiting {
  item: NewInboxItem;
  resolve(result: EnqueueResult): void;
  reject(error: unknown): void;
}

/**
 * Group commit for the ack path: the events that become ready in one turn of the event loop are
 * written to the inbox in one transaction, and each is acknowledged once it is in. In a burst an
 * ack then costs a share of one commit, not a commit of its own, and waits one turn at most.
 */
export class InboxBatcher {
  readonly #store: InboxStore;
  /** The notice rule, asked afresh for each batch: it follows how fast answers go out. */
  readonly #notices: (() => NoticeRule) | undefined;
  readonly #maxBatch: number;
  #waiting: Waiting[] = [];
  #scheduled = false;

  constructor(store: InboxStore, notices?: NoticeRule | (() => NoticeRule), maxBatch = DEFAULT_MAX_BATCH) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`Expected \`maxBatch\` to be an integer >= 1, got ${maxBatch}`);
    this.#store = store;
    this.#notices = typeof notices === 'function' || notices === undefined ? notices : () => notices;
    this.#maxBatch = maxBatch;
  }

  /** Store one event with the others of this turn. Rejects, like the whole batch, when the store refuses the write. */
  add(item: NewInboxItem): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (this.#waiting.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    const batch = this.#waiting.splice(0, this.#maxBatch);
    if (batch.length === 0) return;
    this.#store.enqueueMany(
      batch.map((entry) => entry.item),
      Date.now(),
      this.#notices?.(),
    ).then(
      (results) => batch.forEach((entry, index) => entry.resolve(results[index] ?? { status: 'duplicate' })),
      // Nothing of the batch was written (one transaction): each event is refused, and retried by its platform or user.
      (error: unknown) => {
        for (const entry of batch) entry.reject(error);
      },
    );
  }
}
