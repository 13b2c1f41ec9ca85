import { hash, randomUUID } from 'node:crypto';

const NAMESPACE = Buffer.from('6f1c3a52b4e04c1f9d7e2a8b5c0d4e3f', 'hex');

/**
 * A deterministic UUIDv5 from its parts: the same command or step always yields the same
 * id, so a retried append or a re-sent command is recognised as the same one.
 */
export function deterministicId(...parts: (string | number)[]): string {
  // One-shot crypto.hash over namespace + name: no Hash stream object per id (several per command).
  const name = parts.join('\u001f');
  const input = Buffer.allocUnsafe(NAMESPACE.length + Buffer.byteLength(name));
  NAMESPACE.copy(input, 0);
  input.write(name, NAMESPACE.length);
  const digest = hash('sha1', input, 'buffer');
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export const newId = (): string => randomUUID();
