import { useState, type FormEvent } from 'react';
import { useSession } from '../session';
import { useAction } from '../hooks';
import { Field, ProblemBox } from '../components/ui';
import { navigate } from '../router';

const demoUsers = [
  { email: 'alice@example.com', password: 'alice-password', role: 'customer' },
  { email: 'admin@example.com', password: 'admin-password', role: 'admin' },
];

export function LoginPage() {
  const { api, signIn } = useSession();
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const action = useAction((m: 'login' | 'register') =>
    m === 'login' ? api.login(email.trim(), password) : api.register(email.trim(), password, name.trim()),
  );

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const session = await action.start(mode);
    if (session) {
      signIn(session);
      navigate('/shop');
    }
  };

  const err = action.error;
  return (
    <div className="auth-page">
      <section className="card auth-card" aria-labelledby="auth-title">
        <h1 id="auth-title">{mode === 'login' ? 'Sign in' : 'Create an account'}</h1>
        <div className="tabs" role="tablist" aria-label="Sign in or register">
          {(['login', 'register'] as const).map((m) => (
            <button
              key={m}
              type="button"
              role="tab"
              aria-selected={mode === m}
              className={mode === m ? 'tab active' : 'tab'}
              onClick={() => {
                setMode(m);
                action.clearError();
              }}
              data-testid={`auth-tab-${m}`}
            >
              {m === 'login' ? 'Sign in' : 'Register'}
            </button>
          ))}
        </div>
        <form onSubmit={submit} noValidate data-testid="auth-form">
          {mode === 'register' ? (
            <Field label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" required error={err?.issueFor('name')} />
          ) : null}
          <Field
            label="Email"
            name="email"
            type="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoComplete="username"
            required
            error={err?.issueFor('email')}
            data-testid="login-email"
          />
          <Field
            label="Password"
            name="password"
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
            required
            error={err?.issueFor('password')}
            data-testid="login-password"
          />
          <ProblemBox error={err} fields={['email', 'password', 'name']} />
          <button type="submit" className="button primary wide" disabled={action.pending} data-testid="login-submit">
            {action.pending ? <span className="spinner-ring small" aria-hidden="true" /> : null}
            {mode === 'login' ? (action.pending ? 'Signing in…' : 'Sign in') : action.pending ? 'Creating…' : 'Create account'}
          </button>
        </form>
        <div className="demo-users">
          <div className="muted">Demo users (click to fill in):</div>
          <ul>
            {demoUsers.map((u) => (
              <li key={u.email}>
                <button
                  type="button"
                  className="linklike"
                  onClick={() => {
                    setMode('login');
                    setEmail(u.email);
                    setPassword(u.password);
                  }}
                  data-testid={`demo-${u.role}`}
                >
                  <code>{u.email}</code> / <code>{u.password}</code>
                </button>{' '}
                <span className="muted">({u.role})</span>
              </li>
            ))}
          </ul>
        </div>
      </section>
    </div>
  );
}
