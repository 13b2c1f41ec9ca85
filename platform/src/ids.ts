import { createHash, randomUUID } from 'node:crypto';

const NAMESPACE = Buffer.from('6f1c3a52b4e04c1f9d7e2a8b5c0d4e3f', 'hex');

/**
 * A deterministic UUIDv5 from its parts: the same command or step always yields the same
 * id, so a retried append or a re-sent command is recognised as the same one.
 */
export function deterministicId(...parts: (string | number)[]): string {
  const hash = createHash('sha1').update(NAMESPACE).update(parts.join('\u001f')).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export const newId = (): string => randomUUID();
