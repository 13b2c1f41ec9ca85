import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { createApi, type Api, type Session } from './api';

const storageKey = 'saga.session';

function readStored(): Session | null {
  try {
    const raw = localStorage.getItem(storageKey);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return typeof s?.token === 'string' && s.user ? s : null;
  } catch {
    return null;
  }
}

interface SessionContext {
  session: Session | null;
  api: Api;
  signIn: (session: Session) => void;
  signOut: () => void;
}

const Context = createContext<SessionContext | null>(null);

/** Holds the signed-in user and the API client that sends their token; the token lives in localStorage. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(readStored);
  const tokenRef = useRef<string | null>(session?.token ?? null);

  const signIn = useCallback((s: Session) => {
    localStorage.setItem(storageKey, JSON.stringify(s));
    tokenRef.current = s.token;
    setSession(s);
  }, []);

  const signOut = useCallback(() => {
    localStorage.removeItem(storageKey);
    tokenRef.current = null;
    setSession(null);
  }, []);

  const api = useMemo(() => createApi({ token: () => tokenRef.current, onUnauthorized: signOut }), [signOut]);
  const value = useMemo(() => ({ session, api, signIn, signOut }), [session, api, signIn, signOut]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionContext {
  const ctx = useContext(Context);
  if (!ctx) throw new Error('useSession outside SessionProvider');
  return ctx;
}

/** For pages that only render when signed in. */
export function useUser() {
  const { session } = useSession();
  if (!session) throw new Error('useUser without a session');
  return session.user;
}
