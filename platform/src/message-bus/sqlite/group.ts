import fs from 'node:fs';
import os from 'node:os';
import { newId } from '../../ids';
import type { ConsumerOptions, RetryPolicy } from '../port';
import { workerKey } from './log';
import { dropGroup } from './schema';
import { PartitionWorker, type BusParts, type WorkerOwner } from './worker';

/**
 * This process's host as members record it: the host name and, on Linux, the PID namespace, so
 * that two containers sharing a volume (and perhaps a host name) never judge each other's PIDs.
 * null where the namespace cannot be read on Linux: no member is then judged by its PID.
 */
const processHost: string | null = (() => {
  if (process.platform !== 'linux') return os.hostname();
  try {
    return `${os.hostname()} ${fs.readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return null;
  }
})();

/** Whether a process of this host (and PID namespace) exists: signal 0 checks without sending anything. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, owned by another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * A consumer group member. The members (in this or another process) divide each topic's
 * partitions among themselves; a member works a partition only while it holds that
 * partition's lease, renewed by its heartbeat, and an offset commit is refused to a member
 * that lost it. A member whose process has died on this host loses its leases at the next
 * heartbeat of any other member; one on another host (a shared network volume) when they expire.
 */
export class SqliteConsumer implements WorkerOwner {
  readonly memberId = newId();
  readonly maxBatchSize: number;
  private readonly workers = new Map<string, PartitionWorker>();
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping = false;
  private told: Set<string> | undefined;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly bus: BusParts,
    readonly options: ConsumerOptions,
    readonly policy: RetryPolicy,
  ) {
    this.maxBatchSize = options.maxBatchSize ?? 256;
  }

  start(): void {
    this.bus.db
      .transaction(() => {
        if (this.options.ephemeral) {
          const now = Date.now();
          this.dropAbandonedEphemeralGroups(now);
          this.bus.sql.markEphemeral.run(this.options.groupId, now);
        }
        this.initOffsets();
      })
      .immediate();
    this.rebalance();
    this.heartbeat = setInterval(() => {
      try {
        this.rebalance();
      } catch (error) {
        // A busy database skips one heartbeat; leases outlive several.
        this.bus.report('message bus heartbeat failed', { groupId: this.options.groupId, error: String(error) });
      }
    }, this.bus.membership.heartbeatMs);
  }

  /** A new group's offsets, where its topics end now ('latest') or at their start; a group's existing offsets are kept. */
  private initOffsets(): void {
    const { sql, log } = this.bus;
    for (const topic of this.options.topics) {
      const partitions = log.ensureTopic(topic, log.defaultPartitions);
      const ends = sql.nextOffsets.all(topic);
      for (let p = 0; p < partitions; p++) {
        const start = this.options.startFrom === 'latest' ? ends[p]!.next_offset : 0;
        sql.initOffset.run(this.options.groupId, topic, p, start);
      }
    }
  }

  /**
   * Ephemeral groups whose every member is gone without stopping (a SIGKILLed process's): their
   * offsets, leases and membership. Only groups older than a lease, so one that another process is
   * starting right now (marked, its member not yet written) is left alone.
   */
  private dropAbandonedEphemeralGroups(now: number): void {
    const { sql } = this.bus;
    for (const groupId of sql.abandonedEphemeral.all(now - this.bus.membership.leaseTtlMs, now)) dropGroup(sql, groupId);
  }

  /** Heartbeat: renew membership and leases, then take or give up partitions to match the assignment. */
  private rebalance(): void {
    if (this.stopping) return;
    const { sql, db, log } = this.bus;
    const { groupId, topics } = this.options;
    const now = Date.now();
    const expires = now + this.bus.membership.leaseTtlMs;
    const decided = db
      .transaction(() => {
        // A member that stalled past its lease may have found its ephemeral group dropped as abandoned (its mark
        // gone, so marking it again writes a row): it starts the group again.
        if (this.options.ephemeral && sql.markEphemeral.run(groupId, now).changes > 0) this.initOffsets();
        sql.upsertMember.run(groupId, this.memberId, JSON.stringify(topics), expires, processHost, processHost === null ? null : process.pid);
        // A member of this host whose process is gone (SIGKILLed, crashed) gives up its partitions
        // now, not when its lease runs out: the survivors take them at this heartbeat.
        if (processHost !== null) {
          for (const m of sql.membersOnHost.all(groupId, processHost, process.pid, now)) {
            if (processExists(m.pid)) continue;
            sql.expireMember.run(groupId, m.member_id);
            sql.expireLeasesOf.run(groupId, m.member_id);
          }
        }
        sql.dropExpiredMembers.run(groupId, now);
        sql.renewLeases.run(expires, groupId, this.memberId);
        const owned = new Set(sql.ownedLeases.all(groupId, this.memberId).map((l) => workerKey(l.topic, l.partition)));
        const members = sql.members.all(groupId, now).map((m) => ({ id: m.member_id, topics: JSON.parse(m.topics) as string[] }));
        const assigned: { topic: string; partition: number }[] = [];
        for (const topic of topics) {
          const subscribers = members.filter((m) => m.topics.includes(topic)).map((m) => m.id);
          const me = subscribers.indexOf(this.memberId);
          const partitions = log.ensureTopic(topic, log.defaultPartitions);
          for (let p = 0; p < partitions; p++) {
            if (p % subscribers.length !== me) continue;
            const key = workerKey(topic, p);
            if (owned.has(key) || sql.acquireLease.run(groupId, topic, p, this.memberId, expires, now).changes === 1) {
              owned.add(key);
              assigned.push({ topic, partition: p });
            }
          }
        }
        return { owned, assigned };
      })
      .immediate();
    const assignedKeys = new Set(decided.assigned.map((a) => workerKey(a.topic, a.partition)));
    this.tellAssignment(assignedKeys, decided.assigned);
    for (const [key, worker] of this.workers) {
      // Lost the lease (we stalled past its expiry): stop without committing, the new owner redelivers.
      if (!decided.owned.has(key)) worker.abandon();
      // Another member joined and the partition is now theirs: finish, commit, hand over.
      else if (!assignedKeys.has(key)) worker.revoke();
    }
    for (const { topic, partition } of decided.assigned) {
      const key = workerKey(topic, partition);
      if (this.workers.has(key)) continue;
      const worker = new PartitionWorker(this.bus, this, topic, partition);
      this.workers.set(key, worker);
      void worker.run().finally(() => {
        if (this.workers.get(key) === worker) this.workers.delete(key);
      });
    }
  }

  /** Reports the partitions held, when they changed, to `onAssignment`. */
  private tellAssignment(keys: Set<string>, partitions: { topic: string; partition: number }[]): void {
    const told = this.told;
    if (told && told.size === keys.size && [...keys].every((k) => told.has(k))) return;
    this.told = keys;
    this.options.onAssignment?.(partitions);
  }

  async announce(change: 'assigned' | 'revoked', topic: string, partition: number): Promise<void> {
    const callback = change === 'assigned' ? this.options.onAssigned : this.options.onRevoked;
    if (!callback) return;
    try {
      await callback([{ topic, partition }]);
    } catch (error) {
      this.bus.report(`message bus ${change} callback failed`, { groupId: this.options.groupId, topic, partition, error: String(error) });
    }
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.tellAssignment(new Set(), []);
      const workers = [...this.workers.values()];
      for (const w of workers) w.revoke();
      await Promise.all(workers.map((w) => w.finished));
      const { sql, db } = this.bus;
      const { groupId, ephemeral } = this.options;
      db.transaction(() => {
        sql.deleteMember.run(groupId, this.memberId);
        // The group's last member gone: nothing of an ephemeral group is kept.
        if (ephemeral && sql.liveMembers.get(groupId, Date.now()) === 0) dropGroup(sql, groupId);
      }).immediate();
    })();
    return this.stopped;
  }
}
