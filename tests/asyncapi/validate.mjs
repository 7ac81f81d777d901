// Parse an AsyncAPI document with the official parser; print its diagnostics as JSON lines.
// Used by tests/unit/test_asyncapi_parser.py. Severity: 0 error, 1 warning, 2 info, 3 hint.
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, 'utf8'));
for (const d of diagnostics) {
  console.log(JSON.stringify({ code: d.code, severity: d.severity, message: d.message, path: d.path }));
}
console.log(JSON.stringify({ parsed: document !== undefined }));
