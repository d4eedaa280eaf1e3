import { toError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { ReplicaRegistry } from '../store/replica-registry.ts';
import { preferredVersion } from '../store/replica-registry.ts';

/** Timing of {@link HandbookAgreement}; defaults stated once here. */
export interface HandbookAgreementOptions {
  /** How often this process says which version it answers from, and reads the others', in ms. Default 5,000. */
  beatMs?: number;
  /** A process not heard from for this long no longer counts, in ms. Default 15,000. */
  liveMs?: number;
}

const DEFAULTS = { beatMs: 5_000, liveMs: 15_000 } as const;

/** Whether this process answers from the handbook version its peers do. */
export interface AgreementState {
  agreed: boolean;
  mine: string;
  /** The version the live processes should answer from (see preferredVersion). */
  preferred: string | undefined;
  /** Live processes sharing the store, this one included. */
  replicas: number;
}

/**
 * Every process that shares a store must answer from the same handbook (each indexes the files it
 * sees, and a replica whose copy lags would answer differently). Each beats its version into the
 * shared store; one whose version is not the preferred one says so, and `/readyz` takes it out of
 * the load balancer until its next refresh catches up.
 */
export class HandbookAgreement {
  readonly #registry: ReplicaRegistry;
  readonly #processId: string;
  readonly #version: () => string;
  readonly #log: Logger;
  readonly #options: Required<HandbookAgreementOptions>;
  #mine: { version: string; since: number } | undefined;
  #state: AgreementState | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(registry: ReplicaRegistry, processId: string, version: () => string, log: Logger, options: HandbookAgreementOptions = {}) {
    this.#registry = registry;
    this.#processId = processId;
    this.#version = version;
    this.#log = log;
    this.#options = { ...DEFAULTS, ...options };
    for (const [name, value] of Object.entries(this.#options)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`Expected \`${name}\` to be an integer >= 1, got ${value}`);
    }
  }

  /** Agreed until the first check says otherwise. */
  get state(): AgreementState {
    return this.#state ?? { agreed: true, mine: this.#version(), preferred: undefined, replicas: 1 };
  }

  /** Beat now and every `beatMs`; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      if (this.#checking) return;
      this.#checking = true;
      this.check()
        .catch((error: unknown) => this.#log.warn({ err: toError(error) }, 'could not compare the handbook version with the other replicas'))
        .finally(() => {
          this.#checking = false;
        });
    };
    tick();
    this.#timer = setInterval(tick, this.#options.beatMs);
    this.#timer.unref();
  }

  /** Say which version this process answers from, read the others', and decide. */
  async check(now = Date.now()): Promise<AgreementState> {
    const version = this.#version();
    if (this.#mine?.version !== version) this.#mine = { version, since: now };
    await this.#registry.beat({ processId: this.#processId, handbookVersion: version, versionSince: this.#mine.since }, now);
    const live = await this.#registry.live(now - this.#options.liveMs);
    const preferred = preferredVersion(live);
    const state = { agreed: preferred === undefined || preferred === version, mine: version, preferred, replicas: live.length };
    if (this.#state?.agreed !== state.agreed) {
      if (state.agreed) this.#log.info({ version, replicas: state.replicas }, 'handbook version agrees with the other replicas');
      else this.#log.warn({ version, preferred, replicas: state.replicas }, 'handbook version differs from the other replicas: not ready until it is the same');
    }
    this.#state = state;
    return state;
  }

  /** Stop beating and leave the registry (so the others stop counting this process at once). */
  async stop(now = Date.now()): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#registry.leave(this.#processId, now - this.#options.liveMs);
  }
}
