import { Partitioners, type Kafka, type Message, type Producer, type TopicMessages as KafkaTopicMessages } from 'kafkajs';
import { PublisherFencedError, type OutgoingMessage } from '../port';
import { TransientError } from '../transient';

/**
 * The two producers of the Kafka bus, each rebuilt when kafkajs cannot recover it itself.
 *
 * kafkajs never re-runs InitProducerId: after OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID
 * or INVALID_PRODUCER_EPOCH (an unclean broker restart, a producer id expired after a day idle)
 * the idempotent producer fails every send for good (K4), and one failed EndTxn leaves the
 * transactional one stuck in COMMITTING/ABORTING (kafkajs#1275, K1). Both are therefore dropped
 * on such an error and built afresh on the next send; the error is passed on as transient.
 */

/** Sends are cut to at most this many bytes, so no partition's record batch nears the broker's `message.max.bytes` (1 MB) (K11). */
export const MAX_SEND_BYTES = 512 * 1024;

/** How long an open transaction may live before the coordinator aborts it: a crashed publisher holds back read_committed consumers (the LSO) at most this long (K5). */
export const TRANSACTION_TIMEOUT_MS = 10_000;

/**
 * The transactional id of the publisher of a checkpoint: one per checkpoint name, shared by the
 * replicas that may take it over (only the lease holder opens it), stable across restarts.
 */
export const checkpointTransactionalId = (checkpoint: string) => `saga.publisher.${checkpoint}`;

/**
 * Longest a transaction (sends and EndTxn) or a producer's connect (InitProducerId) may take. kafkajs
 * retries inside each for a while, but a broker that restarts mid-transaction has been seen to
 * leave a publish that neither returns nor fails (issue 9): past this the producer is abandoned
 * (the next one's InitProducerId fences it and settles its transaction) and the publish fails as
 * an outage, so the caller re-reads its checkpoint and goes on.
 */
export const TRANSACTION_DEADLINE_MS = 45_000;
const CONNECT_DEADLINE_MS = 60_000;
/** How long a dropped producer's abort or disconnect is waited for; it is abandoned after that. */
const CLEANUP_DEADLINE_MS = 5_000;

/** A second fence this soon after the last one means another live instance holds the transactional id. */
const FENCED_AGAIN_MS = 60_000;

const producerStateErrors = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING', 'PRODUCER_FENCED']);
const fenceErrors = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTION_COORDINATOR_FENCED']);

function errorTypes(error: unknown): string[] {
  const types: string[] = [];
  for (let e = error, depth = 0; e instanceof Object && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string') types.push(type);
  }
  return types;
}

const producerConfig = { maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false } as const;

/** The idempotent producer of plain publishes and dead letters. */
export class PlainProducer {
  private current: Promise<Producer> | undefined;

  constructor(private readonly kafka: Kafka) {}

  async connect(): Promise<void> {
    await this.producer();
  }

  async send(topicMessages: KafkaTopicMessages[]): Promise<void> {
    const producer = await this.producer();
    try {
      for (const part of bySize(topicMessages)) await producer.sendBatch({ topicMessages: part, acks: -1 });
    } catch (error) {
      const lost = errorTypes(error).find((t) => producerStateErrors.has(t));
      if (!lost) throw error;
      await this.drop(producer);
      throw new TransientError(`kafka producer lost its producer state (${lost}); it is rebuilt for the next send`, { cause: error });
    }
  }

  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await (await current.catch(() => undefined))?.disconnect();
  }

  private producer(): Promise<Producer> {
    this.current ??= (async () => {
      const producer = this.kafka.producer({ ...producerConfig, idempotent: true });
      await producer.connect();
      return producer;
    })().catch((error: unknown) => {
      this.current = undefined;
      throw error;
    });
    return this.current;
  }

  private async drop(producer: Producer): Promise<void> {
    this.current = undefined;
    await producer.disconnect().catch(() => undefined); // its sockets go either way
  }
}

/**
 * The transactional producer of publishes with a checkpoint. One per transactional id: a
 * restarted process's InitProducerId fences its zombie and aborts the zombie's open transaction.
 * Any failure drops the producer (its transaction state is unknown); a fence is survived once
 * (the coordinator bumps the epoch when it aborts a transaction that timed out during an outage),
 * but a second fence within a minute means a newer instance owns the id: this one steps down,
 * and every later publish throws PublisherFencedError instead of fencing the other back.
 */
