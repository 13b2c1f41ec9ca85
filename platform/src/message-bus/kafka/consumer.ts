import type { Consumer as KafkaConsumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { deliverWithRetry, Interrupt, type DeliveryTarget } from '../delivery';
import type { BusMessage, ConsumerOptions, OutgoingMessage, RetryPolicy, TopicPartition } from '../port';

/**
 * kafkajs's default session is 30 s, and kafkajs has no static membership (no group.instance.id):
 * a SIGKILLed member holds its partitions, and the rebalance its restarted successor starts waits
 * for it, until its session expires. Measured on the scale spec (12 processes, 2 cores, load 14):
 * a restarted orchestrator took 37 s and a projector 56 s to boot with 30 s. 10 s keeps a member
 * that is slow under load (a handler heartbeats between messages, K9) clear of false expiry,
 * and is inside the broker's group.min/max.session.timeout.ms (6 s to 30 min).
 */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

/**
 * A member learns of a rebalance only from a heartbeat's answer (or a fetch error), and the
 * rebalance waits for every member to rejoin: kafkajs's 3 s default made each join (a replica
 * booting, four groups per orchestrator) wait up to 3 s per member. 1 s, and always well inside
 * the session, so a live member is never taken for a dead one.
 */
export const heartbeatIntervalFor = (sessionMs: number): number => Math.max(200, Math.min(1_000, Math.floor(sessionMs / 5)));

/** What a consumer needs from its bus. */
export interface ConsumerBus {
  kafka: Kafka;
  deadLetter(topic: string, message: OutgoingMessage): Promise<void>;
  report(msg: string, extra?: object): void;
  forgetGroup(groupId: string): Promise<void>;
}

/**
 * A consumer group member on kafkajs. Offsets are committed by hand after each chunk is handled
 * (`offset + 1`), and once a whole fetched batch is done, past its trailing transaction markers
 * too (K6: otherwise lag never reaches 0 on a transactional topic). `autoCommit` is on only so
 * that kafkajs also commits the batches it resolves itself (control records only); it commits
 * resolved offsets, never unhandled ones.
 */
export class KafkaBusConsumer {
  private readonly consumer: KafkaConsumer;
  private readonly interrupt = new Interrupt();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped: Promise<void> | undefined;
  /** The partitions last reported to `onAssigned`, as `topic/partition`. */
  private assigned = new Map<string, TopicPartition>();

  constructor(
    private readonly bus: ConsumerBus,
    private readonly options: ConsumerOptions,
    private readonly policy: RetryPolicy,
  ) {
    const session = options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    this.consumer = bus.kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 100,
      sessionTimeout: session,
      heartbeatInterval: heartbeatIntervalFor(session),
    });
  }

  async start(): Promise<void> {
    const told = this.options.onAssignment;
    if (told) {
      const { GROUP_JOIN, REBALANCING, STOP, CRASH } = this.consumer.events;
      this.consumer.on(GROUP_JOIN, ({ payload }) =>
        told(Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))),
      );
      // Rebalancing, stopped or crashed: it holds nothing until the next join says otherwise.
      for (const event of [REBALANCING, STOP, CRASH]) this.consumer.on(event, () => told([]));
    }
    this.followAssignment();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.startFrom !== 'latest' });
    await this.consumer.run({
      autoCommit: true,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 8,
      eachBatch: async (payload) => {
        const work = this.eachBatch(payload);
        this.inFlight.add(work);
        try {
          await work;
        } finally {
          this.inFlight.delete(work);
        }
      },
    });
  }

  /**
   * kafkajs rebalances eagerly: a member that learns of a rebalance stops fetching, emits
   * REBALANCING and rejoins, and the group's new assignment is handed out (GROUP_JOIN) only once
   * every member has rejoined. So everything held is reported revoked at REBALANCING, before
   * anyone can be given it, and the new assignment at GROUP_JOIN (a rejoin without REBALANCING,
   * e.g. after UNKNOWN_MEMBER_ID, is diffed against what was held).
   */
  private followAssignment(): void {
    const { events } = this.consumer;
    const report = (change: 'assigned' | 'revoked', partitions: TopicPartition[]) => {
      const callback = change === 'assigned' ? this.options.onAssigned : this.options.onRevoked;
      if (!callback || partitions.length === 0) return;
      Promise.resolve()
        .then(() => callback(partitions))
        .catch((error: unknown) => this.bus.report(`kafka bus ${change} callback failed`, { groupId: this.options.groupId, error: String(error) }));
    };
    const revokeAll = () => {
      const held = [...this.assigned.values()];
      this.assigned.clear();
      report('revoked', held);
    };
    this.consumer.on(events.REBALANCING, revokeAll);
    this.consumer.on(events.STOP, revokeAll);
    this.consumer.on(events.CRASH, revokeAll);
    this.consumer.on(events.GROUP_JOIN, ({ payload }) => {
      const next = new Map<string, TopicPartition>();
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const partition of partitions) next.set(`${topic}/${partition}`, { topic, partition });
      }
      const lost = [...this.assigned].filter(([key]) => !next.has(key)).map(([, tp]) => tp);
      const gained = [...next].filter(([key]) => !this.assigned.has(key)).map(([, tp]) => tp);
      this.assigned = next;
      report('revoked', lost);
      report('assigned', gained);
    });
  }

  /**
   * kafkajs heartbeats only when asked to, and a handler is asked only between its calls: one
   * call slower than the session (a projector's chunk of 500 on a slow read-model server) had the
   * member taken for dead, its commit refused and the chunk handed out again, slow again, for
   * good (K9). So a batch heartbeats on a timer while it is handled, at the interval kafkajs
   * itself keeps (it sends one only when that is due). A heartbeat answered with a rebalance
   * makes the batch leave between chunks, so the member rejoins in time.
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const session = this.options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS;
    let rebalancing = false;
    const beat = setInterval(() => {
      payload.heartbeat().catch(() => {
        rebalancing = true;
      });
    }, heartbeatIntervalFor(session));
    try {
      await this.handleBatch(payload, () => rebalancing);
    } finally {
      clearInterval(beat);
    }
  }

  private async handleBatch(payload: EachBatchPayload, rebalancing: () => boolean): Promise<void> {
    const { batch, isRunning, isStale, resolveOffset, heartbeat } = payload;
    const leaving = () => this.interrupt.fired || !isRunning() || isStale() || rebalancing();
    if (leaving()) return;
    const { topic, partition } = batch;
    const target: DeliveryTarget = {
      policy: this.policy,
      leave: this.interrupt,
      leaving,
      heartbeat, // kafkajs sends one only when its interval is due: cheap per message (K9)
      deadLetter: async (_message, dead) => {
        await this.bus.deadLetter(topic, dead);
        return true; // committed past with the chunk
      },
      onOutage: (error, retry) => {
        if (retry === 1 || retry % 10 === 0) this.bus.report('kafka bus handler hit an outage; retrying', { topic, partition, retry, error: String(error) });
      },
    };
    const messages = batch.messages.map((m) => toBusMessage(topic, partition, m));
    const size = this.options.maxBatchSize ?? 256;
    for (let i = 0; i < messages.length; i += size) {
      if (leaving()) return;
      const chunk = messages.slice(i, i + size);
      const next = await deliverWithRetry(chunk, this.options, target);
      if (next === undefined) return;
      await this.commit(topic, partition, next, resolveOffset);
      if (next !== chunk[chunk.length - 1]!.offset + 1) return; // interrupted mid-chunk
    }
    // All handled: move past what the batch holds after its last message (transaction markers).
    const end = Number(batch.lastOffset()) + 1;
    if (messages.length > 0 && end > messages[messages.length - 1]!.offset + 1) await this.commit(topic, partition, end, resolveOffset);
  }

  private async commit(topic: string, partition: number, next: number, resolveOffset: (offset: string) => void): Promise<void> {
    resolveOffset(String(next - 1));
    await this.consumer.commitOffsets([{ topic, partition, offset: String(next) }]);
  }

  /**
   * Lets the chunk in flight finish and commits it while the runner still runs: kafkajs ignores
   * commitOffsets once consumer.stop() has begun (K13), so that comes only after.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.interrupt.fire();
      try {
        this.consumer.pause(this.options.topics.map((topic) => ({ topic })));
      } catch {
        // Not running (never joined): nothing is in flight either.
      }
      await Promise.allSettled([...this.inFlight]);
      await this.consumer.stop();
      await this.consumer.disconnect();
      if (this.options.ephemeral) await this.bus.forgetGroup(this.options.groupId);
    })();
    return this.stopped;
  }
}

function toBusMessage(topic: string, partition: number, m: KafkaMessage): BusMessage {
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key?.toString() ?? '',
    value: m.value?.toString() ?? '',
    headers: headersOf(m.headers),
    timestamp: Number(m.timestamp),
  };
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = (Array.isArray(value) ? value[value.length - 1] : value)?.toString() ?? '';
  }
  return out;
}
