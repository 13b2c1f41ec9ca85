import type { WriteOp } from '@saga/platform/document-store/port';
import type { Handover, RebuildOptions, RebuildProgress } from './rebuild';
import type { StoreLocation } from './stores';

/** What a rebuild worker is started with (structured-cloned into the thread). */
export interface WorkerTask {
  role: 'rebuild' | 'writer';
  at: StoreLocation;
  projection: string;
  options: Omit<RebuildOptions, 'onProgress' | 'writer'>;
  /** The parent holds a live projector to pause across the swap. */
  live: boolean;
  /** Writes go to a second thread while this one reads and folds. */
  pipelined: boolean;
}

export type FromWorker =
  | { type: 'progress'; progress: RebuildProgress }
  | { type: 'done'; progress: RebuildProgress }
  | { type: 'failed'; error: string }
  | { type: 'live-stop' | 'live-start'; id: number };

export type ToWorker =
  | { type: 'handover'; id: number; handover: Handover; error?: undefined }
  | { type: 'answer'; id: number; error?: string };

export type WriterRequest = { type: 'write'; id: number; ops: WriteOp[]; checkpoints: Record<string, string> } | { type: 'close' };
export type WriterReply = { id: number; error?: string };
