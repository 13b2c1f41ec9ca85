import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandData, CommandEnvelope, CommandType } from '@saga/event-schemas/commands';
import { deterministicId } from '@saga/platform/ids';

/** Test support: a saga command as it arrives on a command topic. */
export function envelopeOf<T extends CommandType>(type: T, data: CommandData<T>, commandId?: string): CommandEnvelope<T> {
  const orderId = (data as { orderId: string }).orderId;
  return {
    commandId: commandId ?? deterministicId('saga', orderId, type),
    type,
    data,
    metadata: { correlationId: orderId, causationId: deterministicId('event', orderId, type), issuedAt: '2026-11-22T10:00:00.000Z' },
  };
}

export const tempDataDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));

export const fixedClock = (iso = '2026-11-22T10:00:00.000Z') => () => new Date(iso);
