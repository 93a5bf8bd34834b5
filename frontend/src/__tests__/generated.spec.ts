/**
 * `src/generated/api.ts` is what openapi-typescript makes of `src/generated/openapi.json` (which the
 * Rust test `server/api/tests/openapi_generated.rs` keeps equal to the server's document): a JSON
 * regenerated without the types, or types edited by hand, fail here. `make openapi` writes both.
 */
import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';

const root = join(__dirname, '..', '..');
const generated = join(root, 'src', 'generated');

describe('the generated API types', () => {
  it('are openapi-typescript’s output for the committed document', () => {
    const cli = join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
    const fresh = execFileSync(process.execPath, [cli, join(generated, 'openapi.json')], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    });
    const kept = readFileSync(join(generated, 'api.ts'), 'utf8');
    // `toBe` would print 2,500 lines; say where they part and what to run.
    const freshLines = fresh.split('\n');
    const keptLines = kept.split('\n');
    const first = freshLines.findIndex((line, i) => line !== keptLines[i]);
    const stale =
      first >= 0 || freshLines.length !== keptLines.length
        ? `src/generated/api.ts is stale (from line ${first + 1}): run \`make openapi\``
        : null;
    expect(stale).toBeNull();
  });

  it('describe the schedule preview the dialog asks for', () => {
    const document = JSON.parse(readFileSync(join(generated, 'openapi.json'), 'utf8'));
    expect(document.paths['/api/schedules/preview'].post).toBeDefined();
  });
});
