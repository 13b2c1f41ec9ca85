import type { LogPosition, RecordedEvent } from '@saga/event-schemas/envelope';
import { joinLease } from '../message-bus/lease';
import { turnEvery } from '../turns';
import { CheckpointMovedError, PublisherFencedError, type MessageBus, type OutgoingMessage } from '../message-bus/port';
import type { EventStore, EventSubscription, LogFilter } from './port';

/**
 * One loop that follows the store's global log from a checkpoint kept on the bus and publishes
 * what each event maps to, the checkpoint in the same bus transaction as the messages. The
 * relay (events to their topics) and the saga dispatcher (issued commands to command topics) are
 * this loop with different mappers.
 *
 * - Exactly once: a publish that failed may still have committed (Kafka cannot always tell), so
 *   the follower never sends a batch again; it re-reads the checkpoint and follows on from there.
 * - One active follower per checkpoint: the followers of one checkpoint (in any process) are
 *   members of one consumer group on the one-partition topic `leaseTopic` (message-bus/lease.ts); the member holding
 *   partition 0 follows, the others wait. A SIGKILLed holder's partition moves to another member
 *   once its session or lease expires (embedded bus: at the next heartbeat if it ran on this host,
 *   else 5 s; Kafka: `leaseSessionMs`).
 * - A holder that lost the lease and does not know it yet cannot publish twice: the embedded bus
 *   compares the checkpoint in the publish's transaction (`expected`), and on Kafka the new holder's
 *   InitProducerId of the checkpoint's transactional id fenced the old one.
 */
export interface FollowLogOptions {
  store: EventStore;
  bus: MessageBus;
  /** The checkpoint's name on the bus: the position of the last event published. It also names the lease. */
  checkpoint: string;
  /** Which events to read; every store can apply it server-side. */
  filter?: LogFilter;
  /** The messages one event publishes (none: it only moves the checkpoint). */
  toMessages: (event: RecordedEvent) => { topic: string; message: OutgoingMessage }[];
  log: (level: 'info' | 'warn' | 'error', msg: string, extra?: object) => void;
  /** Most events published in one transaction. Default 500. */
  maxBatchSize?: number;
  /** Several processes may run this follower: only the lease holder follows. Default true. */
  lease?: boolean;
  /** Kafka: how long a SIGKILLed holder keeps the lease. Default 6 s (the broker's minimum session). */
  leaseSessionMs?: number;
  /** Names the follower in log lines. Default: the checkpoint. */
  label?: string;
}

export interface LogFollower {
  /** Whether this instance holds the lease and follows the log now. */
  readonly active: boolean;
  stop(): Promise<void>;
}

/** The follower's lease (message-bus/lease.ts), one per checkpoint. */
export const leaseGroup = (checkpoint: string) => `lease.${checkpoint}`;

const IDLE = Symbol('idle');
const nextTurn = () => new Promise<typeof IDLE>((resolve) => setImmediate(() => resolve(IDLE)));
/** Longest the follower runs before it gives the event loop a turn (requests, timers, consumers). */
const SLICE_MS = 8;
const backoff = (failures: number) => Math.min(100 * 2 ** (failures - 1), 5_000);

/** One spell of following the log, while the lease is held. */
interface Spell {
  stopping: boolean;
  /** Ended because another instance fenced it, not because the lease moved. */
  fenced?: boolean;
  subscription?: EventSubscription;
  wake?: () => void;
  done: Promise<void>;
}

