import { useResource } from '../hooks';
import { Empty, PageHeader, ProblemBox, Spinner } from '../components/ui';

/** The parts of the OpenAPI document this page shows. */
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  responses: Record<string, { description?: string }>;
}
interface Document {
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

async function loadDocument(): Promise<Document> {
  const res = await fetch('/api/openapi.json');
  if (!res.ok) throw new Error(`GET /api/openapi.json: ${res.status}`);
  return (await res.json()) as Document;
}

/** The API reference, read from the OpenAPI document the server generates from its zod schemas. */
export function ApiReferencePage() {
  const doc = useResource(loadDocument, []);
  const operations = Object.entries(doc.data?.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ path, method, op: item[method]! })),
  );
  const tags = [...new Set(operations.map((o) => o.op.tags?.[0] ?? 'other'))];

  return (
    <div>
      <PageHeader title="API reference">{doc.loading ? <Spinner label="Loading the OpenAPI document" /> : null}</PageHeader>
      <p className="muted">
        {doc.data ? `${doc.data.info.title} ${doc.data.info.version}. ` : ''}
        The machine-readable contract is <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1); errors are{' '}
        <code>application/problem+json</code>. Sign in with <code>POST /api/auth/login</code> and send <code>Authorization: Bearer &lt;token&gt;</code>.
      </p>
      <ProblemBox error={doc.error} onRetry={doc.reload} />
      {doc.data && operations.length === 0 ? <Empty>The document lists no operations.</Empty> : null}
      {tags.map((tag) => (
        <section key={tag} className="card" data-testid={`api-tag-${tag}`}>
          <h2>{tag}</h2>
          {operations
            .filter((o) => (o.op.tags?.[0] ?? 'other') === tag)
            .map(({ path, method, op }) => (
              <details key={`${method} ${path}`} data-testid={`api-op-${op.operationId ?? `${method}-${path}`}`}>
                <summary>
                  <code>
                    {method.toUpperCase()} {path}
                  </code>{' '}
                  {op.summary}
                  {op.security && op.security.length > 0 ? <span className="muted small"> · token</span> : null}
                </summary>
                {op.description ? <p>{op.description.split('\n').map((line, i) => (<span key={i}>{line}<br /></span>))}</p> : null}
                <ul>
                  {Object.entries(op.responses).map(([status, response]) => (
                    <li key={status}>
                      <code>{status}</code> {response.description}
                    </li>
                  ))}
                </ul>
              </details>
            ))}
        </section>
      ))}
    </div>
  );
}
