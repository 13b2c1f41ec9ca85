import type { Consumer, MessageBus, TopicPartition } from './port';

/** The one-partition topic whose partition 0, in a group of its own per lease, is that lease. Nothing is published there. */
export const leaseTopic = 'saga.leases';

export interface LeaseOptions {
  /** The lease's name: one consumer group per lease. */
  groupId: string;
  /** How long a holder that stopped heartbeating (SIGKILL) keeps the lease. */
  sessionTimeoutMs: number;
  /** Told whether this member holds the lease, at every change of the group's assignment. */
  onChange(held: boolean): void;
}

/**
 * Joins the contest for a lease: the group gives its one partition to one member, and hands it
 * on when that member stops or its session ends. Stop the consumer to give the lease up.
 */
export async function joinLease(bus: MessageBus, options: LeaseOptions): Promise<Consumer> {
  await bus.createTopics([{ name: leaseTopic, partitions: 1 }]);
  const holds = (partitions: TopicPartition[]) => partitions.some((p) => p.topic === leaseTopic && p.partition === 0);
  return bus.consume({
    groupId: options.groupId,
    topics: [leaseTopic],
    startFrom: 'latest',
    sessionTimeoutMs: options.sessionTimeoutMs,
    handler: async () => {},
    onAssignment: (partitions) => options.onChange(holds(partitions)),
  });
}