export async function followLog(options: FollowLogOptions): Promise<LogFollower> {
  const { store, bus, checkpoint, filter, toMessages, log } = options;
  const maxBatchSize = options.maxBatchSize ?? 500;
  const label = options.label ?? checkpoint;

  function pause(spell: Spell, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      spell.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (spell.wake = undefined));
  }

  async function publish(batch: RecordedEvent[], expected: LogPosition | null): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const event of batch) {
      for (const { topic, message } of toMessages(event)) {
        let messages = byTopic.get(topic);
        if (!messages) byTopic.set(topic, (messages = []));
        messages.push(message);
      }
    }
    const position = batch[batch.length - 1]!.position;
    await bus.publishMany(
      [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      { checkpoint: { name: checkpoint, value: position, expected } },
    );
  }

  function follow(spell: Spell): Promise<void> {
    let publishFailures = 0;

    /**
     * Publishes the batch, or says how to go on: after a failure, from the checkpoint again
     * (never the same batch again); a fence or a moved checkpoint means another instance took
     * over, so this one steps down rather than fight it.
     */
    async function publishOrResume(batch: RecordedEvent[], expected: LogPosition | null): Promise<'published' | 'resubscribe' | 'stop'> {
      try {
        await publish(batch, expected);
        publishFailures = 0;
        return 'published';
      } catch (error) {
        if (error instanceof CheckpointMovedError) {
          // Nothing was published: follow on from where the other instance got to.
          log('warn', `${label}: another instance published; following on from its checkpoint`, { checkpoint, error: String(error) });
          return 'resubscribe';
        }
        if (error instanceof PublisherFencedError) {
          log('warn', `${label}: another instance took over; stepping down`, { checkpoint, error: String(error) });
          spell.stopping = true;
          spell.fenced = true;
          return 'stop';
        }
        publishFailures++;
        const delayMs = backoff(publishFailures);
        log('error', `${label} publish failed; retrying`, { checkpoint, attempt: publishFailures, delayMs, error: String(error), from: batch[0]!.position });
        await pause(spell, delayMs);
        return spell.stopping ? 'stop' : 'resubscribe';
      }
    }

    /** Publishes from one subscription until it ends, the spell stops, or a publish fails. */
    async function pump(subscription: EventSubscription, after: LogPosition | null): Promise<void> {
      const events = subscription[Symbol.asyncIterator]();
      let pending: Promise<IteratorResult<RecordedEvent>> | undefined;
      let ended = false;
      const turnIfDue = turnEvery(SLICE_MS);
      while (!spell.stopping && !ended) {
        const first = await (pending ?? events.next());
        pending = undefined;
        if (first.done) return;
        const batch = [first.value];
        // Take what is already waiting, without waiting for more: latency stays one event's.
        while (batch.length < maxBatchSize) {
          const ahead = subscription.buffered;
          // Nothing read ahead: the next event is not here yet, so publish what we have now.
          if (ahead === 0) break;
          pending = events.next();
          // Read ahead: the next event is already in memory, no need to race a turn of the loop.
          const next = ahead === undefined ? await Promise.race([pending, nextTurn()]) : await pending;
          if (next === IDLE) break;
          pending = undefined;
          if (next.done) {
            ended = true;
            break;
          }
          batch.push(next.value);
        }
        if (spell.stopping) return; // stepped down while reading: the next holder publishes this
        if ((await publishOrResume(batch, after)) !== 'published') return;
        after = batch[batch.length - 1]!.position;
        // Catching up on a backlog, reads (a page of the store at a time) and (checkpointed, so
        // unsynced) publishes all settle at once: without a turn of the loop now and then the
        // whole backlog runs in one microtask chain, and no request, timer or consumer runs until
        // it ends. So the follower yields by time, not by batch size: it yielded after full
        // batches only, and the embedded store's pages (256) never fill one (500), so a
        // million-event log re-published after the bus was lost held the loop for 32 s.
        await turnIfDue();
      }
    }

    // A failed read resubscribes from the checkpoint, so the follower never stalls quietly.
    return (async () => {
      for (let failures = 0; !spell.stopping; ) {
        try {
          // Read as its owner: from the bus, not a cache, after settling a previous owner's transaction.
          // The checkpoint is a position the store handed out, kept verbatim; the store refuses any other.
          const after = ((await bus.readCheckpoint(checkpoint, { owner: true })) ?? null) as LogPosition | null;
          if (spell.stopping) break;
          log('info', `${label} following the log`, { checkpoint, after });
          const current = store.subscribeToAll({ ...(after === null ? {} : { after }), ...(filter ? { filter } : {}) });
          spell.subscription = current;
          await pump(current, after);
          failures = 0;
          await current.close().catch(() => undefined);
          spell.subscription = undefined;
          if (!spell.stopping && publishFailures === 0) {
            log('info', `${label} subscription ended; resubscribing`, { checkpoint });
            await pause(spell, 100);
          }
        } catch (error) {
          if (error instanceof PublisherFencedError) {
            log('warn', `${label}: another instance took over; stepping down`, { checkpoint, error: String(error) });
            spell.fenced = true;
            break;
          }
          failures++;
          const delayMs = backoff(failures);
          log('error', `${label} failed reading the log; resubscribing`, { checkpoint, delayMs, error: String(error) });
          await spell.subscription?.close().catch(() => undefined);
          spell.subscription = undefined;
          if (!spell.stopping) await pause(spell, delayMs);
        }
      }
      await spell.subscription?.close().catch(() => undefined); // stop came while it was subscribing
      spell.subscription = undefined;
    })();
  }

  let current: Spell | undefined;
  let stopped = false;
  /** What the last assignment said; without a lease, always. */
  let holding = options.lease === false;
  let retry: NodeJS.Timeout | undefined;
  /** Spells run one after another: a new one starts once the last has finished publishing. */
  let previous: Promise<void> = Promise.resolve();

  function begin(): void {
    if (current || stopped) return;
    const spell: Spell = { stopping: false, done: Promise.resolve() };
    current = spell;
    spell.done = previous.then(() => (spell.stopping ? undefined : follow(spell)));
    previous = spell.done.catch(() => undefined);
    void spell.done.then(() => {
      if (!spell.fenced || current !== spell) return;
      // Fenced while the lease still looks ours: the group has not settled yet. Try again later,
      // once, rather than fight the other instance now.
      current = undefined;
      retry = setTimeout(() => holding && begin(), 5_000);
    });
    log('info', `${label}: holds the lease; following`, { checkpoint });
  }

  async function end(reason: string): Promise<void> {
    clearTimeout(retry);
    const spell = current;
    if (!spell) return;
    current = undefined;
    spell.stopping = true;
    spell.wake?.();
    await spell.subscription?.close().catch(() => undefined);
    await spell.done;
    log('info', `${label}: stopped following (${reason})`, { checkpoint });
  }

  if (options.lease === false) {
    begin();
    return {
      get active() {
        return current !== undefined;
      },
      async stop() {
        stopped = true;
        await end('stop');
      },
    };
  }

  const lease = await joinLease(bus, {
    groupId: leaseGroup(checkpoint),
    sessionTimeoutMs: options.leaseSessionMs ?? 6_000,
    onChange: (held) => {
      holding = held;
      if (holding) begin();
      else void end('lease lost');
    },
  });

  return {
    get active() {
      return current !== undefined && !current.stopping;
    },
    async stop() {
      stopped = true;
      await end('stop');
      await lease.stop();
      await previous;
    },
  };
}
