/** `npm run openapi`: regenerates app/openapi.json from the routes' zod schemas. */
import { writeFileSync } from 'node:fs';
import { openApiFile, openApiText } from './openapi';

writeFileSync(openApiFile, openApiText());
console.log(`wrote ${openApiFile}`);
