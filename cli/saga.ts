/**
 * `npm run saga -- <command>`: the operator's CLI, over the same HTTP API the UI uses (see
 * /api/openapi.json). Human-readable output by default, `--json` for scripts. Exit codes:
 * 0 done, 1 the server refused or failed, 2 bad usage, 3 cannot reach the server.
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';

const USAGE = `usage: npm run saga -- <command> [options]

commands:
  sagas [--status S] [--limit N] [--cursor C]   list saga instances, newest first
  saga <orderId>                                one saga: state, path, step timings
  log [--from P] [--limit N] [--follow]         the global event log (--follow tails it; P: a position it printed)
  rebuild <projection>                          rebuild a projection from scratch, with progress
  projections                                   every projection: position, lag, documents
  republish --group G --from P [--to P]         re-publish a range of the log to one consumer group
  dead-letters [--limit N] [--cursor C]         list dead letters
  retry <deadLetterId>                          retry a dead letter

options:
  --url URL            server (default $SAGA_URL or http://localhost:3000)
  --email E --password P   sign in (default: the token in $SAGA_TOKEN)
  --json               print the server's JSON, for scripts
  -h, --help`;

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}
const usage = (message: string) => new CliError(`${message}\n\n${USAGE}`, 2);

interface Api {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

function api(baseUrl: string, token: string | undefined): Api {
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(new URL(path, baseUrl), {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
        throw new CliError(`cannot reach ${baseUrl}: ${cause}`, 3);
      }
      const text = await res.text();
      const json = text ? (JSON.parse(text) as unknown) : undefined;
      if (!res.ok) {
        const problem = json as { title?: string; detail?: string; issues?: { path: unknown[]; message: string }[] } | undefined;
        const issues = (problem?.issues ?? []).map((i) => `\n  - ${i.path.join('.')}: ${i.message}`).join('');
        throw new CliError(`${method} ${path}: ${res.status} ${problem?.title ?? res.statusText}: ${problem?.detail ?? text}${issues}`, 1);
      }
      return json as T;
    },
  };
}

const integer = (value: string | undefined, name: string): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw usage(`--${name} must be an integer`);
  return Number(value);
};
const query = (params: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SagaView {
  orderId: string;
  state: string;
  status: string;
  flags: string[];
  startedAt: string;
  durationMs: number | null;
  steps: { state: string; durationMs: number | null }[];
}
interface LogEvent {
  position: string;
  streamId: string;
  revision: number;
  type: string;
  metadata: { occurredAt: string };
}
interface Progress {
  projection: string;
  phase: string;
  eventsDone: number;
  total: number | null;
  error: string | null;
}

type Print = (human: string, json: unknown) => void;

async function run(argv: string[], out: Print): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      json: { type: 'boolean', default: false },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      group: { type: 'string' },
      follow: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    if (!command && !values.help) throw new CliError('', 2);
    return;
  }
  const baseUrl = values.url ?? process.env.SAGA_URL ?? 'http://localhost:3000';
  let token = process.env.SAGA_TOKEN;
  if (values.email !== undefined || values.password !== undefined) {
    if (!values.email || !values.password) throw usage('--email and --password go together');
    token = (await api(baseUrl, undefined).request<{ token: string }>('POST', '/api/auth/login', { email: values.email, password: values.password })).token;
  }
  if (!token) throw usage('sign in with --email and --password, or set SAGA_TOKEN');
  const http = api(baseUrl, token);
  const limit = integer(values.limit, 'limit');
  const arg = (name: string) => {
    const value = args[0];
    if (!value) throw usage(`${command} needs <${name}>`);
    return value;
  };

  switch (command) {
    case 'sagas': {
      const page = await http.request<{ items: SagaView[]; nextCursor: string | null }>(
        'GET',
        `/api/sagas${query({ status: values.status, limit, cursor: values.cursor })}`,
      );
      const rows = page.items.map((s) => `${s.orderId.padEnd(38)} ${s.status.padEnd(10)} ${s.state.padEnd(24)} ${s.startedAt}${s.flags.length ? ` [${s.flags.join(',')}]` : ''}`);
      out([...rows, page.nextCursor ? `more: --cursor ${page.nextCursor}` : `${page.items.length} saga(s)`].join('\n'), page);
      return;
    }
    case 'saga': {
      const saga = await http.request<SagaView>('GET', `/api/sagas/${encodeURIComponent(arg('orderId'))}`);
      const steps = saga.steps.map((s) => `  ${s.state.padEnd(28)} ${s.durationMs === null ? '…' : `${s.durationMs} ms`}`);
      out([`${saga.orderId}: ${saga.status} (${saga.state})${saga.flags.length ? ` flags ${saga.flags.join(',')}` : ''}`, ...steps].join('\n'), saga);
      return;
    }
    case 'log': {
      // Positions are opaque cursors the server hands out: passed back unchanged, never computed.
      let page_ = { from: values.from, after: undefined as string | undefined };
      for (;;) {
        const page = await http.request<{ events: LogEvent[]; head: string | null; next: string | null }>(
          'GET',
          `/api/log${query({ from: page_.from, after: page_.after, limit })}`,
        );
        for (const e of page.events) out(`${e.position.padStart(10)}  ${e.metadata.occurredAt}  ${e.type.padEnd(28)} ${e.streamId}@${e.revision}`, e);
        if (page.next !== null) page_ = { from: page.next, after: undefined };
        else if (!values.follow) return;
        else {
          const last = page.events[page.events.length - 1]?.position ?? page_.after ?? page.head ?? undefined;
          page_ = { from: undefined, after: last };
          await sleep(1000);
        }
      }
    }
    case 'projections': {
      const { items } = await http.request<{ items: { name: string; status: string; position: number; headPosition: number; lag: number; documents: number }[] }>(
        'GET',
        '/api/projections',
      );
      out(items.map((p) => `${p.name.padEnd(12)} ${p.status.padEnd(11)} position ${p.position}/${p.headPosition}  lag ${p.lag}  ${p.documents} docs`).join('\n'), { items });
      return;
    }
    case 'rebuild': {
      const name = arg('projection');
      let progress = await http.request<Progress>('POST', `/api/projections/${encodeURIComponent(name)}/rebuild`);
      const bar = values.json || !process.stderr.isTTY ? undefined : new cliProgress.SingleBar({ format: `${name} {bar} {value}/{total} events {phase}`, stream: process.stderr }, cliProgress.Presets.shades_classic);
      bar?.start(Math.max(progress.total ?? progress.eventsDone, 1), progress.eventsDone, { phase: progress.phase });
      while (progress.phase !== 'done' && progress.phase !== 'failed') {
        await sleep(200);
        const { items } = await http.request<{ items: { name: string; rebuild: Progress | null }[] }>('GET', '/api/projections');
        progress = items.find((p) => p.name === name)?.rebuild ?? progress;
        bar?.setTotal(Math.max(progress.total ?? progress.eventsDone, 1));
        bar?.update(progress.eventsDone, { phase: progress.phase });
      }
      bar?.stop();
      if (progress.phase === 'failed') throw new CliError(`rebuild of ${name} failed: ${progress.error ?? 'unknown error'}`, 1);
      out(`rebuilt ${name}: ${progress.eventsDone} events`, progress);
      return;
    }
    case 'republish': {
      if (!values.group) throw usage('republish needs --group');
      const fromPosition = values.from;
      if (fromPosition === undefined) throw usage('republish needs --from');
      const result = await http.request<{ topic: string; published: number; fromPosition: string; toPosition: string }>('POST', '/api/replay', {
        groupId: values.group,
        fromPosition,
        ...(values.to === undefined ? {} : { toPosition: values.to }),
      });
      out(`published ${result.published} event(s) ${result.fromPosition}..${result.toPosition} to ${result.topic}`, result);
      return;
    }
    case 'dead-letters': {
      const page = await http.request<{ items: { id: string; topic: string; group: string | null; orderId: string | null; reason: string; attempts: number; lastFailedAt: string }[]; nextCursor: string | null }>(
        'GET',
        `/api/dead-letters${query({ limit, cursor: values.cursor })}`,
      );
      const rows = page.items.map((d) => `${d.id.padEnd(24)} ${d.topic.padEnd(20)} ${(d.group ?? '-').padEnd(20)} ${String(d.orderId ?? '-').padEnd(38)} x${d.attempts} ${d.lastFailedAt}  ${d.reason}`);
      out([...rows, page.nextCursor ? `more: --cursor ${page.nextCursor}` : `${page.items.length} dead letter(s)`].join('\n'), page);
      return;
    }
    case 'retry': {
      const id = arg('deadLetterId');
      const result = await http.request<unknown>('POST', `/api/dead-letters/${encodeURIComponent(id)}/retry`);
      out(`dead letter ${id} queued for retry`, result ?? { id, retried: true });
      return;
    }
    default:
      throw usage(`unknown command ${command}`);
  }
}

const json = process.argv.includes('--json');
run(process.argv.slice(2), (human, data) => console.log(json ? JSON.stringify(data) : human)).catch((err: unknown) => {
  if (err instanceof CliError) {
    if (err.message) console.error(`saga: ${err.message}`);
    process.exit(err.code);
  }
  if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
    console.error(`saga: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
