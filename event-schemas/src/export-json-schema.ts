/** `npm run schemas`: writes the event and command catalog as JSON Schema (draft 2020-12) for other clients. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { eventCatalog } from './catalog';
import { commandCatalog, CommandEnvelope } from './commands';
import { EventMetadata } from './envelope';
import { PlaceOrderRequest } from './order';
import { AddProductRequest, RestockRequest } from './inventory';

export function catalogAsJsonSchema() {
  const toJson = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Order saga system: event and command catalog',
    events: Object.fromEntries(
      Object.entries(eventCatalog).map(([type, entry]) => [
        type,
        { category: entry.category, schemaVersion: entry.version, data: toJson(entry.schema) },
      ]),
    ),
    eventMetadata: toJson(EventMetadata),
    commands: Object.fromEntries(
      Object.entries(commandCatalog).map(([type, entry]) => [type, { topic: entry.topic, data: toJson(entry.schema) }]),
    ),
    commandEnvelope: toJson(CommandEnvelope),
    requests: {
      PlaceOrder: toJson(PlaceOrderRequest),
      AddProduct: toJson(AddProductRequest),
      Restock: toJson(RestockRequest),
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'json-schema', 'catalog.schema.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(catalogAsJsonSchema(), null, 2) + '\n');
  console.log(`wrote ${Object.keys(eventCatalog).length} event and ${Object.keys(commandCatalog).length} command schemas to ${out}`);
}
