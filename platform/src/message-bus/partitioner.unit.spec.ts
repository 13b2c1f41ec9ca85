import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionForKey } from './partitioner';

describe('partitionForKey', () => {
  it('puts every key on the partition kafkajs DefaultPartitioner picks, so both buses agree', () => {
    const kafkaPartitioner = Partitioners.DefaultPartitioner();
    const keys = [
      '',
      'a',
      'inventory-warehouse',
      'héllo wörld',
      ...Array.from({ length: 200 }, (_, i) => `order-${i.toString(36).padStart(i % 7, 'x')}`),
    ];
    for (const partitions of [1, 3, 4, 12]) {
      const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, p) => ({
        partitionId: p,
        leader: 0,
        replicas: [0],
        isr: [0],
        partitionErrorCode: 0,
      }));
      for (const key of keys) {
        expect(partitionForKey(key, partitions)).toBe(kafkaPartitioner({ topic: 't', partitionMetadata, message: { key, value: '' } }));
      }
    }
  });
});
