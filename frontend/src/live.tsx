import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { liveUrl } from './api';

/**
 * One EventSource for the whole app (`GET /api/live?ticket=`), shared by every page.
 * The server names each message by what changed (read-api/src/live.ts): `order` and `saga`
 * (the read model after an event of one's own order), `stock` (skus whose stock moved),
 * `log` (admin: each event of the global log), `projection` (admin: positions, rebuild
 * progress), `ready` and `reset` (a resume too far back: re-read what is shown). Pages pick
 * the kinds they care about. A ticket opens one stream only, so on any error this reopens
 * with a fresh ticket and `lastEventId`, and the server resumes after the last event seen.
 * The server ends the stream with `expired` when the token does; then it stays closed.
 */
export const liveKinds = ['ready', 'order', 'saga', 'stock', 'log', 'projection', 'reset', 'message'] as const;
export type LiveKind = (typeof liveKinds)[number];

export interface LiveMessage {
  kind: string;
  id: string;
  data: unknown;
  receivedAt: number;
}

export type LiveState = 'connecting' | 'open' | 'closed' | 'off';
type Listener = (msg: LiveMessage) => void;

interface LiveContext {
  state: LiveState;
  subscribe: (listener: Listener) => () => void;
}

const Context = createContext<LiveContext>({ state: 'off', subscribe: () => () => {} });

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

export function LiveProvider({ token, children }: { token: string | null; children: ReactNode }) {
  const [state, setState] = useState<LiveState>('off');
  const listeners = useRef(new Set<Listener>());

  useEffect(() => {
    if (!token) {
      setState('off');
      return;
    }
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;
    let lastId: string | undefined;
    // Consecutive failures back off (1 s, 2 s, ... 30 s), e.g. while the server answers 429 to one tab too many.
    let failures = 0;

    const dispatch = (kind: string) => (e: MessageEvent<string>) => {
      if (e.lastEventId) lastId = e.lastEventId;
      const data = parse(e.data);
      // An unnamed message may still say what it is about in its body.
      const named = kind === 'message' && data && typeof data === 'object' && 'kind' in data ? String((data as { kind: unknown }).kind) : kind;
      const msg: LiveMessage = { kind: named, id: e.lastEventId, data, receivedAt: Date.now() };
      for (const l of listeners.current) l(msg);
    };

    const reopenLater = () => {
      source?.close();
      source = null;
      failures++;
      if (!stopped) retry = setTimeout(() => void open(), Math.min(30_000, 1000 * 2 ** (failures - 1)));
    };

    const open = async () => {
      setState('connecting');
      let url: string;
      try {
        url = await liveUrl(token, lastId);
      } catch {
        setState('closed');
        reopenLater();
        return;
      }
      if (stopped) return;
      source = new EventSource(url);
      source.onopen = () => {
        failures = 0;
        setState('open');
      };
      source.onerror = () => {
        // The browser would retry with the same (used) ticket: reopen with a new one instead.
        setState('connecting');
        reopenLater();
      };
      source.addEventListener('expired', () => {
        stopped = true;
        source?.close();
        setState('closed');
      });
      for (const kind of liveKinds) source.addEventListener(kind, dispatch(kind) as EventListener);
    };
    void open();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      source?.close();
    };
  }, [token]);

  const subscribe = useCallback((l: Listener) => {
    listeners.current.add(l);
    return () => {
      listeners.current.delete(l);
    };
  }, []);
  const value = useMemo(() => ({ state, subscribe }), [state, subscribe]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

/** Calls `onMessage` for every live message whose kind is in `kinds` (all kinds when empty). */
export function useLive(kinds: readonly string[], onMessage: Listener): void {
  const { subscribe } = useContext(Context);
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const key = kinds.join(',');
  useEffect(() => {
    const wanted = new Set(key ? key.split(',') : []);
    return subscribe((msg) => {
      if (wanted.size === 0 || wanted.has(msg.kind)) handler.current(msg);
    });
  }, [subscribe, key]);
}

export function useLiveState(): LiveState {
  return useContext(Context).state;
}