export class TransactionalPublisher {
  private current: Promise<Producer> | undefined;
  private lastFence = -Infinity;
  private steppedDown = false;
  /** A producer runs one transaction at a time: publishes queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kafka: Kafka,
    readonly transactionalId: string,
  ) {}

  /**
   * Takes the transactional id over (again): a fresh InitProducerId, which fences whoever held it
   * and settles their open transaction. Clears a step-down: the caller holds the lease now. The
   * time of the last fence stays: two instances that both think they hold the lease (the group
   * has not settled) then stop fencing each other at the second fence instead of at once.
   */
  claim(): Promise<void> {
    const run = this.queue.then(async () => {
      this.steppedDown = false;
      const current = this.current;
      this.current = undefined;
      if (current) await within(CLEANUP_DEADLINE_MS, current.then((p) => p.disconnect())).catch(() => undefined);
      await this.producer();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Sends all messages in one transaction; resolves once it committed. */
  run(topicMessages: KafkaTopicMessages[]): Promise<void> {
    const run = this.queue.then(() => this.transact(topicMessages));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.queue;
    const current = this.current;
    this.current = undefined;
    if (current) await (await current.catch(() => undefined))?.disconnect();
  }

  private async transact(topicMessages: KafkaTopicMessages[]): Promise<void> {
    if (this.steppedDown) throw new PublisherFencedError(this.transactionalId);
    const producer = await this.producer();
    let transaction: Awaited<ReturnType<Producer['transaction']>> | undefined;
    try {
      await within(
        TRANSACTION_DEADLINE_MS,
        (async () => {
          transaction = await producer.transaction();
          for (const part of bySize(topicMessages)) await transaction.sendBatch({ topicMessages: part, acks: -1 });
          await transaction.commit();
        })(),
      );
    } catch (error) {
      // Whether it committed is unknown (EndTxn may have reached the coordinator): the caller
      // must re-read its checkpoint. The producer is not reused: kafkajs may be stuck mid-commit.
      // Neither the abort nor the disconnect may hold the next publish up (both retry inside kafkajs).
      this.current = undefined;
      const aborted = transaction ? within(CLEANUP_DEADLINE_MS, transaction.abort()).catch(() => undefined) : Promise.resolve();
      await within(CLEANUP_DEADLINE_MS, aborted.then(() => producer.disconnect())).catch(() => undefined);
      if (errorTypes(error).some((t) => fenceErrors.has(t))) {
        const now = Date.now();
        if (now - this.lastFence < FENCED_AGAIN_MS) {
          this.steppedDown = true;
          throw new PublisherFencedError(this.transactionalId, { cause: error });
        }
        this.lastFence = now;
      }
      throw new TransientError(`kafka transaction failed (${describe(error)}); the producer is rebuilt for the next one`, { cause: error });
    }
  }

  private producer(): Promise<Producer> {
    this.current ??= (async () => {
      const producer = this.kafka.producer({
        ...producerConfig,
        idempotent: true,
        transactionalId: this.transactionalId,
        transactionTimeout: TRANSACTION_TIMEOUT_MS,
      });
      try {
        await within(
          CONNECT_DEADLINE_MS,
          (async () => {
            await producer.connect();
            // kafkajs's connect() asks for a producer id without the transactional id (as an idempotent
            // producer), which fences nobody; the transactional InitProducerId waits for the first
            // transaction(). Opened and abandoned here (no partition added, so no EndTxn is sent), it
            // fences the id's previous holder now and returns once the coordinator has settled that
            // holder's open transaction, before the caller reads its checkpoint (K5).
            await (await producer.transaction()).abort();
          })(),
        );
      } catch (error) {
        void within(CLEANUP_DEADLINE_MS, producer.disconnect()).catch(() => undefined);
        throw error;
      }
      return producer;
    })().catch((error: unknown) => {
      this.current = undefined;
      if (errorTypes(error).some((t) => fenceErrors.has(t))) this.lastFence = Date.now();
      throw error;
    });
    return this.current;
  }
}

/** The promise's outcome, or a TransientError once `ms` passed without one (the promise runs on, ignored). */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TransientError(`kafka producer made no progress in ${ms} ms; it is abandoned`)), ms);
  });
  promise.catch(() => undefined); // a late failure of an abandoned step is nobody's concern
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function toKafka(message: OutgoingMessage): Message {
  return { key: message.key, value: message.value, ...(message.headers ? { headers: message.headers } : {}) };
}

function sizeOf(m: Message): number {
  let bytes = 64 + String(m.key ?? '').length + Buffer.byteLength(String(m.value ?? ''));
  for (const [k, v] of Object.entries(m.headers ?? {})) bytes += k.length + String(v ?? '').length;
  return bytes;
}

/** Cuts the messages into sends of at most MAX_SEND_BYTES (a message larger than that goes alone). */
function bySize(topicMessages: KafkaTopicMessages[]): KafkaTopicMessages[][] {
  const parts: KafkaTopicMessages[][] = [];
  let part: KafkaTopicMessages[] = [];
  let bytes = 0;
  for (const { topic, messages } of topicMessages) {
    let run: Message[] = [];
    for (const m of messages) {
      const size = sizeOf(m);
      if (bytes + size > MAX_SEND_BYTES && bytes > 0) {
        if (run.length > 0) part.push({ topic, messages: run });
        parts.push(part);
        part = [];
        run = [];
        bytes = 0;
      }
      run.push(m);
      bytes += size;
    }
    if (run.length > 0) part.push({ topic, messages: run });
  }
  if (part.length > 0) parts.push(part);
  return parts;
}
